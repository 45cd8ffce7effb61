"""Docker's "update out of sequence" is retried (bounded); any other failure is not.

The lab's real dockerd produced this refusal when a step drained several nodes together right after a demotion
(tests/lab/test_swarm.py::test_remove_worker_then_managers_three_to_one, once under load); the race cannot be
provoked on demand, so `ssh.run` is replaced by a scripted stand-in here.
"""

from __future__ import annotations

import asyncio

import pytest

from swarmwiz.core import swarm
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
    asyncio.run(swarm._update_node(None, ["docker", "node", "update", "--availability", "drain", "x"]))
    assert len(calls) == 3


def test_other_failures_and_a_lasting_race_are_raised(monkeypatch):
    calls = _scripted(monkeypatch, ["manager-2: `docker node update` exited with 1: no such node"])
    with pytest.raises(RemoteError, match="no such node"):
        asyncio.run(swarm._update_node(None, ["docker", "node", "demote", "x"]))
    assert len(calls) == 1
    calls = _scripted(monkeypatch, [RACE] * 10)
    with pytest.raises(RemoteError, match="out of sequence"):
        asyncio.run(swarm._update_node(None, ["docker", "node", "demote", "x"], attempts=3))
    assert len(calls) == 3
