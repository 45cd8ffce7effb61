"""Shared state settings: the backend configuration Terraform gets, credentials kept out of it, bad input refused."""

from __future__ import annotations

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


def test_a_locally_deployed_cluster_is_not_moved_to_a_bucket(swarmwiz_home, ssh_keypair, tmp_path):
    """Adding [state] to a cluster deployed with a local state would make Terraform create it a second time."""
    import json

    import pytest
    from support import cluster_text
    from test_tfstate import STATE

    from swarmwiz.core.credentials import Credentials
    from swarmwiz.core.errors import InputError
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
    with pytest.raises(InputError, match=r"state\.bucket: .*deployed with a local state"):
        list(pipeline._phase_init())
    assert not (ws.path / "backend.tf").exists()


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
