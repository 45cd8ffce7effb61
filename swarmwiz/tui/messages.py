"""Messages that workers post to screens: past-tense names, plain data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message

from swarmwiz.core.events import Event


@dataclass
class EventsArrived(Message):
    """A batch of pipeline events (many log lines at once: the UI is updated once per batch)."""

    events: list[Event]


@dataclass
class RunFinished(Message):
    """A pipeline run (plan, deploy, destroy) ended; `result` is the generator's return value."""

    kind: str
    result: Any
    cancelled: bool = False
