"""Shared fixtures: every test gets its own SWARMWIZ_HOME so nothing touches the user's files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def swarmwiz_home(tmp_path_factory, monkeypatch) -> Path:
    home = tmp_path_factory.mktemp("swhome")
    monkeypatch.setenv("SWARMWIZ_HOME", str(home))
    # `deploy` creates a Docker context when the docker CLI exists: keep it out of the real ~/.docker.
    monkeypatch.setenv("DOCKER_CONFIG", str(home.parent / f"{home.name}-docker"))
    # An Include line for a cluster's SSH config goes here, never into the real ~/.ssh/config (ssh_config.py).
    monkeypatch.setenv("SWARMWIZ_SSH_USER_CONFIG", str(home.parent / f"{home.name}-ssh" / "config"))
    return home


@pytest.fixture
def ssh_keypair(tmp_path) -> tuple[Path, Path]:
    """A fresh ed25519 client key pair (private, public) in a temporary directory."""
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519", comment="swarmwiz-test")
    private = tmp_path / "id_ed25519"
    private.write_bytes(key.export_private_key())
    private.chmod(0o600)
    public = tmp_path / "id_ed25519.pub"
    public.write_bytes(key.export_public_key())
    return private, public


@pytest.fixture
def cluster_toml(tmp_path, ssh_keypair) -> Path:
    """A valid cluster.toml (3 managers over 2 zones + 2 workers) pointing at a fresh key pair."""
    text = (FIXTURES / "cluster.toml").read_text().replace("keys/id_ed25519.pub", str(ssh_keypair[1]))
    path = tmp_path / "cluster.toml"
    path.write_text(text)
    return path


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


def copy_fixture(name: str, dest: Path) -> Path:
    shutil.copy(FIXTURES / name, dest)
    return dest / name
