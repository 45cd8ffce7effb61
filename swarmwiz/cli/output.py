"""Line and live rendering of pipeline events for the command line (plain lines when piped)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Generator, Sequence
from typing import Any, TextIO

from swarmwiz.core import events as ev


class Output:
    """Renders pipeline events: a live phase line on a terminal, plain lines when piped."""

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self._phase: ev.Phase | None = None
        self._phase_started = 0.0
        self._progress = ""
        self._lock = threading.Lock()

    # -- event stream ------------------------------------------------------------------------------------------
    def run(self, gen: Generator[ev.Event, None, Any]) -> Any:
        """Render every event of `gen` and return the generator's return value.

        On a terminal a ticker redraws the phase line every second, so the elapsed time moves during long waits.
        """
        stop = threading.Event()
        ticker = threading.Thread(target=self._tick, args=(stop,), daemon=True) if self.live else None
        if ticker:
            ticker.start()
        try:
            while True:
                try:
                    event = next(gen)
                except StopIteration as done:
                    return done.value
                with self._lock:
                    self.event(event)
        finally:
            stop.set()
            if ticker:
                ticker.join()
            self._clear_live()

    def _tick(self, stop: threading.Event) -> None:
        while not stop.wait(1.0):
            with self._lock:
                self._render_live()

    def event(self, event: ev.Event) -> None:
        if isinstance(event, ev.PhaseStarted):
            self._phase, self._phase_started, self._progress = event.phase, time.monotonic(), ""
            if not self.live:
                self.line(f"==> {event.phase.label}")
            self._render_live()
        elif isinstance(event, ev.PhaseProgress):
            self._progress = f"{event.done}/{event.total} {event.message}".strip()
            if self.live:
                self._render_live()
            elif event.message != "resources":  # resource progress is already one line per resource
                self.line(f"    {event.phase.value}: {self._progress}")
        elif isinstance(event, ev.PhaseFinished):
            elapsed = time.monotonic() - self._phase_started if self._phase == event.phase else 0.0
            mark = "skipped" if event.skipped else ("ok" if event.ok else "FAILED")
            detail = f" - {event.message}" if event.message else ""
            self._clear_live()
            self.line(
                f"{'✓' if event.ok else '✗'} {event.phase.label} {mark} ({elapsed:.1f}s){detail}"
                if self.live
                else f"<== {event.phase.label} {mark} ({elapsed:.1f}s){detail}"
            )
            self._phase = None
        elif isinstance(event, ev.ResourceChanged):
            if event.state in ("done", "failed") and not self.live:
                took = f" after {event.elapsed_s:.0f}s" if event.elapsed_s is not None else ""
                self.line(f"    {event.address}: {event.action} {event.state}{took}")
            elif event.state == "failed":
                self._clear_live()
                self.line(f"    {event.address}: {event.action} failed")
        elif isinstance(event, ev.LogLine):
            if event.level == "error" or not self.live:
                self._clear_live()
                self.line(f"    {event.text}")
                self._render_live()
        elif isinstance(event, ev.PlanSummary):
            self._clear_live()
            self.plan(event)
            self._render_live()
        elif isinstance(event, ev.Notice):
            self._clear_live()
            self.line(f"note: {event.message}")
            self._render_live()

    def _render_live(self) -> None:
        if not self.live or self._phase is None:
            return
        elapsed = time.monotonic() - self._phase_started
        text = f"… {self._phase.label} [{elapsed:4.0f}s] {self._progress}"
        self.stream.write("\r\x1b[2K" + text[:200])
        self.stream.flush()

    def _clear_live(self) -> None:
        if self.live:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()

    # -- blocks --------------------------------------------------------------------------------------------------
    def line(self, text: str = "") -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def ask(self, prompt: str) -> str:
        self._clear_live()
        self.stream.write(prompt)
        self.stream.flush()
        return sys.stdin.readline()

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
        for row in [headers, *rows]:
            self.line("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip())

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
