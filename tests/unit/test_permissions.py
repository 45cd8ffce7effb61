"""Permissions whatever the umask: every directory swarmwiz creates is 0700, every file 0600, and Terraform's state
and saved plan are written under umask 077."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from swarmwiz.cli import main
from swarmwiz.core.paths import atomic_write, make_dir

WORKSPACES = Path(__file__).parents[1] / "fixtures" / "terraform" / "workspaces"


@pytest.fixture
def umask_000():
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_make_dir_creates_every_parent_0700(tmp_path, umask_000):
    leaf = make_dir(tmp_path / "a" / "b" / "c")
    for directory in (tmp_path / "a", tmp_path / "a" / "b", leaf):
        assert mode(directory) == 0o700, directory


def test_atomic_write_is_0600_in_a_0700_directory(tmp_path, umask_000):
    target = tmp_path / "new" / "dir" / "file.json"
    atomic_write(target, "{}")
    assert target.read_text() == "{}" and mode(target) == 0o600
    assert mode(tmp_path / "new") == 0o700 and mode(tmp_path / "new" / "dir") == 0o700
    assert [p.name for p in target.parent.iterdir()] == ["file.json"]  # no temporary file left


def test_plan_offline_under_umask_000_writes_nothing_world_readable(cluster_toml, tmp_path, monkeypatch, umask_000):
    home = tmp_path / "deep" / "swarmwiz-home"
    monkeypatch.setenv("SWARMWIZ_HOME", str(home))
    assert main(["plan", "-c", str(cluster_toml), "--offline"]) == 0
    created = [tmp_path / "deep", home, *home.rglob("*")]
    assert any(p.name == "terraform.tfvars.json" for p in created)
    for path in created:
        want = 0o700 if path.is_dir() else 0o600
        assert mode(path) == want, f"{path} is {oct(mode(path))}"


def test_terraform_writes_state_and_plan_0600_under_umask_000(tmp_path, umask_000):
    from swarmwiz.core.terraform import Terraform, find_engine

    ws = Path(shutil.copytree(WORKSPACES / "tiny", tmp_path / "tiny"))
    config = tmp_path / "terraformrc"
    config.write_text("")
    tf = Terraform(ws, env={"TF_CLI_CONFIG_FILE": str(config)}, engine=find_engine())
    list(tf.init())
    list(tf.plan(out=ws / "tfplan"))
    list(tf.apply(plan_file=ws / "tfplan"))
    list(tf.apply(destroy=True))  # a second change makes Terraform write terraform.tfstate.backup
    for name in ("tfplan", "terraform.tfstate", "terraform.tfstate.backup"):
        assert mode(ws / name) == 0o600, f"{name} is {oct(mode(ws / name))}"
