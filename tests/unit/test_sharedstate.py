"""Shared state settings: the backend configuration Terraform gets, credentials kept out of it, bad input refused."""

from __future__ import annotations

import urllib.request

import pytest

from swarmwiz.cli import main
from swarmwiz.core.sharedstate import SharedState, scaleway_s3_endpoint
from swarmwiz.core.target import CloudTarget
from swarmwiz.core.terraform import _lock_message
from swarmwiz.core.tfevents import parse_lock_info

ENV = {"SCW_ACCESS_KEY": "SCWABCDEFGHIJKLMNOPQ", "SCW_SECRET_KEY": "11111111-2222-3333-4444-555555555555"}


def test_backend_config_points_at_object_storage_with_the_lock_file():
    shared = SharedState("team-state", "demo", "nl-ams", scaleway_s3_endpoint("nl-ams"), ENV)
    config = dict(arg.removeprefix("-backend-config=").split("=", 1) for arg in shared.backend_config())
    assert config["bucket"] == "team-state"
    assert config["key"] == "swarmwiz/demo/terraform.tfstate"
    assert config["region"] == "nl-ams"
    assert config["endpoints"] == '{ s3 = "https://s3.nl-ams.scw.cloud" }'
    assert config["use_lockfile"] == "true"
    assert config["skip_credentials_validation"] == config["skip_requesting_account_id"] == "true"
    text = " ".join(shared.backend_config())
    assert ENV["SCW_SECRET_KEY"] not in text and ENV["SCW_ACCESS_KEY"] not in text  # credentials: environment only
    assert shared.environment() == {
        "AWS_ACCESS_KEY_ID": ENV["SCW_ACCESS_KEY"],
        "AWS_SECRET_ACCESS_KEY": ENV["SCW_SECRET_KEY"],
    }


def test_cloud_target_uses_scaleway_object_storage():
    assert CloudTarget({}).s3_endpoint("fr-par") == "https://s3.fr-par.scw.cloud"


def test_lock_on_a_shared_state_names_its_holder(tmp_path):
    (tmp_path / "backend.tf").write_text('terraform {\n  backend "s3" {}\n}\n')
    lock = parse_lock_info(
        "Lock Info:\n  ID:        abc-123\n  Path:      b/swarmwiz/demo/terraform.tfstate\n"
        "  Operation: OperationTypeApply\n  Who:       bob@laptop\n  Created:   2026-12-01 00:59:00 +0000 UTC\n"
    )
    message = _lock_message(tmp_path, lock)
    assert "shared Terraform state is locked (apply by bob@laptop" in message
    assert "abc-123" in message and "\n" not in message


def test_clone_refuses_a_bad_bucket_name(swarmwiz_home, capsys):
    assert main(["clone", "demo", "--bucket", "Not_A_Bucket"]) == 2
    err = capsys.readouterr().err
    assert "state.bucket" in err and "not a bucket name" in err
    assert not (swarmwiz_home / "clusters" / "demo").exists()


def test_a_locally_deployed_cluster_keeps_its_local_state_until_a_deploy_moves_it(swarmwiz_home, ssh_keypair, tmp_path):
    """Adding [state] to a cluster deployed with a local state: a plan, status or destroy keeps using the local state
    (Terraform would otherwise start from an empty shared state and create the cluster a second time)."""
    import json

    from support import cluster_text
    from test_tfstate import STATE

    from swarmwiz.core.credentials import Credentials
    from swarmwiz.core.pipeline import Pipeline
    from swarmwiz.core.secrets import Secret
    from swarmwiz.core.spec import load_spec
    from swarmwiz.core.workspace import Workspace

    path = tmp_path / "demo.toml"
    path.write_text(cluster_text(ssh_keypair[1]) + '\n[state]\nbucket = "team-state"\n')
    spec = load_spec(path)
    ws = Workspace.for_name("demo")
    ws.render(spec)
    (ws.path / "terraform.tfstate").write_text(json.dumps(STATE))
    creds = Credentials("SCWABCDEFGHIJKLMNOPQ", Secret("s" * 36), "p" * 36, Secret("t" * 40))
    pipeline = Pipeline(spec, ws, CloudTarget({}, credentials=creds))
    assert pipeline.sync.moving()
    assert "stays local until a deploy moves it to bucket 'team-state'" in pipeline.sync.stay_local()
    assert pipeline.shared_state() is None and pipeline.sync.backend_fingerprint() == ""
    assert pipeline.sync.prepare_backend() == [] and not (ws.path / "backend.tf").exists()
    assert ws.state_path == ws.path / "terraform.tfstate"


@pytest.fixture
def bucket_url():
    """moto's S3 server on loopback plays the Object Storage bucket."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    # moto keeps its buckets in the process, not in the server: the next test starts with none
    urllib.request.urlopen(urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST"), timeout=10)
    server.stop()


class BucketTarget:
    """The two things StateSync asks of a target: where Object Storage is, and whether this is the lab."""

    is_lab = True

    def __init__(self, url: str) -> None:
        self.url = url

    def s3_endpoint(self, region: str) -> str:
        return self.url


def locally_deployed(ssh_keypair, tmp_path, url, terraform_class=None):
    """A workspace of cluster demo with [state] bucket whose state was applied locally by real Terraform (one
    terraform_data resource stands in for the cluster: no provider is needed offline); returns (sync, terraform)."""
    from support import cluster_text

    from swarmwiz.core.sharedstate import StateSync
    from swarmwiz.core.spec import load_spec
    from swarmwiz.core.terraform import Terraform
    from swarmwiz.core.workspace import Workspace

    path = tmp_path / "demo.toml"
    path.write_text(cluster_text(ssh_keypair[1]) + '\n[state]\nbucket = "team-state"\n')
    spec = load_spec(path)
    ws = Workspace.for_name("demo")
    ws.render(spec)
    for module_file in ws.path.glob("*.tf"):
        module_file.unlink()
    (ws.path / "main.tf").write_text('resource "terraform_data" "cluster" {\n  input = "demo"\n}\n')
    shared = SharedState("team-state", "demo", spec.region, url, ENV)
    tf = (terraform_class or Terraform)(ws.path, env={**ENV, **shared.environment()})
    list(tf.init())
    list(tf.apply())
    sync = StateSync(
        spec, ws, BucketTarget(url), environment=lambda: sync.backend_environment(ENV), terraform=lambda: tf
    )
    assert sync.moving()
    return sync, tf


def test_an_approved_move_is_checked_and_shared(swarmwiz_home, ssh_keypair, tmp_path, bucket_url):
    import json

    from swarmwiz.core.sharedstate import MOVED

    sync, tf = locally_deployed(ssh_keypair, tmp_path, bucket_url)
    ws = sync.workspace.path
    local = json.loads((ws / "terraform.tfstate").read_text())
    asked = []
    list(sync.move(tf, lambda question: asked.append(question) or True))
    assert asked == [
        f"move the Terraform state of cluster demo from {ws / 'terraform.tfstate'} to s3://team-state/swarmwiz/demo/"
    ]
    held = sync.shared.read_state()
    assert held["resources"] == local["resources"] and held["outputs"] == local["outputs"]
    assert sync.shared.owner() == sync.workspace.owner_id
    assert not (ws / "terraform.tfstate").exists() and (ws / "backend.tf").is_file()
    assert json.loads((ws / MOVED).read_text()) == local
    assert not sync.moving() and tf.state_list() == ["terraform_data.cluster"]  # Terraform now reads the bucket


def test_a_move_into_a_bucket_holding_another_workspaces_cluster_is_refused(
    swarmwiz_home, ssh_keypair, tmp_path, bucket_url
):
    from swarmwiz.core.errors import InputError

    sync, tf = locally_deployed(ssh_keypair, tmp_path, bucket_url)
    ws = sync.workspace.path
    before = (ws / "terraform.tfstate").read_bytes()
    other = SharedState("team-state", "demo", "fr-par", bucket_url, ENV)
    other.ensure_bucket()
    (tmp_path / "other").mkdir()
    other.push(tmp_path / "other", {"owner_id": "bbbbbbbbbbbb", "lab": True})
    asked = []
    with pytest.raises(InputError) as err:
        list(sync.move(tf, lambda question: asked.append(question) or True))
    message = str(err.value)
    assert message.startswith("state.bucket: ") and "owner id bbbbbbbbbbbb" in message and "\n" not in message
    assert asked == []  # refused before anyone is asked
    assert (ws / "terraform.tfstate").read_bytes() == before and not (ws / "backend.tf").exists()
    assert other.read_state() is None


def test_a_move_whose_copy_does_not_check_out_keeps_the_local_state(swarmwiz_home, ssh_keypair, tmp_path, bucket_url):
    """Another writer changes the bucket's state between Terraform's copy and swarmwiz's check: the move is undone,
    the local state is back in use (a plain local init reads it) and the error is one sentence."""
    import json

    from swarmwiz.core.errors import EngineError
    from swarmwiz.core.sharedstate import BEFORE_MOVE
    from swarmwiz.core.terraform import Terraform

    class RacedTerraform(Terraform):
        def migrate(self, backend_config, timeout=None):
            yield from super().migrate(backend_config, timeout)
            shared = SharedState("team-state", "demo", "fr-par", bucket_url, ENV)
            state = shared.read_state()
            state["resources"] = []
            shared._client().put_object(Bucket="team-state", Key=shared.state_key, Body=json.dumps(state).encode())

    sync, tf = locally_deployed(ssh_keypair, tmp_path, bucket_url, RacedTerraform)
    ws = sync.workspace.path
    before = (ws / "terraform.tfstate").read_bytes()
    with pytest.raises(EngineError) as err:
        list(sync.move(tf, lambda question: True))
    message = str(err.value)
    assert "nothing was lost" in message and "the copy in the bucket (0 resources" in message and "\n" not in message, (
        message
    )
    assert (ws / "terraform.tfstate").read_bytes() == before
    assert not (ws / "backend.tf").exists() and not (ws / BEFORE_MOVE).exists()
    assert sync.workspace.state_path == ws / "terraform.tfstate"
    list(tf.init())  # the workspace is back on the local backend, without -migrate-state or -reconfigure
    assert tf.state_list() == ["terraform_data.cluster"]


def test_a_second_workspace_of_the_same_name_never_takes_over_or_deletes_the_shared_cluster(tmp_path):
    """Two workspaces that pick one name and one bucket: the second is refused before Terraform reads the state,
    and its clean destroy leaves the first cluster's files alone. moto's S3 server on loopback plays the bucket."""
    import pytest
    from moto.server import ThreadedMotoServer

    from swarmwiz.core.errors import InputError

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        shared = SharedState("team-state", "demo", "fr-par", f"http://{host}:{port}", ENV)
        shared.ensure_bucket()
        assert shared.owner() is None
        shared.check_owner("aaaaaaaaaaaa")  # nothing stored yet: anyone may start the cluster
        (tmp_path / "cluster.toml").write_text('name = "demo"\n')
        shared.push(tmp_path, {"owner_id": "aaaaaaaaaaaa", "lab": True})
        shared.check_owner("aaaaaaaaaaaa")  # the same workspace again (or a clone of it)
        with pytest.raises(InputError) as err:
            shared.check_owner("bbbbbbbbbbbb")
        assert str(err.value).startswith("state.bucket: ") and "swarmwiz clone demo --bucket team-state" in str(
            err.value
        )
        shared.remove("bbbbbbbbbbbb")  # another owner's destroy: nothing of the first cluster goes
        assert shared.owner() == "aaaaaaaaaaaa"
        shared.remove("aaaaaaaaaaaa")
        assert shared.owner() is None
    finally:
        server.stop()


def test_a_move_cut_short_is_taken_up_again_from_the_state_before_it(swarmwiz_home, ssh_keypair, tmp_path, bucket_url):
    """The process died right after Terraform's copy (the local file emptied, backend.tf written, nothing checked):
    the next run starts again from the copy taken before the move, never from an empty state."""
    import json

    from swarmwiz.core.sharedstate import BACKEND_FILE, BACKEND_TF, BEFORE_MOVE, MOVED, StateSync

    sync, tf = locally_deployed(ssh_keypair, tmp_path, bucket_url)
    ws = sync.workspace.path
    local = json.loads((ws / "terraform.tfstate").read_text())
    (ws / BEFORE_MOVE).write_text(json.dumps(local))
    (ws / BACKEND_FILE).write_text(BACKEND_TF)
    list(tf.migrate(sync.shared.backend_config()))
    assert (ws / "terraform.tfstate").read_bytes() == b""  # what Terraform leaves after copying a local state
    again = StateSync(
        sync.spec, sync.workspace, sync.target, environment=lambda: again.backend_environment(ENV), terraform=lambda: tf
    )
    assert again.moving()
    list(again.move(tf, lambda question: True))
    assert json.loads((ws / MOVED).read_text()) == local and not (ws / BEFORE_MOVE).exists()
    assert again.shared.read_state()["resources"] == local["resources"]


def test_a_move_not_approved_changes_nothing(swarmwiz_home, ssh_keypair, tmp_path, bucket_url):
    from swarmwiz.core.errors import InputError

    sync, tf = locally_deployed(ssh_keypair, tmp_path, bucket_url)
    ws = sync.workspace.path
    before = (ws / "terraform.tfstate").read_bytes()
    with pytest.raises(InputError) as err:
        list(sync.move(tf, lambda question: False))
    message = str(err.value)
    assert message.startswith("state.bucket: ") and "not approved" in message and "\n" not in message
    assert "never moved back to a local one" in message
    assert (ws / "terraform.tfstate").read_bytes() == before and not (ws / "backend.tf").exists()
    assert not sync.shared.ensure_bucket(create=False)  # not even the bucket was created
