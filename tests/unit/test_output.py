"""The CLI's event rendering: plain lines when piped (what benchmarks/lab.py parses), a rich view on a terminal."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from io import StringIO

from rich.console import Console

from benchmarks.lab import PHASE_LINE
from swarmwiz.cli.output import Output
from swarmwiz.core import events as ev

EVENTS = textwrap.dedent(
    """
    from swarmwiz.cli.output import Output
    from swarmwiz.core import events as ev

    def gen():
        yield ev.PhaseStarted(ev.Phase.SSH)
        yield ev.PhaseProgress(ev.Phase.SSH, 0, 2, "waiting up to 300s for sshd")
        yield ev.PhaseProgress.of_nodes(ev.Phase.SSH, 1, 2, ["node-1"], "answers")
        yield ev.PhaseFinished(ev.Phase.SSH, message="2 nodes")
        yield ev.Notice(ev.Phase.SWARM, "[bold]not markup[/bold]")
        return 7

    out = Output()
    assert out.run(gen()) == 7
    out.table(["KIND", "ID"], [["server", "fr-par-1/" + "a" * 150]])
    """
)


def test_piped_output_is_plain_lines_the_benchmark_parses():
    proc = subprocess.run(
        [sys.executable, "-c", EVENTS], capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin"}
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "\x1b" not in proc.stdout  # no colour, no cursor movement in a pipe
    assert lines[0] == "==> Wait for SSH"
    assert "    ssh: 1/2 node-1 answers" in lines
    finished = [m for m in map(PHASE_LINE.match, lines) if m]
    assert [(m["label"], m["mark"]) for m in finished] == [("Wait for SSH", "ok")]
    assert "note: [bold]not markup[/bold]" in lines  # text is never read as rich markup
    assert lines[-2].split() == ["KIND", "ID"] and lines[-1].endswith("a" * 150)  # a long ID is never cut


def test_live_view_shows_the_phase_and_a_row_per_node():
    file = StringIO()
    out = Output(console=Console(file=file, force_terminal=True, width=100, color_system=None))
    assert out.live
    out.event(ev.PhaseStarted(ev.Phase.SSH))
    out.event(ev.PhaseProgress.of_nodes(ev.Phase.SSH, 1, 3, ["node-1"], "answers"))
    out.event(ev.PhaseProgress.of_nodes(ev.Phase.SSH, 2, 3, ["node-2"], "answers"))
    out.console.print(out.renderable())
    view = file.getvalue()
    assert "Wait for SSH" in view and "2/3" in view
    node_rows = [line for line in view.splitlines() if line.strip().startswith("node-")]
    assert [row.split()[0] for row in node_rows] == ["node-1", "node-2"]
    assert all("answers" in row for row in node_rows)
    out.event(ev.PhaseFinished(ev.Phase.SSH))
    assert "✓ Wait for SSH ok" in file.getvalue()


def test_a_hundred_nodes_fit_the_terminal_in_number_order():
    """Fifty or a hundred node rows used to run past the terminal, sorted node-10 before node-2."""
    file = StringIO()
    out = Output(console=Console(file=file, force_terminal=True, width=100, height=20, color_system=None))
    out.event(ev.PhaseStarted(ev.Phase.SWARM))
    names = [f"demo-worker-{i}" for i in range(1, 101)]
    out.event(ev.PhaseProgress.of_nodes(ev.Phase.SWARM, 0, 100, names, "waiting"))
    out.event(ev.PhaseProgress.of_nodes(ev.Phase.SWARM, 2, 100, names[:2], "in the swarm"))
    out.console.print(out.renderable())
    lines = file.getvalue().splitlines()
    assert len(lines) <= 20, len(lines)
    rows = [line.split()[0] for line in lines if line.strip().startswith("demo-worker-")]
    assert rows[:3] == ["demo-worker-1", "demo-worker-2", "demo-worker-3"]
    [more] = [line for line in lines if "more" in line]
    shown = len(rows)
    assert f"… {100 - shown} more" in more and f"{100 - shown} waiting" in more, more


def test_live_run_stops_the_view_and_returns_the_value():
    file = StringIO()
    out = Output(console=Console(file=file, force_terminal=True, width=80))

    def gen():
        yield ev.PhaseStarted(ev.Phase.DRAIN)
        yield ev.PhaseProgress.of_nodes(ev.Phase.DRAIN, 1, 1, ["w-1", "w-2"], "removed")
        yield ev.PhaseFinished(ev.Phase.DRAIN, ok=False, message="boom")
        return "done"

    assert out.run(gen()) == "done"
    assert out._live is None
    assert "Drain removed nodes FAILED" in file.getvalue()


def test_no_color_is_respected(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    file = StringIO()
    out = Output(console=Console(file=file, force_terminal=True, width=80))
    out.event(ev.PhaseStarted(ev.Phase.SSH))
    out.event(ev.PhaseFinished(ev.Phase.SSH))
    assert "\x1b[3" not in file.getvalue()  # no foreground colour codes


def node_rows(out: Output) -> list[list[str]]:
    """The live view's node table as rows of cells (split on runs of two or more spaces)."""
    import re

    file = StringIO()
    Console(file=file, width=120, color_system=None).print(out.renderable())
    lines = file.getvalue().splitlines()
    table = lines[lines.index(next(line for line in lines if line.split()[:1] == ["NODE"])) + 1 :]
    return [re.split(r" {2,}", line.strip()) for line in table]


def test_node_rows_come_from_the_nodes_field_not_the_message():
    """One row per node named in `nodes`, at `state`; a message alone, however node-like, makes no row."""
    out = Output(console=Console(file=StringIO(), force_terminal=True, width=120, color_system=None))
    out.event(ev.PhaseStarted(ev.Phase.SSH))
    out.event(ev.PhaseProgress(ev.Phase.SSH, 0, 3, "waiting up to 300s for sshd"))
    out.event(ev.PhaseProgress(ev.Phase.SSH, 1, 3, "node-9 answers"))  # no `nodes`: phase-wide, not a row
    out.event(ev.PhaseProgress(ev.Phase.SSH, 2, 3, "two came up", nodes=("db.1", "web 2"), state="answers"))
    assert node_rows(out) == [["db.1", "Wait for SSH", "answers"], ["web 2", "Wait for SSH", "answers"]]
    out.event(ev.PhaseStarted(ev.Phase.DRAIN))
    out.event(ev.PhaseProgress.of_nodes(ev.Phase.DRAIN, 1, 1, ["web 2"], "removed"))
    assert node_rows(out)[1] == ["web 2", "Drain removed nodes", "removed"]  # each node's latest state


def test_of_nodes_says_it_in_the_message_too():
    progress = ev.PhaseProgress.of_nodes(ev.Phase.DRAIN, 1, 2, ["w-1", "w-2"], "removed")
    assert (progress.message, progress.nodes, progress.state) == ("w-1, w-2 removed", ("w-1", "w-2"), "removed")


def test_overlapping_phases_each_keep_their_line_and_time():
    """A deploy's SSH, cloud-init and swarm phases overlap node by node: the live view shows every running phase,
    and finishing one leaves the others running (each finished line times its own phase)."""
    file = StringIO()
    out = Output(console=Console(file=file, force_terminal=True, width=120, color_system=None))
    out.event(ev.PhaseStarted(ev.Phase.SSH))
    out.event(ev.PhaseProgress.of_nodes(ev.Phase.SSH, 1, 2, ["node-1"], "answers"))
    out.event(ev.PhaseStarted(ev.Phase.CLOUD_INIT))
    out.event(ev.PhaseProgress.of_nodes(ev.Phase.CLOUD_INIT, 1, 2, ["node-1"], "has Docker"))
    out.console.print(out.renderable())
    view = file.getvalue()
    assert "Wait for SSH" in view and ev.Phase.CLOUD_INIT.label in view and view.count("1/2") == 2
    out.event(ev.PhaseFinished(ev.Phase.SSH))
    assert list(out._running) == [ev.Phase.CLOUD_INIT]
    file.truncate(0)
    out.console.print(out.renderable())
    assert ev.Phase.CLOUD_INIT.label in file.getvalue() and "Wait for SSH" not in file.getvalue()
    rows = [line for line in file.getvalue().splitlines() if line.strip().startswith("node-1")]
    assert rows and "has Docker" in rows[0]
