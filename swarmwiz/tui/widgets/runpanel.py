"""The live view of a pipeline run: phase checklist, per-resource and per-node tables, raw log with a phase filter,
elapsed time."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable

from rich.cells import cell_len
from rich.control import strip_control_codes
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.geometry import Region
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import DataTable, Label, Log, Select

from swarmwiz.core.events import (
    Event,
    LogLine,
    Notice,
    Phase,
    PhaseFinished,
    PhaseProgress,
    PhaseStarted,
    ResourceChanged,
)
from swarmwiz.tui.widgets.nodes import NodeTable
from swarmwiz.tui.widgets.phases import PhaseList

STATE_STYLE = {"planned": "dim", "started": "yellow", "done": "green", "failed": "bold red"}
LOG_LINES = 20_000


def elapsed_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _resource_line(event: ResourceChanged) -> str:
    """A resource step as Terraform's human output says it (the -json stream has no such line)."""
    took = f" after {event.elapsed_s:.0f}s" if event.elapsed_s is not None else ""
    ident = f" [id={event.id_value}]" if event.id_value else ""
    what = {
        "started": f"{event.action} started",
        "done": f"{event.action} complete{took}{ident}",
        "failed": f"{event.action} FAILED{took}",
        "progress": f"{event.action} still running ({event.elapsed_s or 0:.0f}s elapsed)",
    }.get(event.state, f"{event.action} {event.state}")
    return f"{event.address}: {what}"


class RunLog(Log):
    """Textual's `Log`, made cheap per line for floods of raw output (a frame's work no longer grows with them).

    - `Log.write_lines` starts a thread worker per call to measure the new lines; in a flood that costs more than
      the writing itself (the worker's description is the repr of every line, and the measuring thread competes
      for the GIL with the UI). Log lines are mostly ASCII, so the longest line by length is measured with
      cell_len and its width taken (a wide character elsewhere can at worst leave the last columns to scroll).
    - A batch longer than `max_lines` is cut to its last `max_lines` before it is written (the rest would be
      pruned at once), and new lines are not refreshed one by one: writing always refreshes the whole pane.
    - Painting: the pane's style is looked up once per frame, not once per line, and a line without a selection
      becomes one segment directly (what `Text(...).render()` gives for a line in one style).
    """

    _frame_style: Style | None = None  # the pane's style while a frame is being rendered

    def write_lines(self, lines: Iterable[str], scroll_end: bool | None = None) -> RunLog:
        if self.max_lines is not None:
            lines = list(lines)
            if len(lines) > self.max_lines:  # lines holding line breaks could make more: Log still prunes those
                lines = lines[-self.max_lines :]
        super().write_lines(lines, scroll_end)
        return self

    def refresh_lines(self, y_start: int, line_count: int = 1) -> None:
        # Log forgets each line's cached render, one by one; only lines in a selection are cached: forget those.
        cache = self._render_line_cache
        for y in [y for y in cache.keys() if y_start <= y < y_start + line_count]:  # noqa: SIM118 - no __iter__
            cache.discard(y)
        if line_count > 1:
            self.refresh()  # the write that called this refreshes the whole pane (scroll or prune) anyway
        else:
            ScrollView.refresh_lines(self, y_start, line_count)

    def _update_size(self, updates: int, lines: list[str]) -> None:  # type: ignore[override]
        if lines:
            longest = max(lines, key=len)
            self._update_maximum_width(updates, cell_len(self._process_line(longest)))

    def render_lines(self, crop: Region) -> list[Strip]:
        self._frame_style = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._frame_style = None

    def _render_line(self, y: int, scroll_x: int, width: int) -> Strip:
        style = self._frame_style or self.rich_style
        if y >= len(self._lines):
            return Strip.blank(width, style)
        if self.text_selection is None and not self.highlight:
            text = strip_control_codes(self._process_line(self._lines[y]))
            if text.isascii() and text.isprintable():  # one cell per character: the visible part is a slice
                # What crop_extend and apply_offsets make of the line, as one strip instead of four (a strip is
                # seven caches; a flood repaints every visible line each frame, a scroll key too).
                visible = text[scroll_x : scroll_x + width]
                segments = [Segment(visible, style + Style.from_meta({"offset": (scroll_x, y)}))] if visible else []
                if len(visible) < width:
                    pad_at = {"offset": (scroll_x + len(visible), y)}
                    segments.append(Segment(" " * (width - len(visible)), style + Style.from_meta(pad_at)))
                return Strip(segments, width)
        strip = self._render_line_strip(y, style).crop_extend(scroll_x, scroll_x + width, style)
        return strip.apply_offsets(scroll_x, y)

    def _render_line_strip(self, y: int, rich_style: Style) -> Strip:
        if self.text_selection is not None or self.highlight:
            return super()._render_line_strip(y, rich_style)
        text = strip_control_codes(self._process_line(self._lines[y]))
        return Strip([Segment(text, rich_style)], cell_len(text))


class RunPanel(Vertical):
    """Fed with `feed(batch)`; keeps every log line so the phase filter can show any phase again."""

    def __init__(self, phases: list[Phase], *, clock: Callable[[], float] = time.monotonic, **kwargs) -> None:
        super().__init__(**kwargs)
        self.phases = phases
        self.clock = clock
        self.started_at = clock()
        self.finished_at: float | None = None
        # The last lines of every phase, for the phase filter; bounded like the Log itself, so a flood stays flat.
        self.lines: deque[tuple[Phase, str]] = deque(maxlen=LOG_LINES)
        self.filter: Phase | None = None  # None shows every phase
        self.applied = False  # Terraform's apply finished: its resource table has nothing more to show

    def compose(self) -> ComposeResult:
        with Horizontal(id="deploy-top"):
            yield PhaseList(self.phases, id="phases")
            yield DataTable(id="resources", cursor_type="row", zebra_stripes=True)
            yield NodeTable(id="node-table")
        with Horizontal(id="log-bar"):
            yield Label("Log")
            yield Select(
                [(p.label, p.value) for p in self.phases],
                prompt="All phases",
                id="log-filter",
                allow_blank=True,
                compact=True,
            )
            yield Label(f"elapsed {elapsed_text(0)}", id="elapsed")
        yield RunLog(id="log", max_lines=LOG_LINES)

    def on_mount(self) -> None:
        table = self.query_one("#resources", DataTable)
        table.add_column("Resource", key="address")
        table.add_column("State", key="state", width=16)  # fixed: states change width as they update
        table.add_column("Time", key="time", width=4)
        self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        end = self.finished_at if self.finished_at is not None else self.clock()
        # Without a layout: the label's size is set by its bar, and a layout of the whole screen each second cost
        # a key pressed at that moment 15-60 ms during a flood.
        self.query_one("#elapsed", Label).update(f"elapsed {elapsed_text(end - self.started_at)}", layout=False)

    def finish(self) -> None:
        self.finished_at = self.clock()
        self._tick()

    # -- events ---------------------------------------------------------------------------------------------------
    def feed(self, events: list[Event]) -> None:
        """Apply a batch of events: one redraw of the checklist and one write to the log per batch."""
        phases = self.query_one(PhaseList)
        table = self.query_one("#resources", DataTable)
        shown: list[str] = []
        nodes: dict[str, tuple[Phase, str]] = {}  # the batch's per-node progress, each node's latest
        for event in events:
            if isinstance(event, LogLine):
                self.lines.append((event.phase, event.text))
                if self.filter is None or self.filter is event.phase:
                    shown.append(event.text)
            elif isinstance(event, PhaseStarted):
                phases.set_state(event.phase, "running", "")
                self._note(event.phase, f"== {event.phase.label}", shown)
            elif isinstance(event, PhaseProgress):
                phases.set_state(event.phase, "running", f"{event.done}/{event.total}")
                NodeTable.collect(event, nodes)
            elif isinstance(event, PhaseFinished):
                state = "skipped" if event.skipped else ("done" if event.ok else "failed")
                phases.set_state(event.phase, state, "")
                self.applied = self.applied or (event.phase is Phase.APPLY and event.ok)
                if event.message:
                    self._note(event.phase, f"== {event.phase.label}: {event.message}", shown)
            elif isinstance(event, Notice):
                self._note(event.phase, f"!! {event.message}", shown)
            elif isinstance(event, ResourceChanged):
                self._resource(table, event)
                if event.state != "planned":
                    self._note(event.phase, _resource_line(event), shown)
        phases.redraw()
        if nodes:  # only when nodes progressed: a log flood costs the node table nothing
            self.query_one(NodeTable).show(nodes)
            # After the apply the nodes are what moves: they take the finished resource table's place (each
            # resource's outcome stays in the log); a scale-down's drain, before the apply, shows both.
            table.display = not self.applied
        if shown:
            self.query_one(Log).write_lines(shown)

    def _note(self, phase: Phase, text: str, shown: list[str]) -> None:
        self.lines.append((phase, text))
        if self.filter is None or self.filter is phase:
            shown.append(text)

    def _resource(self, table: DataTable, event: ResourceChanged) -> None:
        state = Text(f"{event.action} {event.state}", STATE_STYLE.get(event.state, ""))
        took = f"{event.elapsed_s:.0f}s" if event.elapsed_s is not None else ""
        if event.address in table.rows:
            table.update_cell(event.address, "state", state)
            table.update_cell(event.address, "time", took)
        else:
            table.add_row(event.address, state, took, key=event.address)

    def stopped(self, state: str = "stopped") -> None:
        phases = self.query_one(PhaseList)
        phases.stop_running(state)
        phases.redraw()
        self.finish()

    @on(Select.Changed, "#log-filter")
    def _filter_changed(self, event: Select.Changed) -> None:
        self.filter = None if event.value == Select.NULL else Phase(event.value)
        log = self.query_one(Log)
        log.clear()
        log.write_lines([text for phase, text in self.lines if self.filter is None or self.filter is phase])
