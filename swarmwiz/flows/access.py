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


def set_up_access(pipeline, result, *, consent: bool, ask=None) -> list[str]:
    """After a deploy: the cluster's SSH config (node aliases, pinned host keys), included from the user's
    ~/.ssh/config when `consent` (or when `ask(question)` says yes), and the Docker context on the manager alias.
    Returns the sentences saying what was done."""
    from swarmwiz.flows import ssh_config

    name = pipeline.spec.name
    hosts = {f"{name}-{n.key}" if n.key else n.hostname: n.public_ip for n in result.nodes if n.public_ip}
    if not hosts:
        return []
    user_config = ssh_config.user_config_path()
    if not consent and ask is not None:
        if ssh_config.is_included(name, pipeline.workspace.path / ssh_config.CONFIG_NAME, user_config):
            consent = True
        else:
            consent = ask(f"Add one Include line to {user_config} so that `ssh {name}-manager-1` works? [y/N] ")
    managers_ready = any(n.role == "manager" and n.status == "Ready" for n in result.nodes)
    return list(
        ssh_config.set_up(
            pipeline.workspace,
            hosts,
            pipeline.spec.ssh_private_key_path,
            include_config=consent,
            user_config=user_config,
            docker_context=ensure_docker_context if managers_ready else None,
        )
    )


def access_hints(pipeline, status) -> list[str]:
    """How to reach the swarm of `pipeline` (its spec and workspace) whose ClusterStatus is `status`: by the node
    alias of the cluster's SSH config and the Docker context once access is set up (set_up_access records it in the
    workspace's metadata), else by address with the pinned keys."""
    managers = [n for n in status.nodes if n.role == "manager" and n.public_ip]
    if not managers:
        return []
    name = pipeline.spec.name
    alias = f"{name}-{managers[0].key}" if managers[0].key else managers[0].hostname
    access = pipeline.workspace.meta().get("access") or {}
    hints: list[str] = []
    if access.get("included_in"):
        hints.append(f"ssh {alias}")
    elif access.get("ssh_config"):
        hints.append(f"ssh -F {access['ssh_config']} {alias}")
    else:
        key = pipeline.spec.ssh_private_key_path
        ident = f" -i {key}" if key else ""
        hints.append(
            f"ssh -o UserKnownHostsFile={pipeline.workspace.known_hosts_path}{ident} root@{managers[0].public_ip}"
        )
    if not access.get("docker_host"):
        target = alias if access.get("included_in") else managers[0].public_ip
        hints.append(f"docker context create swarmwiz-{name} --docker host=ssh://root@{target}")
    hints.append(f"docker --context swarmwiz-{name} node ls")
    return hints


def recording(pipeline, operation: str):
    """The run log of one deploy, destroy or status run (core/runlog.py), masking the run's credentials."""
    from swarmwiz.core.runlog import recording as record

    return record(pipeline.workspace, operation, pipeline.secrets)
