"""Docker's "update out of sequence" is retried (bounded); any other failure is not; joins are bounded and adapt.

The lab's real dockerd produced this refusal when a step drained several nodes together right after a demotion
(tests/lab/test_swarm.py::test_remove_worker_then_managers_three_to_one, once under load); the race cannot be
provoked on demand, so `ssh.run` is replaced by a scripted stand-in here.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from swarmwiz.core import scaledown, swarm
from swarmwiz.core.errors import RemoteError

RACE = "manager-2: `docker node update` exited with 1: Error response from daemon: rpc error: update out of sequence"


def _scripted(monkeypatch, failures: list[str]) -> list[list[str]]:
    calls: list[list[str]] = []

    async def run(conn, argv, **kwargs):
        calls.append(argv)
        if failures:
            raise RemoteError(failures.pop(0))
        return ""

    monkeypatch.setattr(swarm.ssh, "run", run)
    return calls


def test_an_update_out_of_sequence_is_tried_again(monkeypatch):
    calls = _scripted(monkeypatch, [RACE, RACE])
    asyncio.run(scaledown._update_node(None, ["docker", "node", "update", "--availability", "drain", "x"]))
    assert len(calls) == 3


def test_other_failures_and_a_lasting_race_are_raised(monkeypatch):
    calls = _scripted(monkeypatch, ["manager-2: `docker node update` exited with 1: no such node"])
    with pytest.raises(RemoteError, match="no such node"):
        asyncio.run(scaledown._update_node(None, ["docker", "node", "demote", "x"]))
    assert len(calls) == 1
    calls = _scripted(monkeypatch, [RACE] * 10)
    with pytest.raises(RemoteError, match="out of sequence"):
        asyncio.run(scaledown._update_node(None, ["docker", "node", "demote", "x"], attempts=3))
    assert len(calls) == 3


def test_joins_run_at_most_joins_at_once_together(monkeypatch):
    """Twenty nodes that answered together join through `_join_all`; no more than JOINS_AT_ONCE of their
    `docker swarm join` run at the same moment (50 joins at once overloaded the first manager's raft)."""
    running, most = 0, 0

    async def run(conn, argv, **kwargs):
        nonlocal running, most
        if argv[:2] == ["sh", "-c"]:  # the join script
            running += 1
            most = max(most, running)
            await asyncio.sleep(0.01)
            running -= 1
            return f"id-{conn}\n"
        return "token\n"  # `docker swarm join-token -q`

    monkeypatch.setattr(swarm.ssh, "run", run)
    nodes = [
        swarm.Node(f"{role}-{i}", f"n-{role}-{i}", role, "fr-par-1", f"51.0.0.{i}", f"10.0.0.{i}")
        for role, count in (("manager", 1), ("worker", 20))
        for i in range(1, count + 1)
    ]

    async def main():
        run_ = swarm._Run(nodes, None, None, lambda line: None)
        loop = asyncio.get_running_loop()
        for node in nodes:
            run_.answers[node] = loop.create_future()
            run_.answers[node].set_result(swarm._Answer(node.key, {"LocalNodeState": "inactive"}))
        run_.lead = nodes[0]
        return await swarm._join_all(run_)

    joined = asyncio.run(main())
    assert len(joined) == 20
    assert most == swarm.JOINS_AT_ONCE


def test_fewer_join_at_once_while_joins_are_slow_and_more_again_once_they_are_fast(monkeypatch):
    """A manager that does not keep up (the 50-node lab on 2 cores: joins took 20 s and more, some failed) gets fewer
    joiners at once; once joins are quick again the number grows back to JOINS_AT_ONCE."""
    monkeypatch.setattr(swarm, "JOIN_SLOW_S", 0.05)
    said: list[str] = []

    async def main():
        gate = swarm._JoinGate(slow=swarm.JOIN_SLOW_S)
        gate.on_change = said.append
        together: list[int] = []

        async def join(seconds: float) -> None:
            async with gate.slot():
                together.append(gate.running)
                await asyncio.sleep(seconds)

        await asyncio.gather(*(join(0.1) for _ in range(24)))  # every join slow
        slow_phase = list(together)
        together.clear()
        limit_after_slow = gate.limit
        await asyncio.gather(*(join(0.001) for _ in range(40)))  # quick again
        return slow_phase, limit_after_slow, together, gate.limit

    slow_phase, limit_after_slow, fast_phase, limit_at_end = asyncio.run(main())
    assert max(slow_phase[:8]) == swarm.JOINS_AT_ONCE  # the first wave: as many as allowed
    assert max(slow_phase[-6:]) <= 2 and limit_after_slow == 1  # halved once per wave, down to one
    # each wave of slow joins halved the number once, not once per join
    assert [line.split(", ")[1] for line in said] == [f"{n} now join at once" for n in (4, 2, 1)]
    assert limit_at_end == swarm.JOINS_AT_ONCE and max(fast_phase) == swarm.JOINS_AT_ONCE


GOES_ON = (
    "worker-35: `docker swarm join ...` exited with 1: Error response from daemon: Timeout was reached before node "
    'joined. The attempt to join the swarm will continue in the background. Use the "docker info" command to see '
    "the current swarm status of your node."
)
NODE = swarm.Node("worker-35", "demo-worker-35", "worker", "fr-par-1", "192.0.2.35", "172.16.0.35")
LEAD = swarm.Node("manager-1", "demo-manager-1", "manager", "fr-par-1", "192.0.2.11", "172.16.0.11")


def _docker_info_after_join(monkeypatch, states: list[dict]) -> list[list[str]]:
    """The join answers Docker's own timeout; then `docker info` reports `states`, one per call."""
    calls: list[list[str]] = []

    async def run(conn, argv, **kwargs):
        calls.append(argv)
        if argv[:2] == ["sh", "-c"]:
            raise RemoteError(GOES_ON)
        return json.dumps(states.pop(0))

    monkeypatch.setattr(swarm.ssh, "run", run)
    return calls


def test_a_join_docker_stopped_waiting_for_is_watched_to_its_end(monkeypatch):
    """Seen with 50 lab nodes joining under load: the join went on in the background; it used to fail the deploy."""
    pending = {"LocalNodeState": "pending", "NodeID": ""}
    calls = _docker_info_after_join(monkeypatch, [pending, pending, {"LocalNodeState": "active", "NodeID": "n35"}])
    said: list[str] = []
    node_id = asyncio.run(swarm._join(None, NODE, LEAD, "SWMTKN-secret", said.append))
    assert node_id == "n35" and len(calls) == 4
    assert any("goes on" in line for line in said) and not any("SWMTKN" in line for line in said)


def test_a_background_join_that_ends_in_error_is_named(monkeypatch):
    _docker_info_after_join(monkeypatch, [{"LocalNodeState": "error", "Error": "certificate expired"}])
    with pytest.raises(RemoteError) as err:
        asyncio.run(swarm._join(None, NODE, LEAD, "SWMTKN-secret", lambda line: None))
    assert "worker-35" in err.value.message and "certificate expired" in err.value.message


def test_other_join_failures_are_not_waited_for(monkeypatch):
    calls = []

    async def run(conn, argv, **kwargs):
        calls.append(argv)
        raise RemoteError("worker-35: `docker swarm join` exited with 1: invalid join token")

    monkeypatch.setattr(swarm.ssh, "run", run)
    with pytest.raises(RemoteError, match="invalid join token"):
        asyncio.run(swarm._join(None, NODE, LEAD, "SWMTKN-secret", lambda line: None))
    assert len(calls) == 1  # neither watched nor tried again


def test_a_join_that_failed_on_the_way_is_tried_again_once(monkeypatch):
    """Seen in the 50-node lab: a join Docker went on with ended in "context deadline exceeded" (the manager was
    busy). The node leaves the half-made membership and joins again; a second such failure is raised."""
    error = "rpc error: code = DeadlineExceeded desc = context deadline exceeded"
    deadline = {"LocalNodeState": "error", "Error": error}
    outcomes = [RemoteError(GOES_ON), deadline, "n35\n"]
    calls: list[list[str]] = []

    async def run(conn, argv, **kwargs):
        calls.append(argv)
        if argv[:2] == ["sh", "-c"] or argv[:2] == ["docker", "info"]:
            outcome = outcomes.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome if isinstance(outcome, str) else json.dumps(outcome)
        assert argv == ["docker", "swarm", "leave", "--force"] and kwargs.get("check") is False
        return ""

    monkeypatch.setattr(swarm.ssh, "run", run)
    said: list[str] = []
    assert asyncio.run(swarm._join(None, NODE, LEAD, "SWMTKN-secret", said.append)) == "n35"
    assert [c[:3] for c in calls] == [["sh", "-c", swarm._JOIN_SCRIPT], ["docker", "info", "--format"],
                                      ["docker", "swarm", "leave"], ["sh", "-c", swarm._JOIN_SCRIPT]]  # fmt: skip
    assert any("joining again" in line for line in said) and not any("SWMTKN" in line for line in said)

    outcomes[:] = [RemoteError(GOES_ON), deadline, RemoteError(GOES_ON), deadline]
    calls.clear()
    with pytest.raises(RemoteError, match="context deadline exceeded"):
        asyncio.run(swarm._join(None, NODE, LEAD, "SWMTKN-secret", lambda line: None))
    assert sum(c[:2] == ["sh", "-c"] for c in calls) == swarm.JOIN_ATTEMPTS
