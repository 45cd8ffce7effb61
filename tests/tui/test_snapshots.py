"""Snapshot tests of the main screens at 80x24 (pytest-textual-snapshot; regenerate with --snapshot-update).

The deploy in progress is fed from recorded events; the result from a constructed ClusterStatus. Clocks and paths
are fixed so that the pictures are the same on every run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from recorded import RecordedPipeline, cluster_status, plan_events

from swarmwiz.core import paths
from swarmwiz.flows.draft import Draft, to_spec

SIZE = (80, 24)
FIXTURES = Path(__file__).parent.parent / "fixtures"


def fixed_clock() -> float:
    return 1000.0


@pytest.fixture
def snap_home(monkeypatch):
    # The SSH key path shows as ~/keys/id_ed25519.pub whatever the checkout's location.
    monkeypatch.setenv("HOME", str(FIXTURES))


async def wait_until(pilot, condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the screen did not reach the state to picture"
        await pilot.pause(0.02)
    await pilot.pause(0.4)  # batches are delivered at most ~50 ms late; let the last one land and render


def idle(app) -> bool:
    return all(w.is_finished for w in app.workers if w.name not in {"flow", "confirm deploy"})


def draft() -> Draft:
    return Draft(
        name="demo",
        zones=("fr-par-1", "fr-par-2"),
        manager_type="DEV1-S",
        worker_type="DEV1-M",
        managers=3,
        workers=2,
        domain="example.com",
        public_key=str(FIXTURES / "keys" / "id_ed25519.pub"),
    )


def fixed_doctor(services, *, lab, progress):
    """The doctor's checks with fixed inputs (a PATH without docker or ssh): their results must not vary between
    machines, and the lab's own checks (root, Debian packages) would."""
    from swarmwiz.flows import doctor

    findings = [
        doctor.Finding("keyring", "OS keyring", doctor.SKIP, "not used: the lab issues its own credentials"),
        doctor.check_docker({"PATH": "/nonexistent"}),
        doctor.check_ssh_client({"PATH": "/nonexistent"}),
    ]
    for f in findings:
        progress(f.key, f.label, [f])
    return doctor.Report(findings, lab=lab)


def test_welcome(snap_compare, make_app, monkeypatch):
    """The welcome screen with a known cluster and the doctor's checks stubbed at the frontend boundary
    (welcome.doctor_checks, see fixed_doctor): two warnings, shown with doctor's words."""
    from swarmwiz.tui.screens import welcome

    monkeypatch.setattr(welcome, "doctor_checks", fixed_doctor)
    ws = paths.clusters_dir() / "demo"
    ws.mkdir(parents=True)
    (ws / "cluster.toml").write_text('name = "demo"\n')
    (ws / "swarmwiz.json").write_text(json.dumps({"state": "deployed", "lab": True, "nodes": 5}))

    async def ready(pilot):
        def shown() -> bool:
            screen = pilot.app.screen
            return idle(pilot.app) and bool(screen.query("#clusters")) and getattr(screen, "doctor", None).done

        await wait_until(pilot, shown)

    assert snap_compare(make_app(lab=True), terminal_size=SIZE, run_before=ready)


def test_instance_types(snap_compare, make_app):
    from swarmwiz.tui.screens.types import TypesScreen

    app = make_app(start="none")

    async def ready(pilot):
        pilot.app.push_screen(TypesScreen(draft().update(worker_type="DEV1-M")))
        await wait_until(pilot, lambda: idle(pilot.app) and pilot.app.catalog is not None)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_review(snap_compare, make_app, snap_home):
    from swarmwiz.tui.screens.review import ReviewScreen

    app = make_app(start="none")

    async def ready(pilot):
        pilot.app.push_screen(ReviewScreen(draft()))
        await wait_until(pilot, lambda: idle(pilot.app) and getattr(pilot.app.screen, "plan_summary", None))

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_deploy_in_progress(snap_compare, make_app):
    from swarmwiz.tui.screens.deploy import DeployScreen
    from swarmwiz.tui.widgets.runpanel import RunPanel

    pipeline = RecordedPipeline(gate_after=9)
    app = make_app(pipeline=pipeline, start="none")

    async def ready(pilot):
        _events, plan = plan_events()
        pilot.app.push_screen(DeployScreen(to_spec(draft()), plan, pipeline, clock=fixed_clock))
        await wait_until(pilot, pipeline.paused.is_set)

        def last_event_shown() -> bool:  # the event just before the gate has reached the screen
            panel = pilot.app.screen.query_one(RunPanel)
            return bool(panel.lines) and panel.lines[-1][1].endswith("still running (10s elapsed)")

        await wait_until(pilot, last_event_shown)

    try:
        assert snap_compare(app, terminal_size=SIZE, run_before=ready)
    finally:
        pipeline.release()


def test_deploy_nodes(snap_compare, make_app):
    """The per-node table mid-deploy: two managers in the swarm, three nodes that have only answered SSH; it has
    taken the finished resource table's place."""
    from recorded import NODES, apply_events

    from swarmwiz.core.events import PhaseProgress
    from swarmwiz.tui.screens.deploy import DeployScreen
    from swarmwiz.tui.widgets.nodes import NodeTable
    from swarmwiz.tui.widgets.runpanel import RunPanel

    events = apply_events()
    gate = next(
        i
        for i, e in enumerate(events)
        if isinstance(e, PhaseProgress) and e.nodes == (NODES[2],) and e.state == "has Docker"
    )
    pipeline = RecordedPipeline(gate_after=gate)
    app = make_app(pipeline=pipeline, start="none")

    async def ready(pilot):
        _events, plan = plan_events()
        pilot.app.push_screen(DeployScreen(to_spec(draft()), plan, pipeline, clock=fixed_clock))
        await wait_until(pilot, pipeline.paused.is_set)

        def last_event_shown() -> bool:  # the events just before the gate have reached the screen
            panel = pilot.app.screen.query_one(RunPanel)
            table = panel.query_one(NodeTable)
            return table.row_count == 5 and table.state_of(NODES[1]) == ("swarm", "in the swarm")

        await wait_until(pilot, last_event_shown)

    try:
        assert snap_compare(app, terminal_size=SIZE, run_before=ready)
    finally:
        pipeline.release()


def test_result(snap_compare, make_app):
    from swarmwiz.tui.screens.result import ResultScreen

    app = make_app(start="none")

    async def ready(pilot):
        pilot.app.push_screen(ResultScreen("demo", cluster_status("demo")))
        await wait_until(pilot, lambda: idle(pilot.app))

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_teardown(snap_compare, make_app):
    from swarmwiz.tui.screens.teardown import TeardownScreen

    pipeline = RecordedPipeline()
    app = make_app(pipeline=pipeline, start="none")

    async def ready(pilot):
        pilot.app.push_screen(TeardownScreen("demo", clock=fixed_clock))
        await wait_until(pilot, lambda: any(t.row_count == 4 for t in pilot.app.screen.query("#inventory")))
        typed = pilot.app.screen.query_one("#typed")
        typed.value = "dem"
        typed.cursor_blink = False  # a blinking cursor would make the picture depend on the moment it is taken
        typed.focus()  # the field has the focus (and its cursor shows) whatever the load on the machine
        await wait_until(pilot, lambda: pilot.app.focused is typed)
        await pilot.pause()

    try:
        assert snap_compare(app, terminal_size=SIZE, run_before=ready)
    finally:
        if app.screen_stack and getattr(app.screen, "answer", None) is not None and not app.screen.answer.done():
            app.screen.answer.set_result(False)
