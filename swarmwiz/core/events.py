"""Typed events emitted by the deploy/destroy pipeline; the CLI and the TUI render the same stream."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

R = TypeVar("R")


class Phase(StrEnum):
    """Pipeline phases in the order a deploy runs them."""

    CREDENTIALS = "credentials"
    INIT = "init"
    PLAN = "plan"
    APPLY = "apply"
    SSH = "ssh"
    CLOUD_INIT = "cloud-init"
    SWARM = "swarm"
    DNS = "dns"
    STATUS = "status"
    DRAIN = "drain"
    DESTROY = "destroy"
    VERIFY = "verify"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Phase.CREDENTIALS: "Check credentials",
    Phase.INIT: "Terraform init",
    Phase.PLAN: "Terraform plan",
    Phase.APPLY: "Terraform apply",
    Phase.SSH: "Wait for SSH",
    Phase.CLOUD_INIT: "Wait for cloud-init",
    Phase.SWARM: "Bootstrap swarm",
    Phase.DNS: "Check DNS records",
    Phase.STATUS: "Read status",
    Phase.DRAIN: "Drain removed nodes",
    Phase.DESTROY: "Terraform destroy",
    Phase.VERIFY: "Check nothing remains",
}


@dataclass(frozen=True)
class Event:
    """Base of every pipeline event; `at` is a monotonic timestamp."""

    at: float = field(default_factory=time.monotonic, kw_only=True)


@dataclass(frozen=True)
class PhaseStarted(Event):
    phase: Phase


@dataclass(frozen=True)
class PhaseProgress(Event):
    """Progress inside a phase: `done` of `total` units (resources, nodes), with a short description.

    Per-node progress also says it as data: `nodes` names the nodes this progress is about, each of which is now at
    `state` ("answers", "has Docker", "in the swarm", "removed"); both are empty for phase-wide progress. Frontends
    read these fields, never the message, which is for people and logs.
    """

    phase: Phase
    done: int
    total: int
    message: str = ""
    nodes: tuple[str, ...] = ()
    state: str = ""

    @classmethod
    def of_nodes(cls, phase: Phase, done: int, total: int, nodes: Iterable[str], state: str) -> PhaseProgress:
        """`nodes` reached `state`; the message says so ("node-1, node-2 removed")."""
        names = tuple(nodes)
        return cls(phase, done, total, f"{', '.join(names)} {state}", nodes=names, state=state)


def node_order(name: str) -> tuple:
    """Sort key that puts node-2 before node-10 (names are a cluster prefix, a role and a number)."""
    return tuple((1, int(part), "") if part.isdigit() else (0, 0, part) for part in re.split(r"(\d+)", name))


@dataclass(frozen=True)
class PhaseFinished(Event):
    phase: Phase
    ok: bool = True
    message: str = ""
    skipped: bool = False


@dataclass(frozen=True)
class LogLine(Event):
    """One raw line of output (terraform, ssh) belonging to a phase."""

    phase: Phase
    text: str
    level: str = "info"

    def __init__(self, phase: Phase, text: str, level: str = "info", *, at: float | None = None) -> None:
        # The one event made per line of a flood: the generated frozen __init__ (object.__setattr__ per field and
        # a default factory) cost twice this. Same fields, same immutability afterwards.
        fields = self.__dict__
        fields["phase"], fields["text"], fields["level"] = phase, text, level
        fields["at"] = time.monotonic() if at is None else at


@dataclass(frozen=True)
class ResourceChanged(Event):
    """A Terraform resource's lifecycle step: planned, started, progress (every 10 s while running), done or failed."""

    phase: Phase
    address: str
    resource_type: str
    action: str  # create | update | delete | replace | read | noop
    state: str  # planned | started | progress (still running, see elapsed_s) | done | failed
    elapsed_s: float | None = None
    id_value: str | None = None


@dataclass(frozen=True)
class PlanSummary(Event):
    """The plan's counts in total and per resource type: {type: {"add": n, "change": n, "destroy": n}}."""

    add: int
    change: int
    destroy: int
    by_type: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.add == 0 and self.change == 0 and self.destroy == 0


@dataclass(frozen=True)
class Notice(Event):
    """Something the user should know that does not stop the run (even manager count, skipped work)."""

    phase: Phase
    message: str


def tap(gen: Generator[Event, None, R], each: Callable[[Event], object]) -> Generator[Event, None, R]:
    """Yield `gen`'s events unchanged, calling `each` on every one first, and return `gen`'s return value."""
    while True:
        try:
            event = next(gen)
        except StopIteration as done:
            return done.value
        each(event)
        yield event


def drain(gen: Generator[Event, None, R], each: Callable[[Event], object]) -> R:
    """Run `gen` to its end, calling `each` on every event, and return `gen`'s return value."""
    events = tap(gen, each)
    while True:
        try:
            next(events)
        except StopIteration as done:
            return done.value
