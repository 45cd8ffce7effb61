"""A checklist of pipeline phases: pending, running (with progress), done, skipped or failed."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from swarmwiz.core.events import Phase

MARKS = {
    "pending": ("·", "dim"),
    "running": ("▶", "bold yellow"),
    "done": ("✓", "green"),
    "skipped": ("–", "dim"),
    "failed": ("✗", "bold red"),
    "stopped": ("■", "yellow"),
}


class PhaseList(Static):
    """Shows `phases` in order; call `set_state` as events arrive, then it redraws once per batch."""

    def __init__(self, phases: list[Phase], **kwargs) -> None:
        super().__init__("", **kwargs)
        self.phases = list(phases)
        self.states: dict[Phase, str] = {p: "pending" for p in phases}
        self.details: dict[Phase, str] = {}
        self._dirty = True

    def on_mount(self) -> None:
        self.redraw()

    def set_state(self, phase: Phase, state: str, detail: str | None = None) -> None:
        if phase not in self.states:
            # A phase the list did not expect: insert it in pipeline order, so the list still reads top-down.
            order = list(Phase)
            self.phases = sorted([*self.phases, phase], key=order.index)
        if self.states.get(phase) != state or (detail is not None and self.details.get(phase) != detail):
            self._dirty = True
        self.states[phase] = state
        if detail is not None:
            self.details[phase] = detail

    def stop_running(self, state: str = "stopped") -> None:
        for phase, current in self.states.items():
            if current == "running":
                self.states[phase] = state
                self._dirty = True

    def redraw(self) -> None:
        """Redraw when a state or detail changed since the last redraw (a log batch alone changes nothing here)."""
        if not self._dirty:
            return
        self._dirty = False
        text = Text()
        for i, phase in enumerate(self.phases):
            mark, style = MARKS[self.states[phase]]
            if i:
                text.append("\n")
            text.append(f"{mark} ", style)
            text.append(phase.label, style if self.states[phase] != "pending" else "dim")
            detail = self.details.get(phase)
            if detail:
                text.append(f" {detail}", "dim")
        self.update(text)
