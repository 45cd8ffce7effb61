"""Each node is its own pipeline in a real lab deploy (Terraform, real sshd and dockerd): a node whose SSH answers
late holds back no other node's cloud-init or join, and every node is logged into once, as its own sshd counts.
The barrier variant (SWARMWIZ_SCHEDULING=barrier) is run beside it: it must show the opposite, or the test proves
nothing."""

from __future__ import annotations

import re
import threading
import time

import pytest
from support import cluster_text

from swarmwiz.core import events as ev
from swarmwiz.core import paths
from swarmwiz.core.pipeline import Pipeline
from swarmwiz.core.spec import load_spec
from swarmwiz.lab.hosts import LabNet
from swarmwiz.lab.target import LabTarget

pytestmark = [pytest.mark.lab, pytest.mark.slow]

# The late node publishes its host key only once another worker has joined, or after LATE_S (the barrier variant
# cannot get there: it waits for every node before any join); its SSH wait cannot succeed before.
LATE_S = 30.0


def _run(gen, joined: threading.Event) -> tuple[list[tuple[float, ev.Event]], object]:
    seen = []
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return seen, stop.value
        seen.append((time.monotonic(), event))  # stamped when it arrived, not when it was asked for
        if isinstance(event, ev.LogLine) and "worker-1: joined as worker" in event.text:
            joined.set()


def _logins(lab) -> dict[str, int]:
    """Accepted SSH logins per server name, read from each lab host's own sshd log."""
    net = LabNet(paths.lab_dir(), _create_dir=False)
    names = {s["id"].rsplit("/", 1)[-1]: s["name"] for s in lab.status()["servers"]}
    counts = {}
    for host in net.hosts():
        log = net.host_dir(host) / "sshd.log"
        text = log.read_text() if log.is_file() else ""
        counts[names.get(host, host)] = len(re.findall(r"Accepted publickey for root", text))
    return counts


@pytest.mark.parametrize("scheduling", ["pipeline", "barrier"])
def test_a_late_node_holds_back_no_other_and_each_node_is_logged_into_once(
    lab, tmp_path, ssh_keypair, monkeypatch, scheduling
):
    monkeypatch.setenv("SWARMWIZ_SCHEDULING", scheduling)
    name = f"pn{scheduling[0]}"
    source = tmp_path / f"{name}.toml"
    source.write_text(cluster_text(ssh_keypair[1], name=name, managers=1, workers=2))
    spec = load_spec(source)
    late = f"{name}-worker-2"
    published = Pipeline._published
    asked: list[float] = []
    joined = threading.Event()

    def held_back(self, node):
        read = published(self, node)

        async def fingerprints() -> str:
            # The node publishes nothing for LATE_S after it was first asked: its SSH wait answers late, as a
            # slow-booting server's would.
            if node.name == late:
                asked.append(time.monotonic())
                if not joined.is_set() and asked[-1] - asked[0] < LATE_S:
                    return ""
            return await read()

        return fingerprints

    monkeypatch.setattr(Pipeline, "_published", held_back)
    pipeline = Pipeline.for_spec(spec, LabTarget())
    events, status = _run(pipeline.deploy(auto_approve=True), joined)
    try:
        assert status is not None and status.all_ready, status and status.health_line()
        assert len(status.nodes) == 3
        logins = _logins(lab)
    finally:
        for _ in pipeline.destroy(confirm=lambda items: True):
            pass

    def at(phase: ev.Phase, text: str) -> float:
        return next(t for t, e in events if isinstance(e, ev.PhaseProgress) and e.phase == phase and text in e.message)

    late_answers = at(ev.Phase.SSH, f"{late} answers")
    worker_joined = next(t for t, e in events if isinstance(e, ev.LogLine) and "worker-1: joined as worker" in e.text)
    ready = at(ev.Phase.CLOUD_INIT, f"{name}-worker-1 has Docker")
    for phase in (ev.Phase.SSH, ev.Phase.CLOUD_INIT, ev.Phase.SWARM, ev.Phase.STATUS):  # each finished once
        assert sum(1 for _, e in events if isinstance(e, ev.PhaseFinished) and e.phase == phase) == 1, phase
    t0 = events[0][0]
    for t, e in events:
        if isinstance(e, (ev.PhaseProgress, ev.PhaseStarted, ev.PhaseFinished)) or (
            isinstance(e, ev.LogLine) and e.phase == ev.Phase.SWARM
        ):
            print(f"{t - t0:7.2f} {type(e).__name__} {e.phase.value} {getattr(e, 'message', getattr(e, 'text', ''))}")
    lead = worker_joined - late_answers
    print(f"\n{scheduling}: logins {logins}; worker-1 joined {lead:+.1f}s after {late} answered")
    if scheduling == "pipeline":
        assert ready < late_answers and worker_joined < late_answers
        assert logins == {n.hostname: 1 for n in status.nodes}, logins
    else:
        assert ready > late_answers and worker_joined > late_answers
        # pin, bootstrap and (on the manager that answers first) the status read: each a login of its own
        assert logins[f"{name}-manager-1"] == 3 and logins[f"{name}-worker-1"] == 2, logins
