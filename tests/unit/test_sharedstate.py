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
