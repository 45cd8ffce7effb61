"""Access after a deploy: the Docker context `swarmwiz-NAME` that points the docker CLI at a manager over SSH."""

from __future__ import annotations

import os
import shutil
import subprocess

DOCKER_TIMEOUT_S = 20


def ensure_docker_context(name: str, manager_ip: str, *, docker: str | None = None) -> str | None:
    """Create (or point at a new manager) the Docker context `swarmwiz-NAME` when the docker CLI is installed.

    Returns a sentence saying what was done, or None when there is no docker CLI (or SWARMWIZ_NO_DOCKER_CONTEXT is
    set). The context reaches the manager over SSH, so plain `ssh root@IP` must trust the node's host key (the
    workspace's known_hosts holds it).
    """
    docker = docker or shutil.which("docker")
    if not docker or os.environ.get("SWARMWIZ_NO_DOCKER_CONTEXT"):
        return None
    context = f"swarmwiz-{name}"
    endpoint = f"host=ssh://root@{manager_ip}"
    exists = (
        subprocess.run([docker, "context", "inspect", context], capture_output=True, timeout=DOCKER_TIMEOUT_S)
    ).returncode == 0
    verb = "update" if exists else "create"
    argv = [docker, "context", verb, context, "--docker", endpoint]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=DOCKER_TIMEOUT_S)
    if done.returncode != 0:
        return f"could not {verb} the Docker context {context}: {done.stderr.strip()[:200]}"
    return f"Docker context {context} {'updated' if exists else 'created'} (ssh://root@{manager_ip})"
