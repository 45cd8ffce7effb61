"""The per-cluster SSH config and its Include line, checked with OpenSSH's own parser (`ssh -G`)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from swarmwiz.core.workspace import Workspace
from swarmwiz.flows import ssh_config

SSH = shutil.which("ssh")
HOSTS = {"demo-manager-1": "192.0.2.11", "demo-manager-2": "192.0.2.12", "demo-worker-1": "192.0.2.21"}


def resolved(alias: str, config: Path, user: str | None = None) -> dict[str, str]:
    """What OpenSSH makes of `alias` (`ssh -G`, no connection)."""
    argv = (
        [SSH, "-G", "-F", str(config), alias]
        if user is None
        else ["su", user, "-c", f"HOME=/nonexistent {SSH} -G {alias}"]
    )
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=20).stdout
    return {k: v for k, _, v in (line.partition(" ") for line in out.splitlines())}


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    ws = Workspace.for_name("demo")
    ws.path.mkdir(parents=True, mode=0o700)
    ws.known_hosts_path.write_text("192.0.2.11 ssh-ed25519 AAAA\n")
    return ws


@pytest.mark.skipif(SSH is None, reason="no OpenSSH client")
def test_aliases_resolve_with_the_pinned_known_hosts(workspace, tmp_path):
    identity = tmp_path / "my key"  # a path with a space must survive quoting
    config = ssh_config.write_cluster_config(workspace, HOSTS, identity)
    assert config == workspace.path / "ssh_config" and oct(config.stat().st_mode & 0o777) == "0o600"
    seen = resolved("demo-worker-1", config)
    assert seen["hostname"] == "192.0.2.21" and seen["user"] == "root"
    assert seen["stricthostkeychecking"] == "true"
    assert seen["userknownhostsfile"] == str(workspace.known_hosts_path)
    assert seen["identityfile"] == str(identity) and seen["identitiesonly"] == "yes"


@pytest.mark.skipif(SSH is None, reason="no OpenSSH client")
def test_include_goes_on_top_and_comes_out_exactly(workspace, tmp_path):
    config = ssh_config.write_cluster_config(workspace, HOSTS)
    user_config = tmp_path / "dotfiles" / "ssh_config"
    user_config.parent.mkdir()
    mine = "Host *\n    ServerAliveInterval 30\n\nHost work\n    HostName 198.51.100.7\n"
    user_config.write_text(mine)
    user_config.chmod(0o644)
    link = tmp_path / "home" / ".ssh" / "config"
    link.parent.mkdir(parents=True)
    link.symlink_to(user_config)  # a dotfile manager's symlink stays one

    assert ssh_config.include("demo", config, link) is True
    assert ssh_config.include("demo", config, link) is False  # once only
    assert link.is_symlink() and oct(user_config.stat().st_mode & 0o777) == "0o644"
    text = user_config.read_text()
    assert text.startswith("# added by swarmwiz for cluster demo") and text.endswith(mine)
    assert resolved("demo-manager-2", link)["hostname"] == "192.0.2.12"  # through the Include
    assert resolved("work", link)["hostname"] == "198.51.100.7"

    assert ssh_config.exclude("demo", config, link) is True
    assert user_config.read_text() == mine
    assert ssh_config.exclude("demo", config, link) is False


def test_set_up_and_tear_down_record_and_remove_only_their_own(workspace, tmp_path):
    user_config = tmp_path / "config"
    calls = []

    def context(name, target):
        calls.append((name, target))
        return f"Docker context swarmwiz-{name} created (ssh://root@{target})"

    said = ssh_config.set_up(
        workspace, HOSTS, None, include_config=True, user_config=user_config, docker_context=context
    )
    assert calls == [("demo", "demo-manager-1")]  # by alias once included
    assert any("Include" in line for line in said)
    record = workspace.meta()["access"]
    assert record["docker_host"] == "ssh://root@demo-manager-1" and record["included_in"] == str(user_config)
    user_config.write_text(user_config.read_text() + "Host other\n    User me\n")

    gone = ssh_config.tear_down(workspace, docker="/nonexistent/docker")
    assert user_config.read_text() == "Host other\n    User me\n"
    assert not (workspace.path / "ssh_config").exists()
    assert "access" not in workspace.meta() and len(gone) == 2

    calls.clear()
    said = ssh_config.set_up(
        workspace, HOSTS, None, include_config=False, user_config=user_config, docker_context=context
    )
    assert calls == [("demo", "192.0.2.11")]  # no Include: the context goes by address
    # The hint reads right in the wizard too, which has no --ssh-config flag: it names the line to add by hand.
    [hint] = [line for line in said if line.startswith("ssh -F")]
    assert f"Include {workspace.path / 'ssh_config'}" in hint and str(user_config) in hint and "--" not in hint
    assert "demo" not in user_config.read_text()


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI")
def test_the_docker_context_goes_with_the_cluster_unless_someone_repointed_it(workspace, tmp_path):
    from swarmwiz.flows.access import ensure_docker_context

    user_config = tmp_path / "config"  # DOCKER_CONFIG is this test's own (tests/conftest.py)
    ssh_config.set_up(
        workspace, HOSTS, None, include_config=True, user_config=user_config, docker_context=ensure_docker_context
    )
    assert ssh_config.docker_context_host("demo") == "ssh://root@demo-manager-1"
    assert ssh_config.tear_down(workspace)[-1] == "removed the Docker context swarmwiz-demo"
    assert ssh_config.docker_context_host("demo") is None

    ssh_config.set_up(
        workspace, HOSTS, None, include_config=True, user_config=user_config, docker_context=ensure_docker_context
    )
    subprocess.run(
        ["docker", "context", "update", "swarmwiz-demo", "--docker", "host=ssh://me@elsewhere"], check=True,
        capture_output=True,
    )  # fmt: skip
    assert "kept the Docker context swarmwiz-demo" in ssh_config.tear_down(workspace)[-1]
    assert ssh_config.docker_context_host("demo") == "ssh://me@elsewhere"


THROWAWAY = "tryuser"


@pytest.mark.skipif(os.geteuid() != 0 or SSH is None, reason="needs root (to act as a throwaway user) and ssh")
def test_openssh_reads_the_include_from_the_password_database_home():
    """OpenSSH ignores $HOME: only the passwd entry's home decides which ~/.ssh/config is read."""
    try:
        entry = pwd.getpwnam(THROWAWAY)
    except KeyError:
        subprocess.run(["useradd", "-m", THROWAWAY], check=True)
        entry = pwd.getpwnam(THROWAWAY)
    home = Path(entry.pw_dir)
    # pytest's tmp_path lies under a 0700 directory the throwaway user cannot enter
    shared = Path(tempfile.mkdtemp(prefix="swarmwiz-sshcfg-"))
    os.chmod(shared, 0o755)
    ws = Workspace("demo", shared / "demo")
    ws.path.mkdir()
    os.chmod(ws.path, 0o755)
    config = ssh_config.write_cluster_config(ws, HOSTS)
    os.chmod(config, 0o644)
    user_config = home / ".ssh" / "config"
    before = user_config.read_text() if user_config.exists() else None
    try:
        ssh_config.include("demo", config, user_config)
        os.chown(user_config.parent, entry.pw_uid, entry.pw_gid)
        os.chown(user_config, entry.pw_uid, entry.pw_gid)
        assert resolved("demo-manager-1", Path("unused"), user=THROWAWAY)["hostname"] == "192.0.2.11"
        ssh_config.exclude("demo", config, user_config)
        assert resolved("demo-manager-1", Path("unused"), user=THROWAWAY)["hostname"] == "demo-manager-1"
    finally:
        if before is None:
            user_config.unlink(missing_ok=True)
        else:
            user_config.write_text(before)
        shutil.rmtree(shared)
