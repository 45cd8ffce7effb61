"""Lifecycle and resilience in the lab (issue 7): scale up and down, interrupt and re-run, injected failures,
untracked leftovers, and teardown that leaves nothing of the cluster."""

from __future__ import annotations

import dataclasses
import signal
import stat
import subprocess
import sys
import time

import pytest
from support import cluster_text, leave_a_stray_server
from support import run_events as run

from swarmwiz.core import events as ev
from swarmwiz.core.errors import EngineError, Interrupted, RemoteError, StateUnreadable, SwarmwizError
from swarmwiz.core.pipeline import Pipeline
from swarmwiz.core.spec import NodeGroup, load_spec
from swarmwiz.core.workspace import Workspace
from swarmwiz.lab.target import LabTarget

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def make_spec(tmp_path, ssh_keypair, *, name="life", managers=1, workers=1):
    path = tmp_path / f"{name}.toml"
    path.write_text(cluster_text(ssh_keypair[1], name=name, managers=managers, workers=workers))
    return load_spec(path)


def deploy(spec, confirm_delete=None):
    pipeline = Pipeline.for_spec(spec, LabTarget())
    events, status = run(pipeline.deploy(confirm=lambda summary, cost: True, confirm_delete=confirm_delete))
    return pipeline, events, status


def assert_healthy(status, managers: int, workers: int):
    assert status is not None and status.error is None, status and status.health_line()
    roles = sorted(n.role for n in status.nodes)
    assert roles == ["manager"] * managers + ["worker"] * workers, status.health_line()
    assert all(n.status == "Ready" for n in status.nodes), [(n.hostname, n.status) for n in status.nodes]
    assert status.leader is not None and status.quorum_ok
    assert len({n.hostname for n in status.nodes}) == managers + workers


def cluster_records(lab, name: str) -> list[dict]:
    """The lab's DNS records whose comment marks them as this cluster's (Terraform writes swarmwiz:NAME:NODE)."""
    return [r for r in lab.status()["dns_records"] if (r.get("comment") or "").startswith(f"swarmwiz:{name}:")]


def destroy(spec, lab):
    assert cluster_records(lab, spec.name), "the deployed cluster has no DNS record carrying its comment"
    pipeline = Pipeline.for_name(spec.name, LabTarget())
    _, report = run(pipeline.destroy(confirm=lambda items: True))
    assert report.clean, report.leftovers
    left = lab.status()
    assert [s for s in left["servers"] if s["name"].startswith(spec.name + "-")] == []
    assert cluster_records(lab, spec.name) == []


def test_scale_workers_and_managers_keep_the_swarm_healthy(lab, tmp_path, ssh_keypair):
    spec = make_spec(tmp_path, ssh_keypair, managers=1, workers=1)
    steps = [(1, 1), (1, 3), (1, 0), (3, 0), (3, 2), (1, 2)]
    for managers, workers in steps:
        spec = dataclasses.replace(spec, managers=NodeGroup(managers, "DEV1-S"), workers=NodeGroup(workers, "DEV1-M"))
        _, events, status = deploy(spec)
        assert_healthy(status, managers, workers)
        drained = [e for e in events if isinstance(e, ev.PhaseFinished) and e.phase == ev.Phase.DRAIN]
        assert bool(drained) == ((managers, workers) in [(1, 0), (1, 2)]), (managers, workers)
    destroy(spec, lab)


def test_injected_creation_failure_then_rerun_converges(lab, tmp_path, ssh_keypair):
    spec = make_spec(tmp_path, ssh_keypair, name="flaky", managers=1, workers=2)
    lab.set_faults([{"match": "flaky-worker-2", "action": "quota"}])
    with pytest.raises(EngineError) as err:
        deploy(spec)
    assert "quota" in str(err.value).lower()
    assert Workspace.for_name("flaky").meta()["state"] == "failed"
    names = sorted(s["name"] for s in lab.status()["servers"])
    assert "flaky-worker-2" not in names and "flaky-manager-1" in names
    lab.set_faults([])
    _, _, status = deploy(spec)
    assert_healthy(status, 1, 2)
    destroy(spec, lab)


def test_untracked_leftovers_are_removed_on_rerun(lab, tmp_path, ssh_keypair):
    """A server created by a run that was killed before Terraform saved it: tagged for the cluster, not in state."""
    spec = make_spec(tmp_path, ssh_keypair, name="orphan", managers=1, workers=0)
    pipeline, _, status = deploy(spec)
    assert_healthy(status, 1, 0)
    leave_a_stray_server(pipeline, "orphan-worker-9")
    with pytest.raises(SwarmwizError, match="orphan-worker-9.*nothing was deleted"):
        deploy(spec, confirm_delete=lambda objects: False)  # declined: listed, nothing deleted
    assert "orphan-worker-9" in [s["name"] for s in lab.status()["servers"]]
    shown = []
    _, events, status = deploy(spec, confirm_delete=lambda objects: shown.extend(objects) or True)
    assert [o.name for o in shown] == ["orphan-worker-9"]
    notices = [e.message for e in events if isinstance(e, ev.Notice)]
    assert any("orphan-worker-9" in n and "not in Terraform's state" in n for n in notices), notices
    assert "orphan-worker-9" not in [s["name"] for s in lab.status()["servers"]]
    assert_healthy(status, 1, 0)
    destroy(spec, lab)


def start_deploy_process(spec) -> subprocess.Popen:
    """`swarmwiz deploy --lab --yes` of `spec` in a process of its own (to be signalled), its output kept as text."""
    return subprocess.Popen(
        [sys.executable, "-m", "swarmwiz", "deploy", "-c", str(spec.source), "--lab", "--yes"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_interrupt_during_apply_then_rerun(lab, tmp_path, ssh_keypair, swarmwiz_home):
    """SIGINT (a terminal's Ctrl-C) to `swarmwiz deploy` mid-apply: exit 130, state saved, nothing untracked."""
    spec = make_spec(tmp_path, ssh_keypair, name="intr", managers=1, workers=2)
    lab.set_faults([{"match": "intr-worker-*", "action": "delay", "seconds": 4}])
    proc = start_deploy_process(spec)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(s["name"] == "intr-manager-1" for s in lab.status()["servers"]):
        time.sleep(0.1)  # the manager is up; the two workers are now being created (each delayed by 4 s)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, out[-2000:] + err[-2000:]
    assert "Stopping safely" in out
    assert "Traceback" not in err
    tracked = Pipeline.for_name("intr", LabTarget()).ownership.state_ids()
    servers = [s for s in lab.status()["servers"] if s["name"].startswith("intr-")]
    assert any(s["name"].startswith("intr-worker-") for s in servers), "the in-flight creates did not finish"
    assert all(s["id"].rsplit("/", 1)[-1] in tracked for s in servers), "a server escaped the state"
    lab.set_faults([])
    _, _, status = deploy(spec)
    assert_healthy(status, 1, 2)
    destroy(spec, lab)


def test_kill_9_mid_apply_then_rerun_converges(lab, tmp_path, ssh_keypair):
    """`kill -9` of swarmwiz while Terraform creates servers: the re-run explains nothing is lost and converges,
    and no server is left that the state does not track."""
    spec = make_spec(tmp_path, ssh_keypair, name="killed", managers=1, workers=2)
    lab.set_faults([{"match": "killed-worker-*", "action": "delay", "seconds": 3}])
    proc = start_deploy_process(spec)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(s["name"] == "killed-manager-1" for s in lab.status()["servers"]):
        time.sleep(0.1)
    time.sleep(1.0)
    proc.kill()
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    time.sleep(5)  # whatever terraform still had in flight has finished by now
    lab.set_faults([])
    _, events, status = deploy(spec)
    assert_healthy(status, 1, 2)
    tracked = Pipeline.for_name("killed", LabTarget()).ownership.state_ids()
    servers = [s for s in lab.status()["servers"] if s["name"].startswith("killed-")]
    assert len(servers) == 3 and all(s["id"].rsplit("/", 1)[-1] in tracked for s in servers), servers
    destroy(spec, lab)


def test_nodes_that_never_answer_ssh_are_explained_then_fixed(lab, tmp_path, ssh_keypair, monkeypatch):
    """A wrong ssh.allowed_cidrs: the security group drops SSH, the wait times out with a sentence that says
    what exists and what to check; fixing the spec and re-running converges. Meanwhile the wait says every
    HEARTBEAT_S which nodes it still waits for (a five-minute wait used to be silent until its timeout)."""
    from swarmwiz.core import events, nodeflow

    monkeypatch.setattr(nodeflow, "HEARTBEAT_S", 1.0)
    spec = make_spec(tmp_path, ssh_keypair, name="closed", managers=1, workers=0)
    closed = dataclasses.replace(spec, allowed_cidrs=("192.0.2.0/24",))
    pipeline = Pipeline.for_spec(closed, LabTarget(), ssh_timeout=4)
    seen = []
    with pytest.raises(RemoteError) as err:
        for event in pipeline.deploy(auto_approve=True):
            seen.append(event)
    beats = [e.text for e in seen if isinstance(e, events.LogLine) and e.phase == events.Phase.SSH]
    assert beats and all(b.startswith("still waiting for SSH on closed-manager-1 (") for b in beats), beats
    assert beats[-1].endswith("of 4s)")
    # the node tables (CLI and wizard) end on what happened to it, not on "waiting"
    states = [(e.nodes, e.state) for e in seen if isinstance(e, events.PhaseProgress) and e.nodes]
    assert states[-1] == (("closed-manager-1",), "not answering"), states
    assert err.value.title == "Nodes not answering"
    assert "1 of 1 nodes did not answer SSH" in str(err.value) and "192.0.2.0/24" in str(err.value)
    assert "timed out after 4s waiting for SSH on closed-manager-1" in str(err.value)
    assert [s["name"] for s in lab.status()["servers"]] == ["closed-manager-1"]
    _, _, status = deploy(spec)
    assert_healthy(status, 1, 0)
    destroy(spec, lab)


def test_second_process_is_refused_while_a_deploy_runs(lab, tmp_path, ssh_keypair, swarmwiz_home):
    spec = make_spec(tmp_path, ssh_keypair, name="busy", managers=1, workers=0)
    with Workspace.for_name("busy").lock("deploy"):
        out = subprocess.run(
            [sys.executable, "-m", "swarmwiz", "deploy", "-c", str(spec.source), "--lab", "--yes"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 1
    assert out.stderr.strip().startswith("swarmwiz: error: cluster 'busy' is busy: swarmwiz pid")
    assert lab.status()["servers"] == []


def test_interrupted_pipeline_between_phases(lab, tmp_path, ssh_keypair):
    spec = make_spec(tmp_path, ssh_keypair, name="stop", managers=1, workers=0)
    pipeline = Pipeline.for_spec(spec, LabTarget())
    gen = pipeline.deploy(confirm=lambda s, c: True)
    with pytest.raises(Interrupted):
        for event in gen:
            if isinstance(event, ev.PhaseFinished) and event.phase == ev.Phase.APPLY:
                pipeline.cancel()
    _, _, status = deploy(spec)
    assert_healthy(status, 1, 0)
    destroy(spec, lab)


def test_unreadable_state_deletes_nothing_and_teardown_survives_a_moved_key(lab, tmp_path, ssh_keypair, swarmwiz_home):
    """A truncated terraform.tfstate: the deploy lists nothing as untracked, deletes nothing and stops with one
    sentence naming the backup; with the state restored and the .pub moved away, destroy still tears down."""
    spec = make_spec(tmp_path, ssh_keypair, name="trunc", managers=1, workers=0)
    pipeline, _, status = deploy(spec)
    assert_healthy(status, 1, 0)
    wider = dataclasses.replace(spec, allowed_cidrs=("0.0.0.0/0", "192.0.2.0/24"))
    _, _, status = deploy(wider)  # a change in place: Terraform now keeps terraform.tfstate.backup
    assert pipeline.workspace.state_backup_path.is_file()
    ws = pipeline.workspace.path
    assert not (ws / "swarmwiz.tfplan").exists(), "the saved plan outlived its apply"
    for name in ("terraform.tfstate", "terraform.tfstate.backup"):
        assert stat.S_IMODE((ws / name).stat().st_mode) == 0o600, name
    state = pipeline.workspace.state_path
    good = state.read_text()
    before = lab.status()
    state.write_text(good[: len(good) // 3])
    out = subprocess.run(
        [sys.executable, "-m", "swarmwiz", "deploy", "-c", str(spec.source), "--lab", "--yes"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 1, out.stdout[-2000:] + out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "unreadable" in lines[0] and "deletes nothing" in lines[0], out.stderr
    assert f"a backup is at {pipeline.workspace.state_backup_path}" in lines[0]
    after = lab.status()
    for kind in ("servers", "ips", "security_groups", "private_networks", "ssh_keys", "dns_records"):
        assert {o["id"] for o in after[kind]} == {o["id"] for o in before[kind]}, kind
    with pytest.raises(StateUnreadable):
        run(Pipeline.for_name("trunc", LabTarget()).destroy(confirm=lambda items: True))
    assert len(lab.status()["servers"]) == len(before["servers"])
    state.write_text(good)
    ssh_keypair[1].rename(tmp_path / "moved-away.pub")  # teardown must not depend on the local key file
    destroy(spec, lab)


def test_domain_outside_the_account_leaves_no_workspace(lab, tmp_path, ssh_keypair, swarmwiz_home):
    """Render only after every check passed: a domain the Cloudflare account does not hold writes nothing."""
    path = tmp_path / "nodomain.toml"
    path.write_text(
        cluster_text(ssh_keypair[1], name="nodomain", managers=1, workers=0).replace("example.com", "x.org")
    )
    out = subprocess.run(
        [sys.executable, "-m", "swarmwiz", "deploy", "-c", str(path), "--lab", "--yes"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1 and "dns.domain" in lines[0], out.stderr
    assert not (swarmwiz_home / "clusters").exists()


def test_destroy_then_deploy_again_under_the_same_name(lab, tmp_path, ssh_keypair):
    """A destroyed cluster's pinned host keys go with its servers: the next deploy of the name pins its new servers'
    published keys instead of calling them replaced (found by the benchmark, which redeploys one name)."""
    spec = make_spec(tmp_path, ssh_keypair, name="again", managers=1, workers=0)
    pipeline, _, status = deploy(spec)
    assert_healthy(status, 1, 0)
    assert pipeline.workspace.pinned_host_keys()
    destroy(spec, lab)
    assert not pipeline.workspace.pinned_host_keys()
    _, _, status = deploy(spec)
    assert_healthy(status, 1, 0)
    destroy(spec, lab)
