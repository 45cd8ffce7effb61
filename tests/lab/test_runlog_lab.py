"""A failed lab deploy ends with the path of its run log, which shows what happened and holds no credential."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from support import cluster_text

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def swarmwiz(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "swarmwiz", *args], capture_output=True, text=True, timeout=timeout, env=dict(os.environ)
    )


def test_failed_deploy_points_at_its_run_log(lab, tmp_path, ssh_keypair, swarmwiz_home):
    lab.ensure_running()
    lab.set_faults([{"match": "runlog-worker-*", "action": "fail", "message": "the hypervisor caught fire"}])
    config = tmp_path / "runlog.toml"
    config.write_text(cluster_text(ssh_keypair[1], name="runlog", managers=1, workers=1, zones=("fr-par-1",)))

    out = swarmwiz("deploy", "-c", str(config), "--lab", "--yes")
    assert out.returncode == 1, out.stdout[-2000:] + out.stderr[-2000:]
    last = out.stderr.strip().splitlines()[-1]
    assert out.stderr.startswith("swarmwiz: error: ") and "(run log: " in last and last.endswith(".log)"), last
    path = Path(last.rsplit("(run log: ", 1)[1][:-1])
    assert path.parent == swarmwiz_home / "clusters" / "runlog" / "runs"
    assert path.name.endswith("-deploy.log")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    text = path.read_text()
    if os.environ.get("SHOW_RUN_LOG"):
        print(text)
    assert "swarmwiz " in text.splitlines()[0] and "deploy in " in text.splitlines()[0]
    for seen in (
        "phase ok: Check credentials",
        "phase started: Terraform apply",
        'scaleway_instance_server.node["worker-1"]',
        "the hypervisor caught fire",  # the cloud's own words, from Terraform's output
        "deploy failed (Terraform failed, exit code 1)",
    ):
        assert seen in text, f"{seen!r} not in the run log:\n{text[-3000:]}"
    for key, value in lab.credentials().items():
        if key in ("SCW_SECRET_KEY", "CLOUDFLARE_API_TOKEN", "SCW_ACCESS_KEY"):
            assert value not in text, f"{key} is in the run log"
    lab.set_faults([])

    status = swarmwiz("status", "runlog", "--lab")
    runs = sorted(path.parent.glob("*.log"))
    assert runs[-1].name.endswith("-status.log") and len(runs) == 2
    assert status.returncode != 0 or "nodes Ready" in runs[-1].read_text()

    gone = swarmwiz("destroy", "runlog", "--lab", "--yes")
    assert gone.returncode == 0, gone.stdout[-2000:] + gone.stderr[-2000:]
    destroy_log = sorted(path.parent.glob("*-destroy.log"))[-1].read_text()
    assert "phase ok: Terraform destroy" in destroy_log and "destroy ok after" in destroy_log
