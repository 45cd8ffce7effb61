"""After a lab deploy, `ssh NAME-manager-1` works through the cluster's SSH config with the pinned host keys (real
OpenSSH, `-F` so that the user's own ~/.ssh/config stays untouched), and teardown removes the config and context."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from support import cluster_text

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def swarmwiz(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "swarmwiz", *args], capture_output=True, text=True, timeout=timeout, env=dict(os.environ)
    )


@pytest.mark.skipif(shutil.which("ssh") is None, reason="no OpenSSH client")
def test_ssh_alias_and_docker_context_come_and_go_with_the_cluster(lab, tmp_path, ssh_keypair, swarmwiz_home):
    config = tmp_path / "acc.toml"
    config.write_text(cluster_text(ssh_keypair[1], name="acc", managers=1, workers=1, zones=("fr-par-1",)))
    out = swarmwiz("deploy", "-c", str(config), "--lab", "--yes")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    workspace = swarmwiz_home / "clusters" / "acc"
    ssh_cfg = workspace / "ssh_config"
    assert f"SSH config for 2 nodes: {ssh_cfg}" in out.stdout
    assert f"ssh -F {ssh_cfg} acc-manager-1" in out.stdout  # not included without consent (no terminal, no flag)

    for alias in ("acc-manager-1", "acc-worker-1"):
        done = subprocess.run(
            ["ssh", "-F", str(ssh_cfg), "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", alias, "hostname"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == alias  # the node's own hostname: the alias reached the right server

    # A host key that is not the pinned one is refused (StrictHostKeyChecking yes, the workspace's known_hosts).
    pinned = (workspace / "known_hosts").read_text()
    (workspace / "known_hosts").write_text(
        "\n".join(f"{line.split()[0]} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4"
                  for line in pinned.splitlines()) + "\n"
    )  # fmt: skip
    refused = subprocess.run(
        ["ssh", "-F", str(ssh_cfg), "-o", "BatchMode=yes", "acc-manager-1", "true"], capture_output=True, text=True
    )
    assert refused.returncode != 0 and "host key" in refused.stderr.lower()
    (workspace / "known_hosts").write_text(pinned)

    has_docker = shutil.which("docker") is not None
    if has_docker:
        inspect = subprocess.run(["docker", "context", "inspect", "swarmwiz-acc"], capture_output=True, text=True)
        assert inspect.returncode == 0 and "ssh://root@" in inspect.stdout

    gone = swarmwiz("destroy", "acc", "--lab", "--yes")
    assert gone.returncode == 0, gone.stdout[-2000:] + gone.stderr[-2000:]
    assert f"removed {ssh_cfg}" in gone.stdout and not ssh_cfg.exists()
    if has_docker:
        assert "removed the Docker context swarmwiz-acc" in gone.stdout
        assert subprocess.run(["docker", "context", "inspect", "swarmwiz-acc"], capture_output=True).returncode != 0


@pytest.mark.skipif(shutil.which("ssh") is None or shutil.which("docker") is None, reason="no OpenSSH or docker CLI")
def test_docker_context_reaches_the_swarm_right_after_a_deploy(lab, tmp_path, ssh_keypair, swarmwiz_home):
    """`docker --context swarmwiz-NAME node ls` works with no manual step once the Include line is accepted.

    OpenSSH finds ~/.ssh/config through the password database, so this test cannot point it at its own user config
    by $HOME; an `ssh` first on PATH that adds `-F <the test's user config>` stands in for the user's ~/.ssh/config
    (the one substitution here; docker, ssh, the Include, the alias and the pinned keys are all real)."""
    user_config = os.environ["SWARMWIZ_SSH_USER_CONFIG"]
    config = tmp_path / "ctx.toml"
    config.write_text(cluster_text(ssh_keypair[1], name="ctx", managers=1, workers=1, zones=("fr-par-1",)))
    out = swarmwiz("deploy", "-c", str(config), "--lab", "--yes", "--ssh-config")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "Docker context swarmwiz-ctx created (ssh://root@ctx-manager-1)" in out.stdout, out.stdout[-2000:]

    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "ssh").write_text(f'#!/bin/sh\nexec {shutil.which("ssh")} -F {user_config} -o BatchMode=yes "$@"\n')
    (shim / "ssh").chmod(0o755)
    env = dict(os.environ, PATH=f"{shim}:{os.environ['PATH']}")
    nodes = subprocess.run(
        ["docker", "--context", "swarmwiz-ctx", "node", "ls", "--format", "{{.Hostname}} {{.Status}}"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert nodes.returncode == 0, nodes.stderr
    assert sorted(nodes.stdout.split("\n")[:-1]) == ["ctx-manager-1 Ready", "ctx-worker-1 Ready"], nodes.stdout

    gone = swarmwiz("destroy", "ctx", "--lab", "--yes")
    assert gone.returncode == 0, gone.stdout[-2000:] + gone.stderr[-2000:]
    from pathlib import Path

    assert "Include" not in Path(user_config).read_text()
