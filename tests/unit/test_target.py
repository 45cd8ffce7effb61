"""The target of a run: the real clouds honour SCW_API_URL / CLOUDFLARE_BASE_URL everywhere, and a cluster never
switches between the lab and the real clouds (refused in one sentence, exit 2, both ways)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from support import api_only_lab

from swarmwiz.core.credentials import Credentials
from swarmwiz.core.errors import InputError
from swarmwiz.core.pipeline import Pipeline
from swarmwiz.core.spec import load_spec
from swarmwiz.core.target import CloudTarget, Target
from swarmwiz.core.workspace import Workspace
from swarmwiz.flows.target import build_target
from swarmwiz.lab.target import LabTarget


def swarmwiz(*args):
    return subprocess.run(
        [sys.executable, "-m", "swarmwiz", *args], capture_output=True, text=True, env=dict(os.environ), timeout=60
    )


def test_both_targets_follow_the_protocol():
    assert isinstance(build_target(False, env={}), Target) and not build_target(False, env={}).is_lab
    assert isinstance(build_target(True), Target) and build_target(True).is_lab


def test_cloud_target_takes_endpoints_from_its_env_for_api_calls_and_terraform():
    creds = Credentials("SCWXXXXXXXXXXXXXXXXX", "1" * 8 + "-1111-1111-1111-" + "1" * 12, "p", "t" * 40)
    env = {"SCW_API_URL": "http://127.0.0.1:9/", "CLOUDFLARE_BASE_URL": "http://127.0.0.1:9/client/v4", "X": "y"}
    target = CloudTarget(env, credentials=creds)
    assert target.endpoints().scaleway == "http://127.0.0.1:9"
    assert target.endpoints().cloudflare == "http://127.0.0.1:9/client/v4"
    tf_env = target.environment()
    assert tf_env["SCW_API_URL"] == "http://127.0.0.1:9/" and "X" not in tf_env
    assert tf_env["SCW_SECRET_KEY"] == creds.value("scw_secret_key")
    assert creds.value("cloudflare_token") in target.secrets()
    assert "SCW_API_URL" not in CloudTarget({}, credentials=creds).environment()


def test_deploy_pipeline_talks_to_the_endpoints_of_its_target(tmp_path, cluster_toml):
    """The bug this fixes: the wizard's check honoured SCW_API_URL while `deploy` went to the real APIs."""
    with api_only_lab(tmp_path / "lab") as (url, raw):
        target = CloudTarget({**raw, "SCW_API_URL": url, "CLOUDFLARE_BASE_URL": f"{url}/client/v4"})
        pipeline = Pipeline.for_spec(load_spec(cluster_toml), target)
        events = list(pipeline._phase_credentials())  # a live check of the four credentials and the DNS zone
    assert events[-1].ok and "Scaleway + Cloudflare" in events[-1].message


def _render(cluster_toml, lab: bool) -> Workspace:
    spec = load_spec(cluster_toml)
    ws = Workspace.for_name(spec.name)
    ws.render(spec, lab=lab)
    return ws


def test_a_lab_cluster_is_refused_against_the_real_clouds(cluster_toml):
    _render(cluster_toml, lab=True)
    with pytest.raises(InputError, match=r"made in the local lab .* with --lab") as err:
        Pipeline.for_name("demo", CloudTarget({}))
    assert err.value.exit_code == 2
    out = swarmwiz("destroy", "demo", "--yes")
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "made in the local lab" in out.stderr and "run the command with --lab" in out.stderr


def test_a_real_cluster_is_refused_in_the_lab(cluster_toml):
    _render(cluster_toml, lab=False)
    with pytest.raises(InputError, match=r"made in Scaleway \+ Cloudflare .* without --lab"):
        Pipeline.for_name("demo", LabTarget())
    out = swarmwiz("destroy", "demo", "--lab", "--yes")
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "run the command without --lab" in out.stderr


def test_a_deployed_cluster_is_not_redeployed_in_the_other_target(cluster_toml):
    ws = _render(cluster_toml, lab=False)
    spec = load_spec(cluster_toml)
    assert Pipeline.for_spec(spec, LabTarget()).target.is_lab  # nothing deployed yet: the new target may take it
    state = {"resources": [{"mode": "managed", "type": "scaleway_instance_server", "instances": [{"attributes": {}}]}]}
    ws.state_path.write_text(json.dumps(state))
    with pytest.raises(InputError, match="made in Scaleway"):
        Pipeline.for_spec(spec, LabTarget())
    assert Pipeline.for_spec(spec, CloudTarget({})).workspace == ws


def test_rendering_records_the_target(cluster_toml):
    out = swarmwiz("plan", "-c", str(cluster_toml), "--offline", "--lab")
    assert out.returncode == 0, out.stderr
    assert Workspace.for_name("demo").is_lab
