"""Access after a deploy: an SSH config file per cluster (node aliases, pinned host keys), included from the user's
~/.ssh/config only with consent, and the Docker context on the first manager's alias; all removed on teardown."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from swarmwiz.core.workspace import atomic_write

CONFIG_NAME = "ssh_config"
MARKER = "# added by swarmwiz for cluster {name}; `swarmwiz destroy {name}` removes it"
META_KEY = "access"


def user_config_path() -> Path:
    """The ~/.ssh/config that `ssh` reads: OpenSSH takes the home directory from the password database, not $HOME.

    SWARMWIZ_SSH_USER_CONFIG names another file (tests, and users whose ssh runs with `-F`)."""
    override = os.environ.get("SWARMWIZ_SSH_USER_CONFIG")
    if override:
        return Path(override).expanduser()
    return Path(pwd.getpwuid(os.getuid()).pw_dir) / ".ssh" / "config"


def _quote(value: str | Path) -> str:
    text = str(value)
    return f'"{text}"' if any(c.isspace() for c in text) else text


def render(hosts: Mapping[str, str], known_hosts: Path, identity: Path | None = None) -> str:
    """The text of a cluster's SSH config: one `Host ALIAS` block per node (alias -> public address)."""
    lines = ["# Written by swarmwiz: one alias per node; the host keys are the ones pinned at deploy time.", ""]
    for alias, address in sorted(hosts.items()):
        lines += [
            f"Host {alias}",
            f"    HostName {address}",
            "    User root",
            f"    UserKnownHostsFile {_quote(known_hosts)}",
            "    StrictHostKeyChecking yes",
        ]
        if identity is not None:
            lines += [f"    IdentityFile {_quote(identity)}", "    IdentitiesOnly yes"]
        lines.append("")
    return "\n".join(lines)


def write_cluster_config(workspace: Any, hosts: Mapping[str, str], identity: Path | None = None) -> Path:
    """Write `<workspace>/ssh_config` for `hosts` ({alias: address}); returns its path."""
    path = Path(workspace.path) / CONFIG_NAME
    atomic_write(path, render(hosts, Path(workspace.known_hosts_path), identity))
    return path


def _include_lines(name: str, config: Path) -> list[str]:
    return [MARKER.format(name=name), f"Include {_quote(config)}"]


def _read(user_config: Path) -> str:
    try:
        return user_config.read_text()
    except FileNotFoundError:
        return ""


def _write(user_config: Path, text: str) -> None:
    # A dotfile manager's symlink stays a symlink: write where it points, keeping the file's mode.
    target = user_config.resolve() if user_config.is_symlink() else user_config
    mode = target.stat().st_mode & 0o777 if target.exists() else 0o600
    if not target.parent.exists():
        target.parent.mkdir(parents=True, mode=0o700)
    atomic_write(target, text, mode=mode)


def is_included(name: str, config: Path, user_config: Path | None = None) -> bool:
    user_config = user_config or user_config_path()
    return f"Include {_quote(config)}" in _read(user_config).splitlines()


def include(name: str, config: Path, user_config: Path | None = None) -> bool:
    """Add `Include CONFIG` (with a marker comment) at the top of the user's SSH config, where an Include applies to
    every host (further down it would belong to the Host block above it). False when it was already there."""
    user_config = user_config or user_config_path()
    if is_included(name, config, user_config):
        return False
    text = _read(user_config)
    _write(user_config, "\n".join(_include_lines(name, config)) + "\n" + ("\n" + text if text else ""))
    return True


def exclude(name: str, config: Path, user_config: Path | None = None) -> bool:
    """Remove exactly the lines `include` added for this cluster (nothing else); False when there were none."""
    user_config = user_config or user_config_path()
    lines = _read(user_config).splitlines()
    ours = _include_lines(name, config)
    kept: list[str] = []
    removed = False
    i = 0
    while i < len(lines):
        if lines[i : i + 2] == ours:
            removed = True
            i += 2
            if i < len(lines) and lines[i] == "" and (not kept or kept[-1] == ""):
                i += 1  # the blank line include() put after them
            continue
        if lines[i] == ours[1]:  # the Include alone (the user moved or dropped the comment)
            removed = True
            i += 1
            continue
        kept.append(lines[i])
        i += 1
    if removed:
        _write(user_config, "\n".join(kept) + ("\n" if kept else ""))
    return removed


# ---------------------------------------------------------------- docker context


def docker_context_host(name: str, docker: str | None = None) -> str | None:
    """The Docker endpoint of context `swarmwiz-NAME` (None when there is no such context or no docker CLI)."""
    docker = docker or shutil.which("docker")
    if not docker:
        return None
    try:
        done = subprocess.run(
            [docker, "context", "inspect", f"swarmwiz-{name}"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    with contextlib.suppress(ValueError, KeyError, IndexError, TypeError):
        return json.loads(done.stdout)[0]["Endpoints"]["docker"]["Host"]
    return None


def remove_docker_context(name: str, expected_host: str, docker: str | None = None) -> str | None:
    """Remove context `swarmwiz-NAME` if it still points where swarmwiz pointed it; a sentence, or None."""
    docker = docker or shutil.which("docker")
    host = docker_context_host(name, docker)
    if not docker or host is None:
        return None
    context = f"swarmwiz-{name}"
    if host != expected_host:
        return f"kept the Docker context {context}: it now points at {host}, not where swarmwiz pointed it"
    try:
        done = subprocess.run([docker, "context", "rm", "--force", context], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"could not remove the Docker context {context}: {type(exc).__name__}"
    if done.returncode != 0:
        return f"could not remove the Docker context {context}: {done.stderr.strip()[:200]}"
    return f"removed the Docker context {context}"


# ---------------------------------------------------------------- after deploy, after destroy


def set_up(
    workspace: Any,
    hosts: Mapping[str, str],
    identity: Path | None,
    *,
    include_config: bool,
    user_config: Path | None = None,
    docker_context: Any = None,
) -> list[str]:
    """After a deploy: write the cluster's SSH config, include it when consented, point the Docker context at the
    first manager (by alias when included, else by address); records what it did in the workspace's metadata.
    `docker_context(name, host)` creates the context (pipeline.ensure_docker_context). Returns sentences."""
    name = workspace.name
    user_config = user_config or user_config_path()
    config = write_cluster_config(workspace, hosts, identity)
    said = [f"SSH config for {len(hosts)} nodes: {config}"]
    included = False
    if include_config:
        included = True
        if include(name, config, user_config):
            said.append(f"Added `Include {config}` to {user_config}: `ssh {_first_manager(hosts, name)}` works now")
    elif not is_included(name, config, user_config):
        # Worded for every frontend (the wizard has no --ssh-config flag): what to add by hand to drop the -F.
        said.append(
            f"ssh -F {config} {_first_manager(hosts, name)}  (add `Include {config}` to {user_config} to drop -F)"
        )
    else:
        included = True
    record: dict[str, Any] = {"ssh_config": str(config), "included_in": str(user_config) if included else None}
    manager = _first_manager(hosts, name)
    if docker_context is not None and manager in hosts:
        target = manager if included else hosts[manager]
        done = docker_context(name, target)
        if done:
            said.append(done)
            record["docker_host"] = f"ssh://root@{target}"
    meta = workspace.meta()
    meta[META_KEY] = record
    workspace.write_meta(meta)
    return said


def tear_down(workspace: Any, *, user_config: Path | None = None, docker: str | None = None) -> list[str]:
    """After a destroy: remove the Include line, the cluster's SSH config and the Docker context swarmwiz made."""
    name = workspace.name
    record = workspace.meta().get(META_KEY) or {}
    config = Path(record.get("ssh_config") or Path(workspace.path) / CONFIG_NAME)
    said = []
    where = Path(record["included_in"]) if record.get("included_in") else (user_config or user_config_path())
    if exclude(name, config, user_config or where):
        said.append(f"removed the Include of {config} from {user_config or where}")
    if config.exists():
        config.unlink()
        said.append(f"removed {config}")
    if record.get("docker_host"):
        done = remove_docker_context(name, record["docker_host"], docker)
        if done:
            said.append(done)
    meta = workspace.meta()
    if meta.pop(META_KEY, None) is not None:
        workspace.write_meta(meta)
    return said


def _first_manager(hosts: Mapping[str, str], name: str) -> str:
    managers = sorted(a for a in hosts if a.startswith(f"{name}-manager-"))
    return managers[0] if managers else f"{name}-manager-1"
