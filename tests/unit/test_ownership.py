"""Owner identity and readable state: every workspace gets a random owner id once, passed to Terraform; an
unreadable Terraform state makes swarmwiz refuse to take anything for untracked."""

from __future__ import annotations

import json
import re

import pytest

from swarmwiz.cli import main
from swarmwiz.core.errors import InputError, StateUnreadable
from swarmwiz.core.paths import terraform_module_dir
from swarmwiz.core.workspace import Workspace

STATE = {"version": 4, "resources": [{"instances": [{"attributes": {"id": "fr-par-1/11111111-aaaa"}}]}]}


@pytest.fixture
def rendered(cluster_toml) -> Workspace:
    assert main(["plan", "-c", str(cluster_toml), "--offline"]) == 0
    return Workspace.existing("demo")


def test_owner_id_is_created_once_stored_and_passed_to_terraform(rendered, cluster_toml):
    owner = rendered.owner_id
    assert owner is not None and re.fullmatch(r"[0-9a-f]{12}", owner)
    assert json.loads(rendered.tfvars_path.read_text())["owner_id"] == owner
    assert main(["plan", "-c", str(cluster_toml), "--offline"]) == 0
    assert rendered.owner_id == owner  # never regenerated


def test_two_workspaces_get_different_owner_ids(rendered, tmp_path, monkeypatch, cluster_toml):
    monkeypatch.setenv("SWARMWIZ_HOME", str(tmp_path / "other-machine"))
    assert main(["plan", "-c", str(cluster_toml), "--offline"]) == 0
    assert Workspace.existing("demo").owner_id not in (None, rendered.owner_id)


def test_a_damaged_owner_id_is_never_replaced(rendered, cluster_toml, capsys):
    meta = rendered.meta() | {"owner_id": "not-hex"}
    rendered.meta_path.write_text(json.dumps(meta))
    with pytest.raises(InputError, match="owner id"):
        rendered.ensure_owner_id()
    assert json.loads(rendered.meta_path.read_text())["owner_id"] == "not-hex"


def test_module_carries_the_owner_on_every_object():
    main_tf = (terraform_module_dir() / "main.tf").read_text()
    assert '"swarmwiz-owner=${var.owner_id}"' in main_tf
    assert main_tf.count('comment = "swarmwiz:${var.cluster_name}:${var.owner_id}:${each.key}"') == 2
    assert 'name       = "${local.prefix}-${var.owner_id}"' in main_tf
    assert 'variable "owner_id"' in (terraform_module_dir() / "variables.tf").read_text()


def test_tracked_ids_of_a_readable_state(rendered):
    assert rendered.tracked_ids() == set()  # before the first apply
    rendered.state_path.write_text(json.dumps(STATE))
    assert rendered.tracked_ids() == {"11111111-aaaa"}


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],  # truncated
        lambda text: "\x00" * 40,  # zeroed
        lambda text: "[]",  # valid JSON, not a state
        lambda text: '{"version": 4}',  # no resources
    ],
    ids=["truncated", "zeroed", "a list", "no resources"],
)
def test_unreadable_state_is_refused_and_names_the_backup(rendered, damage):
    rendered.state_path.write_text(damage(json.dumps(STATE)))
    with pytest.raises(StateUnreadable) as err:
        rendered.tracked_ids()
    assert "there is no readable backup" in str(err.value) and "deletes nothing" in str(err.value)
    rendered.state_backup_path.write_text(json.dumps(STATE))
    with pytest.raises(StateUnreadable, match=f"a backup is at {re.escape(str(rendered.state_backup_path))}"):
        rendered.tracked_ids()


def test_missing_state_after_a_deploy_is_refused(rendered):
    rendered.set_state("deployed", nodes=5)
    with pytest.raises(StateUnreadable, match="is missing although the cluster was deployed"):
        rendered.tracked_ids()
