"""Rendering of pipeline events for the command line: a rich live view on a terminal, plain lines when piped."""

from __future__ import annotations

import contextlib
import sys
import time
from collections import Counter
from collections.abc import Generator, Sequence
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from swarmwiz.core import events as ev


class Output:
    """Renders pipeline events: a live rich view (phase, progress bar, one row per node) on a terminal, plain
    lines when piped (the `<== LABEL MARK (Ns)` lines benchmarks/lab.py parses). NO_COLOR is honoured by rich."""

    def __init__(
        self, stream: TextIO | None = None, *, live: bool | None = None, console: Console | None = None
    ) -> None:
        self.console = console or Console(file=stream or sys.stdout, highlight=False, soft_wrap=True)
        self.stream = self.console.file
        self.live = self.console.is_terminal if live is None else live
        # The running phases (a deploy's SSH, cloud-init and swarm phases overlap, node by node): when each started
        # and its latest progress; the live view shows one line per running phase.
        self._running: dict[ev.Phase, float] = {}
        self._progress: dict[ev.Phase, tuple[int, int, str]] = {}
        self._nodes: dict[str, tuple[str, str]] = {}  # node -> (phase label, what happened)
        self._live: Live | None = None

    # -- event stream ------------------------------------------------------------------------------------------
    def run(self, gen: Generator[ev.Event, None, Any]) -> Any:
        """Render every event of `gen` and return the generator's return value.

        On a terminal rich's Live refreshes the view four times a second, so elapsed time moves during long waits.
        """
        if self.live:
            self._live = Live(get_renderable=self.renderable, console=self.console, refresh_per_second=4)
            self._live.start()
        try:
            return ev.drain(gen, self.event)
        finally:
            if self._live is not None:
                self._running.clear()
                self._live.stop()
                self._live = None

    def renderable(self):
        """The live view: each running phase with its progress bar and elapsed time, then one row per node."""
        if not self._running:
            return Text("")
        head = Table.grid(padding=(0, 1))
        for phase, started in self._running.items():
            elapsed = time.monotonic() - started
            done, total, message = self._progress.get(phase, (0, 0, ""))
            bar = ProgressBar(total=total or None, completed=done, width=30)
            count = f"{done}/{total}" if total else ""
            head.add_row(Text(f"… {phase.label}", style="bold"), bar, count, f"{elapsed:4.0f}s", escape(message))
        if not self._nodes:
            return head
        nodes = Table(box=None, padding=(0, 2), show_edge=False)
        nodes.add_column("NODE")
        nodes.add_column("PHASE")
        nodes.add_column("STATE")
        names = sorted(self._nodes, key=ev.node_order)
        # A hundred nodes must not run past the terminal: the rows that fit, then what the others reached.
        room = max(3, self.console.height - len(self._running) - 3)
        shown, rest = (names, []) if len(names) <= room else (names[: room - 1], names[room - 1 :])
        for name in shown:
            label, what = self._nodes[name]
            nodes.add_row(name, label, what)
        if rest:
            states = Counter(self._nodes[name][1] for name in rest)
            summary = ", ".join(f"{count} {state}" for state, count in states.most_common())
            nodes.add_row(f"… {len(rest)} more", "", summary, style="dim")
        return Group(head, nodes)

    def event(self, event: ev.Event) -> None:
        if isinstance(event, ev.PhaseStarted):
            self._running[event.phase] = time.monotonic()
            self._progress.pop(event.phase, None)
            if not self.live:
                self.line(f"==> {event.phase.label}")
        elif isinstance(event, ev.PhaseProgress):
            self._progress[event.phase] = (event.done, event.total, event.message)
            for name in event.nodes:  # per-node progress: the nodes it names, each now at `state`
                self._nodes[name] = (event.phase.label, event.state)
            if not self.live and event.message != "resources":  # resource progress is one line per resource
                self.line(f"    {event.phase.value}: {event.done}/{event.total} {event.message}".rstrip())
        elif isinstance(event, ev.PhaseFinished):
            started = self._running.pop(event.phase, None)
            elapsed = time.monotonic() - started if started is not None else 0.0
            mark = "skipped" if event.skipped else ("ok" if event.ok else "FAILED")
            detail = f" - {event.message}" if event.message else ""
            if self.live:
                style = "green" if event.ok else "bold red"
                self.console.print(
                    f"[{style}]{'✓' if event.ok else '✗'}[/] {escape(event.phase.label)} {mark} ({elapsed:.1f}s)"
                    + escape(detail)
                )
            else:
                self.line(f"<== {event.phase.label} {mark} ({elapsed:.1f}s){detail}")
        elif isinstance(event, ev.ResourceChanged):
            if event.state in ("done", "failed") and not self.live:
                took = f" after {event.elapsed_s:.0f}s" if event.elapsed_s is not None else ""
                self.line(f"    {event.address}: {event.action} {event.state}{took}")
            elif event.state == "failed":
                self.line(f"    {event.address}: {event.action} failed")
        elif isinstance(event, ev.LogLine):
            if event.level == "error" or not self.live:
                self.line(f"    {event.text}")
        elif isinstance(event, ev.PlanSummary):
            self.plan(event)
        elif isinstance(event, ev.Notice):
            self.line(f"note: {event.message}")

    # -- blocks --------------------------------------------------------------------------------------------------
    def line(self, text: str = "") -> None:
        """One line of text, printed above the live view on a terminal; never read as markup."""
        if self.live:
            self.console.print(text, markup=False, highlight=False)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    @contextlib.contextmanager
    def paused(self):
        """While another library asks a question (questionary): the live view does not redraw over it."""
        live = self._live
        if live is not None:
            live.stop()
        try:
            yield
        finally:
            if live is not None and self._live is live:
                live.start()

    def ask(self, prompt: str) -> str:
        if self._live is not None:  # a question must not be redrawn over
            self._live.stop()
        self.stream.write(prompt)
        self.stream.flush()
        answer = sys.stdin.readline()
        if self._live is not None:
            self._live.start()
        return answer

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """A table: columns aligned by rich, no box, so piped output stays one record a line (grep, awk)."""
        table = Table(box=None, padding=(0, 2, 0, 0), show_edge=False, header_style="bold" if self.live else "")
        for header in headers:
            table.add_column(str(header), no_wrap=not self.live, overflow="fold")
        for row in rows:
            table.add_row(*(escape(str(cell)) for cell in row))
        if self.live:
            self.console.print(table)
        else:  # piped: no width limit, so a long ID is never cut or wrapped
            wide = Console(file=self.stream, width=10_000, no_color=True, highlight=False, color_system=None)
            with wide.capture() as cap:
                wide.print(table)
            for text in cap.get().splitlines():
                self.line(text.rstrip())

    def cost(self, estimate) -> None:
        self.line(f"Estimated monthly cost (EUR, {estimate.source}):")
        self.table(["ITEM", "COUNT", "EACH", "MONTHLY"], estimate.as_table())

    def plan(self, summary: ev.PlanSummary) -> None:
        self.line(f"Plan: {summary.add} to add, {summary.change} to change, {summary.destroy} to destroy.")
        if summary.by_type:
            rows = [
                [t, str(c.get("add", 0)), str(c.get("change", 0)), str(c.get("destroy", 0))]
                for t, c in sorted(summary.by_type.items())
            ]
            self.table(["RESOURCE TYPE", "ADD", "CHANGE", "DESTROY"], rows)

    def status(self, status) -> None:
        self.line(f"Cluster {status.cluster}:")
        self.table(
            [
                "HOSTNAME",
                "ROLE",
                "STATUS",
                "AVAILABILITY",
                "MANAGER STATUS",
                "ENGINE",
                "ZONE",
                "PUBLIC IP",
                "PRIVATE IP",
            ],
            [
                [
                    n.hostname,
                    n.role,
                    n.status,
                    n.availability,
                    n.manager_status or "-",
                    n.engine_version or "-",
                    n.zone or "-",
                    n.public_ip or "-",
                    n.private_ip or "-",
                ]
                for n in status.nodes
            ],
        )
        self.line(status.health_line())
        if status.dns:
            self.line("DNS records:")
            self.table(["NAME", "TYPE", "CONTENT"], [[r.name, r.type, r.content] for r in status.dns])

    def access(self, hints: list[str]) -> None:
        if hints:
            self.line("Reach the cluster:")
            for hint in hints:
                self.line(f"  {hint}")

    def inventory(self, items) -> None:
        self.line(f"These {len(items)} resources will be deleted:")
        self.table(["KIND", "NAME", "DETAIL", "ID"], [[i.kind, i.name, i.detail or "-", i.id or "-"] for i in items])

    def leftovers(self, report) -> None:
        if report.clean:
            self.line(f"Checked through the APIs: nothing of cluster {report.cluster} remains.")
        else:
            self.line(f"Still present after destroy ({len(report.leftovers)}):")
            for item in report.leftovers:
                self.line(f"  {item}")

    def lab_status(self, status: dict) -> None:
        servers = status.get("servers", [])
        self.line(f"Lab API: {status.get('api_url') or 'not running'}")
        self.table(
            ["SERVER", "ZONE", "STATE", "PUBLIC IP", "PRIVATE IP"],
            [
                [
                    s.get("name", ""),
                    s.get("zone", ""),
                    s.get("state", ""),
                    s.get("public_ip") or "-",
                    s.get("private_ip") or "-",
                ]
                for s in servers
            ],
        )
        records = status.get("dns_records", [])
        if records:
            self.line("DNS records:")
            self.table(
                ["NAME", "TYPE", "CONTENT"],
                [[r.get("name", ""), r.get("type", ""), r.get("content", "")] for r in records],
            )
