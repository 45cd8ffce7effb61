"""Docker Swarm over SSH: idempotent bootstrap, status with quorum health, and safe scale-down."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from swarmwiz.core import ssh
from swarmwiz.core.errors import InputError, RemoteError
from swarmwiz.core.status import ClusterStatus, NodeStatus

log = logging.getLogger(__name__)

SWARM_PORT = 2377
# `docker swarm join` takes its token only as an argument; a fixed script reads it from stdin so that it
# never appears in an SSH command line (asyncssh logs those) nor in a log or an error message here.
# The token arrives on stdin (never on a command line); after joining, the node prints its swarm node ID so the
# bootstrap needs no second round trip to learn it.
_JOIN_SCRIPT = (
    'IFS= read -r token && docker swarm join --token "$token" "$@" >&2 && docker info --format \'{{.Swarm.NodeID}}\''
)


@dataclass(frozen=True)
class Node:
    """A cluster node as Terraform describes it; `key` is the module's name for it ("manager-1")."""

    key: str
    name: str  # hostname
    role: str  # "manager" | "worker"
    zone: str
    public_ip: str
    private_ip: str

    @property
    def label(self) -> str:
        return f"{self.key} ({self.public_ip})"


@dataclass
class _Remote:
    """Connection parameters shared by every call in one operation."""

    known_hosts: Path
    client_keys: list[Path] | None
    username: str
    connect_timeout: float


# ----- bootstrap --------------------------------------------------------------------------------------------


async def bootstrap(
    nodes: list[Node],
    *,
    known_hosts: Path,
    client_keys: list[Path] | None = None,
    on_log: Callable[[str], None] = lambda line: None,
    timeout: float = 300,
    username: str = "root",
) -> None:
    """Make `nodes` one swarm; only what is missing is done, so a second run changes nothing.

    The first reachable manager inits (unless a manager is already in a swarm); the others join in parallel,
    advertising and carrying data on their private address. Join tokens stay in this function's memory.
    """
    managers = [n for n in nodes if n.role == "manager"]
    if not managers:
        raise InputError("a swarm needs at least one manager node")
    for node in nodes:
        if not node.private_ip or not node.public_ip:
            raise InputError(
                f"{node.key} has no {'private' if not node.private_ip else 'public'} IP; swarm "
                "traffic is advertised on the private network and SSH goes to the public IP"
            )
    if len(managers) % 2 == 0:
        on_log(
            f"warning: {len(managers)} managers tolerate no more failures than {len(managers) - 1}; "
            "an odd number of managers is recommended"
        )
    remote = _Remote(known_hosts, client_keys, username, min(30.0, timeout))
    deadline = time.monotonic() + timeout
    async with _deadline(timeout, "the swarm bootstrap"), AsyncExitStack() as stack:
        conns = await _connect_all(nodes, remote, stack, on_log)
        infos = dict(zip(conns, await asyncio.gather(*(_swarm_info(conns[n], n) for n in conns)), strict=True))
        for node, info in infos.items():
            if info.get("LocalNodeState") == "locked":
                raise RemoteError(
                    f"{node.label}: the swarm is locked (autolock); unlock it with "
                    "`docker swarm unlock` on that node, then run again"
                )
        reachable_managers = [m for m in managers if m in conns]
        if not reachable_managers:
            raise RemoteError("no manager is reachable over SSH; cannot bootstrap the swarm")
        lead = next((m for m in reachable_managers if infos[m].get("ControlAvailable")), None)
        if lead is None:
            lead = reachable_managers[0]
            on_log(f"{lead.key}: docker swarm init (advertise {lead.private_ip})")
            await _leave_if_stuck(conns[lead], lead, infos[lead], on_log)
            await ssh.run(
                conns[lead],
                ["docker", "swarm", "init", "--advertise-addr", lead.private_ip, "--data-path-addr", lead.private_ip],
            )
            infos[lead] = await _swarm_info(conns[lead], lead)
        else:
            on_log(f"{lead.key}: already a manager of the swarm")
        members = await _node_ls(conns[lead], lead)
        member_ids = {m["ID"] for m in members}
        tokens = {}
        to_join = []
        for node in conns:
            if node == lead:
                continue
            info = infos[node]
            if info.get("LocalNodeState") == "active" and info.get("NodeID") in member_ids:
                await _converge_role(conns[lead], lead, node, info, members, on_log)
                continue
            to_join.append(node)
        for role in sorted({n.role for n in to_join}):
            # `-q` prints only the token; it stays in this dict and goes to the nodes over stdin.
            tokens[role] = (await ssh.run(conns[lead], ["docker", "swarm", "join-token", "-q", role])).strip()
        results = await asyncio.gather(
            *(_join(conns[n], n, infos[n], lead, tokens[n.role], on_log) for n in to_join), return_exceptions=True
        )
        tokens.clear()
        # Every join runs to its end (none is left half-done); then all failures are reported together.
        failures = [r for r in results if isinstance(r, BaseException)]
        if any(not isinstance(f, RemoteError) for f in failures):
            raise next(f for f in failures if not isinstance(f, RemoteError))
        if failures:
            raise RemoteError("; ".join(f.message for f in failures))
        for node, node_id in zip(to_join, results, strict=True):
            infos[node] = {"LocalNodeState": "active", "NodeID": node_id}
        await _wait_ready(conns[lead], lead, list(conns), on_log, limit=max(1.0, deadline - time.monotonic() - 1))
        current = {n.name: infos[n].get("NodeID") for n in conns}
        await _remove_stale_entries(conns[lead], lead, nodes, leaving=[], on_log=on_log, current=current)
        missing = [n for n in nodes if n not in conns]
        if missing:
            raise RemoteError(
                "could not reach "
                + ", ".join(n.label for n in missing)
                + " over SSH; the rest of the swarm is up. Run again once they answer."
            )


async def _join(conn, node: Node, info: dict, lead: Node, token: str, on_log) -> str:
    await _leave_if_stuck(conn, node, info, on_log)
    on_log(f"{node.key}: joining as {node.role} via {lead.private_ip}:{SWARM_PORT}")
    args = ["--advertise-addr", node.private_ip, "--data-path-addr", node.private_ip, f"{lead.private_ip}:{SWARM_PORT}"]
    node_id = await ssh.run(
        conn,
        ["sh", "-c", _JOIN_SCRIPT, "sh", *args],
        input=token + "\n",
        redact=(token,),
        display=["docker", "swarm", "join", *args],
    )
    on_log(f"{node.key}: joined as {node.role}")
    return node_id.strip()


async def _leave_if_stuck(conn, node: Node, info: dict, on_log) -> None:
    """A node half-joined ("pending"/"error") or in another swarm must leave before it can join ours."""
    if info.get("LocalNodeState") in ("pending", "error", "active"):
        on_log(f"{node.key}: leaving a swarm it cannot use (state {info.get('LocalNodeState')})")
        await ssh.run(conn, ["docker", "swarm", "leave", "--force"])


async def _converge_role(conn, lead: Node, node: Node, info: dict, members: list[dict], on_log) -> None:
    entry = next((m for m in members if m["ID"] == info.get("NodeID")), None)
    is_manager = bool(entry and entry.get("ManagerStatus"))
    if node.role == "manager" and not is_manager:
        on_log(f"{node.key}: promoting to manager")
        await ssh.run(conn, ["docker", "node", "promote", info["NodeID"]])
    elif node.role == "worker" and is_manager:
        on_log(f"{node.key}: demoting to worker")
        await ssh.run(conn, ["docker", "node", "demote", info["NodeID"]])
    else:
        on_log(f"{node.key}: already in the swarm as {node.role}")


async def _wait_ready(conn, lead: Node, nodes: list[Node], on_log, *, limit: float) -> None:
    """Poll `docker node ls` until every node's hostname has a Ready entry; the timeout names the laggards."""
    wanted = {n.name for n in nodes}
    started = time.monotonic()
    # A join usually shows Ready within a few hundred ms: poll tightly first, then back off to 0.5 s so a slow
    # node does not cost the leader a `docker node ls` ten times a second.
    interval = 0.1
    while True:
        ready = {m["Hostname"] for m in await _node_ls(conn, lead) if m.get("Status") == "Ready"}
        if wanted <= ready:
            on_log(f"all {len(wanted)} nodes Ready ({time.monotonic() - started:.1f}s)")
            return
        if time.monotonic() - started > limit:
            raise RemoteError(
                f"timed out after {limit:.0f}s waiting for {', '.join(sorted(wanted - ready))} "
                "to be Ready in `docker node ls`"
            )
        await asyncio.sleep(interval)
        interval = min(0.5, interval * 1.5)


# ----- status -----------------------------------------------------------------------------------------------


async def status(
    nodes: list[Node],
    *,
    known_hosts: Path,
    client_keys: list[Path] | None = None,
    timeout: float = 60,
    username: str = "root",
) -> ClusterStatus:
    """Docker's node list from the first manager that answers, merged with `nodes`; never raises for a
    down cluster: `error` says why, and every node is then "Unknown"."""
    remote = _Remote(known_hosts, client_keys, username, min(10.0, timeout))
    managers = [n for n in nodes if n.role == "manager"]
    errors = []
    trying = None
    try:
        async with _deadline(timeout, "the swarm status"):
            for manager in managers:
                trying = manager
                try:
                    async with _connection(manager, remote) as conn:
                        members = await _node_ls(conn, manager)
                    result = _merge(nodes, members, source=manager.key)
                    result.unreachable = [m.key for m in managers[: managers.index(manager)]]
                    return result
                except RemoteError as exc:
                    errors.append(exc.message)
    except RemoteError as exc:
        errors.append(f"{exc.message} (asking {trying.label})" if trying else exc.message)
    error = "; ".join(errors) or "the cluster has no manager node"
    return ClusterStatus(nodes=[_unknown(n) for n in nodes], error=error)


def _merge(nodes: list[Node], members: list[dict], *, source: str) -> ClusterStatus:
    by_name: dict[str, list[dict]] = {}
    for m in members:
        by_name.setdefault(m["Hostname"], []).append(m)
    rows, used = [], set()
    for node in nodes:
        entries = sorted(by_name.get(node.name, []), key=lambda m: m.get("Status") != "Ready")
        if not entries:
            rows.append(_unknown(node))
            continue
        used.add(entries[0]["ID"])
        rows.append(_row(entries[0], node))
    # Entries Terraform does not know (leftovers of an earlier run) are shown too: they affect quorum.
    rows += [_row(m, None) for m in members if m["ID"] not in used]
    managers = [m for m in members if m.get("ManagerStatus")]
    leader = next((m["Hostname"] for m in managers if m["ManagerStatus"] == "Leader"), None)
    reachable = sum(1 for m in managers if m["ManagerStatus"] in ("Leader", "Reachable"))
    return ClusterStatus(
        nodes=rows, leader=leader, managers_reachable=reachable, managers_total=len(managers), source=source
    )


def _row(member: dict, node: Node | None) -> NodeStatus:
    status = member.get("Status", "Unknown")
    return NodeStatus(
        hostname=member["Hostname"],
        role="manager" if member.get("ManagerStatus") else "worker",
        status=status if status in ("Ready", "Down") else "Unknown",
        availability=member.get("Availability", ""),
        manager_status=member.get("ManagerStatus", ""),
        engine_version=member.get("EngineVersion", ""),
        zone=node.zone if node else "",
        public_ip=node.public_ip if node else "",
        private_ip=node.private_ip if node else "",
        node_id=member["ID"],
        key=node.key if node else "",
    )


def _unknown(node: Node) -> NodeStatus:
    return NodeStatus(
        hostname=node.name,
        role=node.role,
        status="Unknown",
        availability="",
        manager_status="",
        engine_version="",
        zone=node.zone,
        public_ip=node.public_ip,
        private_ip=node.private_ip,
        key=node.key,
    )


# ----- scale down -------------------------------------------------------------------------------------------


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
            await ssh.run(conn, ["docker", "node", "demote", node_id])
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
    await ssh.run(conn, ["docker", "node", "update", "--availability", "drain", node_id])
    await _poll(lambda: _no_tasks(conn, lead, node_id), f"tasks to leave {node.key}", limit=limit)


async def _leave(node: Node, remote: _Remote, on_log) -> None:
    try:
        async with _connection(node, remote) as conn:
            on_log(f"{node.key}: docker swarm leave")
            await ssh.run(conn, ["docker", "swarm", "leave", "--force"], timeout=60)
    except RemoteError as exc:
        on_log(f"{node.key}: not reachable, removing it from the managers' side only ({exc.message})")


async def _remove_stale_entries(
    conn, lead: Node, nodes: list[Node], *, leaving: list[Node], on_log, current: dict[str, str] | None = None
) -> None:
    """Remove entries left by earlier runs: Down ones with a leaving hostname, Down duplicates of a hostname
    that also has a live entry, and any entry of a hostname whose node now runs under another ID (a server
    that left and joined again: its old entry shows Ready until the managers notice)."""
    members = await _node_ls(conn, lead)
    leaving_names = {n.name for n in leaving}
    live_names = {m["Hostname"] for m in members if m.get("Status") != "Down"}
    known = {n.name for n in nodes} | leaving_names
    current = {name: node_id for name, node_id in (current or {}).items() if node_id}
    for m in members:
        name = m["Hostname"]
        if name not in known:
            continue
        replaced = name in current and m["ID"] != current[name]
        down_leftover = m.get("Status") == "Down" and (name in leaving_names or name in live_names)
        if replaced or down_leftover:
            on_log(f"{name}: removing a leftover of an earlier run ({m.get('Status')}, id {m['ID'][:12]})")
            if m.get("ManagerStatus"):
                await ssh.run(conn, ["docker", "node", "demote", m["ID"]])
            await ssh.run(conn, ["docker", "node", "rm", "--force", m["ID"]])


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


# ----- plumbing ---------------------------------------------------------------------------------------------


@asynccontextmanager
async def _deadline(seconds: float, what: str):
    """asyncio.timeout that turns expiry into a RemoteError saying what was waited for."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise RemoteError(f"timed out after {seconds:g}s waiting for {what}") from None


@asynccontextmanager
async def _connection(node: Node, remote: _Remote):
    conn = await ssh.connect(
        node.public_ip,
        known_hosts=remote.known_hosts,
        client_keys=remote.client_keys,
        username=remote.username,
        connect_timeout=remote.connect_timeout,
        node=node.key,
    )
    try:
        yield conn
    finally:
        conn.close()


async def _connect_all(nodes: list[Node], remote: _Remote, stack: AsyncExitStack, on_log) -> dict:
    """Connections to every node that answers; a changed host key is never tolerated."""
    results = await asyncio.gather(
        *(stack.enter_async_context(_connection(n, remote)) for n in nodes), return_exceptions=True
    )
    conns = {}
    for node, result in zip(nodes, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, RemoteError) or result.title == "SSH host key changed":
                raise result
            on_log(f"{node.key}: unreachable: {result.message}")
            continue
        conns[node] = result
    return conns


async def _first_reachable(nodes: list[Node], remote: _Remote, stack: AsyncExitStack):
    errors = []
    for node in nodes:
        try:
            return node, await stack.enter_async_context(_connection(node, remote))
        except RemoteError as exc:
            if exc.title == "SSH host key changed":
                raise
            errors.append(exc.message)
    raise RemoteError("no remaining manager is reachable: " + "; ".join(errors))


async def _swarm_info(conn, node: Node) -> dict:
    out = await ssh.run(conn, ["docker", "info", "--format", "{{json .Swarm}}"])
    try:
        return json.loads(out)
    except ValueError:
        raise RemoteError(f"{node.label}: unexpected `docker info` output: {out.strip()[:200]}") from None


async def _node_ls(conn, node: Node) -> list[dict]:
    out = await ssh.run(conn, ["docker", "node", "ls", "--format", "{{json .}}"])
    try:
        return [json.loads(line) for line in out.splitlines() if line.strip()]
    except ValueError:
        raise RemoteError(f"{node.label}: unexpected `docker node ls` output: {out.strip()[:200]}") from None
