"""Messages that workers and screens post: past-tense names, plain data (screens tell the App; they never set it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from swarmwiz.core.events import Event
    from swarmwiz.tui.bridge import EventFeed


@dataclass
class EventsArrived(Message):
    """Pipeline events are waiting in `feed`: one message stands for every event queued before it is handled."""

    feed: EventFeed

    def take(self) -> list[Event]:
        return self.feed.take()


@dataclass
class RunFinished(Message):
    """A pipeline run (plan, deploy, destroy) ended; `result` is the generator's return value.

    `stopped` is a stop the user asked for (the pipeline raised Interrupted): not an error, `reason` says where.
    """

    kind: str
    result: Any
    stopped: bool = False
    reason: str = ""


@dataclass
class RunStarted(Message):
    """A deploy or teardown began (sent to the App, so that quitting first stops `pipeline` safely)."""

    pipeline: Any


@dataclass
class RunEnded(Message):
    """The run announced by RunStarted is over (a quit that waited for it can happen now)."""


@dataclass
class CatalogLoaded(Message):
    """A step loaded the instance-type catalogue; the App keeps it for the following steps."""

    catalog: Any
