"""Scale-down over SSH: leaving nodes are demoted, drained, made to leave and removed from the swarm, one quorum-safe
step at a time, before Terraform destroys their servers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path

from swarmwiz.core import ssh
from swarmwiz.core.errors import InputError, RemoteError
from swarmwiz.core.swarm import (
    Node,
    _connection,
    _deadline,
    _first_reachable,
    _node_ls,
    _Remote,
    _remove_stale_entries,
)


async def remove_nodes(
    managers: list[Node],
    leaving: list[Node],
    *,
    known_hosts: Path,
    client_keys: list[Path] | None = None,
    on_log: Callable[[str], None] = lambda line: None,
    timeout: float = 300,
    username: str = "root",
    drain_timeout: float = 120,
) -> None:
    """Take `leaving` out of the swarm before their servers are destroyed, keeping the managers' quorum.

    Leaving managers are demoted one at a time, then each node is drained, its tasks waited for, it leaves
    the swarm (if reachable) and is removed from a remaining manager; Down leftovers with the same hostnames
    go too. Refuses (InputError) to remove a majority of the managers at once.
    """
    leaving_names = {n.name for n in leaving}
    remaining = [m for m in managers if m.name not in leaving_names and m.role == "manager"]
    if not remaining:
        raise InputError("cannot remove every manager: at least one manager must stay to run the swarm")
    remote = _Remote(known_hosts, client_keys, username, min(30.0, timeout))
    async with _deadline(timeout, "the removal of " + ", ".join(n.key for n in leaving)), AsyncExitStack() as stack:
        lead, conn = await _first_reachable(remaining, remote, stack)
        members = await _node_ls(conn, lead)
        live = {m["Hostname"]: m for m in members if m.get("Status") != "Down"}
        current_managers = [m for m in members if m.get("ManagerStatus") and m.get("Status") != "Down"]
        leaving_managers = [n for n in leaving if n.name in live and live[n.name].get("ManagerStatus")]
        if leaving_managers and len(leaving_managers) > len(current_managers) / 2:
            raise InputError(
                f"removing {len(leaving_managers)} of {len(current_managers)} managers at once would lose the "
                "swarm's quorum (a majority must stay); remove at most "
                f"{(len(current_managers) - 1) // 2} per run and run again"
            )
        if (len(current_managers) - len(leaving_managers)) % 2 == 0 and leaving_managers:
            on_log(
                f"warning: {len(current_managers) - len(leaving_managers)} managers left; an odd number "
                "tolerates the same failures with one node less"
            )
        for node in leaving_managers:
            node_id = live[node.name]["ID"]
            on_log(f"{node.key}: demoting to worker")
            await _update_node(conn, ["docker", "node", "demote", node_id])
            await _poll(lambda nid=node_id: _is_worker(conn, lead, nid), f"{node.key} to become a worker")
        present = [n for n in leaving if n.name in live]
        # The nodes of one step drain together (sessions on one connection): their tasks reschedule at once,
        # so the step takes as long as its slowest node, not the sum of all of them.
        await asyncio.gather(*(_drain(conn, lead, n, live[n.name]["ID"], on_log, drain_timeout) for n in present))
        await asyncio.gather(*(_leave(n, remote, on_log) for n in present))
        if present:
            # The managers mark a node that left Down only after missed heartbeats (~15 s); it is drained
            # and gone (or unreachable), so --force removes it now instead of waiting for that.
            on_log(", ".join(n.key for n in present) + ": removing from the swarm")
            await ssh.run(conn, ["docker", "node", "rm", "--force", *(live[n.name]["ID"] for n in present)])
        await _remove_stale_entries(conn, lead, remaining, leaving=leaving, on_log=on_log)


async def _drain(conn, lead: Node, node: Node, node_id: str, on_log, limit: float) -> None:
    on_log(f"{node.key}: draining")
    await _update_node(conn, ["docker", "node", "update", "--availability", "drain", node_id])
    await _poll(lambda: _no_tasks(conn, lead, node_id), f"tasks to leave {node.key}", limit=limit)


async def _update_node(conn, argv: list[str], *, attempts: int = 6) -> None:
    """A node update that retries Docker's "update out of sequence" (bounded, with backoff): the CLI sends the node
    object's version it just read, and the orchestrator may change the object in between (a demotion settling, a
    drain of another node of the same step), which refuses the update. Any other failure is raised at once."""
    for attempt in range(attempts):
        try:
            await ssh.run(conn, argv)
            return
        except RemoteError as exc:
            if "update out of sequence" not in exc.message or attempt == attempts - 1:
                raise
            await asyncio.sleep(min(2.0, 0.1 * 2**attempt))


async def _leave(node: Node, remote: _Remote, on_log) -> None:
    try:
        async with _connection(node, remote) as conn:
            on_log(f"{node.key}: docker swarm leave")
            await ssh.run(conn, ["docker", "swarm", "leave", "--force"], timeout=60)
    except RemoteError as exc:
        on_log(f"{node.key}: not reachable, removing it from the managers' side only ({exc.message})")


async def _is_worker(conn, lead: Node, node_id: str) -> bool:
    return not any(m["ID"] == node_id and m.get("ManagerStatus") for m in await _node_ls(conn, lead))


async def _no_tasks(conn, lead: Node, node_id: str) -> bool:
    out = await ssh.run(
        conn, ["docker", "node", "ps", node_id, "--filter", "desired-state=running", "--format", "{{.ID}}"]
    )
    return not out.strip()


async def _poll(check, what: str, *, limit: float = 60, interval: float = 0.5) -> None:
    """Wait until `check()` is true, at most `limit` seconds; the message says what was waited for."""
    deadline = time.monotonic() + limit
    while not await check():
        if time.monotonic() > deadline:
            raise RemoteError(f"timed out after {limit:g}s waiting for {what}")
        await asyncio.sleep(interval)
