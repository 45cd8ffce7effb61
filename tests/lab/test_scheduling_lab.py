"""The benchmark's barrier variant is honoured: with it no node joins before the slowest node's cloud-init is done;
without it a node joins as soon as its own cloud-init (and the lead's) is done. Real lab hosts, real dockerd."""

from __future__ import annotations

import time

import pytest
from hostlab import leftovers, start_hosts

from swarmwiz.core import swarm
from swarmwiz.core.errors import InputError
from swarmwiz.core.pipeline import scheduling
from swarmwiz.lab.boot import boot_timeline
from swarmwiz.lab.hosts import check_prerequisites

pytestmark = [
    pytest.mark.lab,
    pytest.mark.slow,
    pytest.mark.skipif(bool(check_prerequisites()), reason=f"lab needs: {check_prerequisites()}"),
]

# Hostnames seed each host's boot timeline; with this prefix worker-2 finishes cloud-init well after manager-1 and
# worker-1 (checked below from the timeline itself, so a changed timeline model fails loudly here, not vaguely).
PREFIX = "sch107"
SCALE = 0.1


def test_the_chosen_hosts_boot_at_different_speeds():
    ci = {k: boot_timeline(f"{PREFIX}-{k}").cloud_init * SCALE for k in ("manager-1", "worker-1", "worker-2")}
    assert ci["worker-2"] - max(ci["manager-1"], ci["worker-1"]) > 3, ci


def test_scheduling_switch_reads_the_environment():
    assert scheduling({}) == "pipeline"
    assert scheduling({"SWARMWIZ_SCHEDULING": "barrier"}) == "barrier"
    with pytest.raises(InputError, match="SWARMWIZ_SCHEDULING must be 'pipeline' or 'barrier'"):
        scheduling({"SWARMWIZ_SCHEDULING": "fast"})


async def _bootstrap(base, barrier: bool) -> list[tuple[float, str]]:
    """Three fresh hosts (sshd up, Docker not yet), bootstrapped; every cloud-init finish and log line, timed."""
    lab = start_hosts(base, ["manager", "worker", "worker"], prefix=PREFIX, until="ssh", time_scale=SCALE)
    seen: list[tuple[float, str]] = []
    try:
        await swarm.bootstrap(
            lab.nodes,
            known_hosts=lab.known_hosts,
            client_keys=[lab.client_key],
            on_log=lambda text: seen.append((time.monotonic(), text)),
            on_ready=lambda node: seen.append((time.monotonic(), f"ready {node.key}")),
            timeout=120,
            barrier=barrier,
        )
    finally:
        lab.close()
        assert leftovers(lab.net) == {"netns": [], "links": [], "mounts": [], "processes": []}
    return seen


def _at(seen: list[tuple[float, str]], text: str) -> float:
    return next(at for at, line in seen if text in line)


@pytest.mark.parametrize("barrier", [False, True], ids=["pipeline", "barrier"])
async def test_joins_wait_for_the_slowest_node_only_with_the_barrier(tmp_path, barrier):
    seen = await _bootstrap(tmp_path, barrier)
    print("\n" + "\n".join(f"{at - seen[0][0]:6.2f} {line}" for at, line in seen))
    slowest_ready = _at(seen, "ready worker-2")
    fast_join = _at(seen, "worker-1: joining as worker")
    assert any("all 3 nodes Ready" in line for _, line in seen)
    if barrier:
        assert any(line.startswith("barrier scheduling:") for _, line in seen)
        assert fast_join > slowest_ready
        assert _at(seen, "docker swarm init") > slowest_ready
    else:
        assert not any(line.startswith("barrier scheduling:") for _, line in seen)
        assert fast_join < slowest_ready - 1  # joined seconds before worker-2 had Docker
