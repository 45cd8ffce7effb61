"""The deploy screen's per-node table: one row per node at its latest state, read from `PhaseProgress.nodes` (never
from the message), kept through the bridge's progress merging, and compact at fifty nodes."""

from __future__ import annotations

import time

from recorded import NODES, RecordedPipeline, apply_events, plan_events
from test_snapshots import draft, fixed_clock

from swarmwiz.core.events import LogLine, Phase, PhaseProgress, PhaseStarted, node_order
from swarmwiz.flows.draft import to_spec
from swarmwiz.tui.bridge import merge_progress
from swarmwiz.tui.screens.deploy import DeployScreen
from swarmwiz.tui.widgets.nodes import NodeTable
from swarmwiz.tui.widgets.runpanel import RunLog, RunPanel


async def until(pilot, condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
        await pilot.pause(0.02)


def states(table: NodeTable) -> dict[str, tuple[str, str]]:
    return {str(key.value): table.state_of(str(key.value)) for key in table.rows}


async def test_node_table_shows_each_nodes_latest_state_mid_deploy(make_app):
    """Paused where the first two managers are in the swarm and the others have only answered SSH: each row says
    where its node is (the events arrive in one batch, so the bridge must not merge per-node progress away)."""
    events = apply_events()
    gate = next(
        i
        for i, e in enumerate(events)
        if isinstance(e, PhaseProgress) and e.state == "has Docker" and e.nodes == (NODES[2],)
    )
    pipeline = RecordedPipeline(gate_after=gate)
    _events, plan = plan_events()
    app = make_app(pipeline=pipeline, start="none")
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            app.push_screen(DeployScreen(to_spec(draft()), plan, pipeline, clock=fixed_clock))
            await until(pilot, pipeline.paused.is_set, "the deploy to reach the gate")
            table = app.screen.query_one(NodeTable)
            await until(pilot, lambda: table.row_count == 5, "five node rows")
            await pilot.pause(0.2)  # the last batch before the gate lands
            m1, m2, m3, w1, w2 = NODES
            assert states(table) == {
                m1: ("swarm", "in the swarm"),
                m2: ("swarm", "in the swarm"),
                m3: ("ssh", "answers"),
                w1: ("ssh", "answers"),
                w2: ("ssh", "answers"),
            }
            assert table.display and table.border_title == "Nodes (5)"
            assert not app.screen.query_one("#resources").display  # the apply is done: the nodes take its place
            pipeline.release()
            await until(pilot, lambda: app.screen.finished, "the deploy to finish")
            await pilot.pause(0.2)
            assert set(states(table).values()) == {("swarm", "in the swarm")}
    finally:
        pipeline.release()


async def test_fifty_nodes_scroll_in_a_compact_table_and_leave_the_log_in_place(make_app):
    """At 120x40 sixty nodes stay in a table no higher than the resource table can grow; the log keeps its room,
    and the rows are in natural order (node-2 before node-10)."""
    pipeline = RecordedPipeline(gate_after=0)
    _events, plan = plan_events()
    app = make_app(pipeline=pipeline, start="none")
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            app.push_screen(DeployScreen(to_spec(draft()), plan, pipeline, clock=fixed_clock))
            await until(pilot, pipeline.paused.is_set, "the deploy to reach the gate")
            panel = app.screen.query_one(RunPanel)
            await pilot.pause(0.2)
            log_height = panel.query_one(RunLog).size.height
            table = panel.query_one(NodeTable)
            assert not table.display  # no node has progressed yet: the layout is the one without nodes
            names = [f"node-{i}" for i in range(60, 0, -1)]
            batch = [PhaseStarted(Phase.SSH), PhaseProgress.of_nodes(Phase.SSH, 0, 60, names, "waiting")]
            answered = [n for n in names if n != "node-42"]
            batch += [PhaseProgress.of_nodes(Phase.SSH, i, 60, [n], "answers") for i, n in enumerate(answered, 1)]
            panel.feed(merge_progress(batch))
            panel.feed([PhaseProgress.of_nodes(Phase.CLOUD_INIT, 1, 60, ["node-7", "node-8"], "has Docker")])
            await pilot.pause(0.2)
            assert table.row_count == 60 and table.size.height <= 13
            assert table.max_scroll_y > 0  # the rest is a scroll away
            # The top row grows at most to the resource table's own limit: the log keeps most of the screen.
            assert panel.query_one("#deploy-top").size.height <= 13
            assert panel.query_one(RunLog).size.height >= log_height - 2 >= 15
            assert [str(r.key.value) for r in table.ordered_rows][:3] == ["node-1", "node-2", "node-3"]
            assert table.state_of("node-7") == ("cloud-init", "has Docker")
            assert table.state_of("node-9") == ("ssh", "answers")
            assert table.state_of("node-42") == ("ssh", "waiting")  # the one that never answered stands out
    finally:
        pipeline.release()


def test_merge_keeps_per_node_progress_and_merges_the_rest():
    waiting = PhaseProgress(Phase.SSH, 0, 3, "waiting up to 300s for sshd")
    nodes = [PhaseProgress.of_nodes(Phase.SSH, i, 3, [f"n{i}"], "answers") for i in (1, 2)]
    resources = [PhaseProgress(Phase.APPLY, i, 9, "resources") for i in (1, 2)]
    line = LogLine(Phase.SSH, "x")
    merged = merge_progress([waiting, resources[0], *nodes, line, resources[1]])
    assert merged == [*nodes, line, resources[1]]


def test_node_order_orders_numbers_by_value():
    assert sorted(["w-10", "m-1", "w-2", "w-1"], key=node_order) == ["m-1", "w-1", "w-2", "w-10"]
