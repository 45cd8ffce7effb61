"""State a team can share (issue 15): two homes operate one lab cluster through Terraform's S3 backend on the lab's
Object Storage (moto), and a deploy while another run holds the lock is refused naming the holder."""

from __future__ import annotations

import json
import os

import pytest
from support import cluster_text, run_events

from swarmwiz.core.errors import EngineError
from swarmwiz.core.events import PlanSummary
from swarmwiz.core.pipeline import Pipeline
from swarmwiz.core.sharedstate import SharedState
from swarmwiz.core.spec import load_spec
from swarmwiz.core.workspace import Workspace
from swarmwiz.flows.share import clone
from swarmwiz.lab.target import LabTarget

pytestmark = [pytest.mark.lab, pytest.mark.slow]

BUCKET = "team-swarm-state"


def s3_client(url: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="fr-par",
        aws_access_key_id="lab",
        aws_secret_access_key="lab",
        config=Config(s3={"addressing_style": "path"}),
    )


def run(gen):
    return run_events(gen)[1]


def test_lab_object_storage_refuses_a_second_conditional_create(lab):
    """Terraform's lock file is a PutObject with If-None-Match: *; the lab's S3 must answer 412 when it exists."""
    from botocore.exceptions import ClientError

    client = s3_client(lab.s3_url)
    client.create_bucket(Bucket="lock-check", CreateBucketConfiguration={"LocationConstraint": "fr-par"})
    first = client.put_object(Bucket="lock-check", Key="k.tflock", Body=b"first", IfNoneMatch="*")
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ClientError) as err:
        client.put_object(Bucket="lock-check", Key="k.tflock", Body=b"second", IfNoneMatch="*")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert client.get_object(Bucket="lock-check", Key="k.tflock")["Body"].read() == b"first"


def test_two_homes_operate_one_cluster(lab, swarmwiz_home, tmp_path_factory, ssh_keypair, monkeypatch):
    target = LabTarget(lab)
    path = tmp_path_factory.mktemp("spec") / "shared.toml"
    text = cluster_text(ssh_keypair[1], name="shared", managers=1, workers=0, zones=("fr-par-1",))
    path.write_text(text + f'\n[state]\nbucket = "{BUCKET}"\n')
    spec = load_spec(path)
    home_b = tmp_path_factory.mktemp("home-b")
    try:
        # Home A deploys; the state lives in the bucket, not in its workspace.
        status = run(Pipeline.for_spec(spec, target).deploy(confirm=lambda summary, cost: True))
        assert status is not None and status.all_ready, status and status.health_line()
        ws_a = Workspace.for_name("shared")
        assert not (ws_a.path / "terraform.tfstate").exists()
        client = s3_client(lab.s3_url)
        keys = {o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix="swarmwiz/shared/")["Contents"]}
        assert {"swarmwiz/shared/terraform.tfstate", "swarmwiz/shared/cluster.toml"} <= keys
        identity = json.loads(client.get_object(Bucket=BUCKET, Key="swarmwiz/shared/identity.json")["Body"].read())
        assert identity["owner_id"] == ws_a.owner_id

        # Home B clones it: same owner id, same spec, Terraform attached to the same state.
        monkeypatch.setenv("SWARMWIZ_HOME", str(home_b))
        pipeline_b = clone("shared", BUCKET, target)
        assert pipeline_b.workspace.path.is_relative_to(home_b)
        assert pipeline_b.workspace.owner_id == identity["owner_id"]
        assert pipeline_b.spec.state_bucket == BUCKET

        # Someone else's run holds the lock: home B's deploy is refused with one sentence naming the holder.
        shared = SharedState(BUCKET, "shared", "fr-par", lab.s3_url, {})
        lock = {
            "ID": "5a1c0b1e-0000-4000-8000-000000000001",
            "Operation": "OperationTypeApply",
            "Info": "",
            "Who": "alice@ci-runner-7",
            "Version": "1.15.5",
            "Created": "2026-12-01T00:59:00.000000Z",
            "Path": f"{BUCKET}/{shared.state_key}",
        }
        client.put_object(Bucket=BUCKET, Key=shared.state_key + ".tflock", Body=json.dumps(lock).encode())
        with pytest.raises(EngineError) as err:
            run(Pipeline.for_name("shared", target).deploy(auto_approve=True))
        message = str(err.value)
        assert "alice@ci-runner-7" in message and "locked" in message and "\n" not in message, message
        client.delete_object(Bucket=BUCKET, Key=shared.state_key + ".tflock")

        # Home B deploys again from the cloned workspace: the same cluster, nothing replaced.
        servers_before = sorted(srv["name"] + srv["public_ip"] for srv in lab.status()["servers"])
        events, status_b = run_events(Pipeline.for_name("shared", target).deploy(auto_approve=True))
        assert status_b is not None and status_b.all_ready, status_b and status_b.health_line()
        summaries = [e for e in events if isinstance(e, PlanSummary)]
        assert summaries and summaries[-1].add == summaries[-1].destroy == 0, summaries
        assert sorted(srv["name"] + srv["public_ip"] for srv in lab.status()["servers"]) == servers_before

        # The S3 keys (the Scaleway keys) reached Terraform through its environment only: no file holds them.
        secret = lab.credentials()["SCW_SECRET_KEY"]
        for root in (ws_a.path, pipeline_b.workspace.path):
            holders = [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
            assert holders == [], holders

        # Home B reads the status and destroys the cluster; nothing of it remains, nor in the bucket.
        status_b = Pipeline.for_name("shared", target).read_status()
        assert status_b.all_ready and len(status_b.nodes) == 1, status_b.health_line()
        report = run(Pipeline.for_name("shared", target).destroy(confirm=lambda items: bool(items)))
        assert report is not None and report.clean, report
        left = client.list_objects_v2(Bucket=BUCKET, Prefix="swarmwiz/shared/").get("Contents", [])
        assert left == []
        assert lab.status()["servers"] == []
    finally:
        monkeypatch.setenv("SWARMWIZ_HOME", str(swarmwiz_home))
        assert os.environ["SWARMWIZ_HOME"] == str(swarmwiz_home)


def test_a_locally_deployed_cluster_moves_to_a_bucket(lab, swarmwiz_home, tmp_path_factory, ssh_keypair, monkeypatch):
    """Deploy with a local state, add [state] bucket, deploy again: Terraform moves the state, the swarm is untouched,
    and a second home clones, reads and destroys the cluster."""
    from swarmwiz.core import tfstate
    from swarmwiz.core.errors import InputError
    from swarmwiz.core.sharedstate import MOVED

    target = LabTarget(lab)
    folder = tmp_path_factory.mktemp("spec")
    text = cluster_text(ssh_keypair[1], name="moved", managers=1, workers=0, zones=("fr-par-1",))
    (folder / "local.toml").write_text(text)
    (folder / "shared.toml").write_text(text + f'\n[state]\nbucket = "{BUCKET}"\n')
    home_b = tmp_path_factory.mktemp("home-b")
    client = s3_client(lab.s3_url)
    try:
        status = run(Pipeline.for_spec(load_spec(folder / "local.toml"), target).deploy(auto_approve=True))
        assert status is not None and status.all_ready, status and status.health_line()
        ws = Workspace.for_name("moved")
        local = json.loads((ws.path / "terraform.tfstate").read_text())
        ids_before = sorted(n.server_id for n in Pipeline.for_name("moved", target)._nodes())
        shared = load_spec(folder / "shared.toml")

        # Not approved: one sentence, nothing changed, the local state still in use.
        with pytest.raises(InputError) as err:
            run(Pipeline.for_spec(shared, target).deploy(confirm_move=lambda question: False))
        assert "not approved" in str(err.value) and "\n" not in str(err.value)
        assert json.loads((ws.path / "terraform.tfstate").read_text()) == local
        assert not (ws.path / "backend.tf").exists()

        # Approved: moved by Terraform, checked, and the same servers answer.
        asked = []
        events, status = run_events(
            Pipeline.for_spec(shared, target).deploy(
                confirm=lambda summary, cost: True, confirm_move=lambda question: asked.append(question) or True
            )
        )
        assert len(asked) == 1 and f"s3://{BUCKET}/swarmwiz/moved/" in asked[0], asked
        assert status is not None and status.all_ready, status and status.health_line()
        summaries = [e for e in events if isinstance(e, PlanSummary)]
        assert summaries and summaries[-1].add == summaries[-1].destroy == 0, summaries
        assert sorted(n.server_id for n in Pipeline.for_name("moved", target)._nodes()) == ids_before
        assert (ws.path / "backend.tf").is_file() and not (ws.path / "terraform.tfstate").exists()
        assert json.loads((ws.path / MOVED).read_text()) == local
        held = json.loads(client.get_object(Bucket=BUCKET, Key="swarmwiz/moved/terraform.tfstate")["Body"].read())
        assert tfstate.ids(held) == tfstate.ids(local) and tfstate.holds_resources(held)
        identity = json.loads(client.get_object(Bucket=BUCKET, Key="swarmwiz/moved/identity.json")["Body"].read())
        assert identity["owner_id"] == ws.owner_id

        # A second home clones it, reads the status and destroys it: nothing remains, in the lab or the bucket.
        monkeypatch.setenv("SWARMWIZ_HOME", str(home_b))
        pipeline_b = clone("moved", BUCKET, target)
        assert pipeline_b.workspace.owner_id == ws.owner_id
        status_b = Pipeline.for_name("moved", target).read_status()
        assert status_b.all_ready and len(status_b.nodes) == 1, status_b.health_line()
        report = run(Pipeline.for_name("moved", target).destroy(confirm=lambda items: bool(items)))
        assert report is not None and report.clean, report
        assert client.list_objects_v2(Bucket=BUCKET, Prefix="swarmwiz/moved/").get("Contents", []) == []
        assert lab.status()["servers"] == []
    finally:
        monkeypatch.setenv("SWARMWIZ_HOME", str(swarmwiz_home))
