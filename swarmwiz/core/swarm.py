"""Docker Swarm over SSH: idempotent bootstrap and status with quorum health (scale-down: core/scaledown.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from swarmwiz.core import ssh
from swarmwiz.core.errors import InputError, RemoteError
from swarmwiz.core.status import ClusterStatus, NodeStatus

log = logging.getLogger(__name__)

SWARM_PORT = 2377
# `docker swarm join` stops waiting after its own timeout on a busy manager and says the join "will continue in the
# background" (exit 1); seen in the lab when 50 nodes joined under load. The join is then watched to its end.
_JOIN_GOES_ON = "will continue in the background"
JOIN_SETTLE_S = 120.0
# cloud-init's final stage installs Docker one to two minutes after sshd answers on a real server; a node still
# busy after ten minutes is stuck (a package mirror down, a failing custom image), and waiting longer fixes nothing.
CLOUD_INIT_TIMEOUT = 600.0
# At most this many `docker swarm join` run at once: 50 nodes joining together overloaded the first manager's raft
# in a 50-node lab benchmark; the others wait for a slot, which costs little since a join takes about a second.
JOINS_AT_ONCE = 8
# A join slower than this means the manager (its CPU, its raft log) is not keeping up: fewer join at once (half), and
# each join faster than it lets one more in again, up to JOINS_AT_ONCE. A join on a manager that keeps up takes
# 0.2-2 s; Docker itself stops waiting after 20 s.
JOIN_SLOW_S = 8.0
# A join that failed on the way is tried again (JOIN_ATTEMPTS in all) when its error says the manager was busy or out
# of reach: seen in the 50-node lab ("context deadline exceeded", "no route to host" from an overflowing ARP table).
JOIN_ATTEMPTS = 2
_JOIN_TRANSIENT = (
    "context deadline exceeded",
    "code = Unavailable",
    "no route to host",
    "connection refused",
    "timed out after",  # swarmwiz's own bound on the join command
    "still joining",  # pending JOIN_SETTLE_S after Docker's timeout
)
_CLOUD_INIT_PROBLEM = "Cloud-init not finished"
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
    server_id: str = ""  # Terraform's id ("fr-par-1/<uuid>"): where its published host key fingerprints are read

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


class _JoinGate:
    """How many joins run at once, adapting to how fast they complete: at most `most`; a join slower than `slow`
    seconds halves the number (once for all the joins that were running together: they slowed for one reason),
    each faster one adds one back (additive increase, multiplicative decrease). Never fewer than one."""

    def __init__(self, most: int = JOINS_AT_ONCE, slow: float = JOIN_SLOW_S) -> None:
        self.most, self.slow = most, slow
        self.limit = most
        self.running = 0
        self.on_change: Callable[[str], None] = lambda line: None
        self._cut_at = float("-inf")  # when the limit was last halved
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def slot(self):
        async with self._changed:
            await self._changed.wait_for(lambda: self.running < self.limit)
            self.running += 1
        started = time.monotonic()
        try:
            yield
        finally:
            took = time.monotonic() - started
            async with self._changed:
                self.running -= 1
                if took > self.slow and started >= self._cut_at:
                    if self.limit > 1:
                        self.limit = max(1, self.limit // 2)
                        self.on_change(f"a join took {took:.0f}s: the manager is busy, {self.limit} now join at once")
                    self._cut_at = time.monotonic()
                elif took <= self.slow and self.limit < self.most:
                    self.limit += 1
                self._changed.notify_all()


# Failures no retry or other node can fix: they stop the whole bootstrap at once.
_FATAL = ("SSH host key changed", "Swarm locked")


@dataclass
class _Answer:
    """A node that answered: its open connection and its `docker info` swarm section."""

    conn: ssh.Connection
    info: dict


@dataclass
class _Run:
    """One bootstrap: what every per-node task shares (the lead, its member list, the join tokens)."""

    nodes: list[Node]
    remote: _Remote
    stack: AsyncExitStack
    on_log: Callable[[str], None]
    answers: dict[Node, asyncio.Task] = field(default_factory=dict)
    lead: Node | None = None
    members: list[dict] = field(default_factory=list)
    silent_managers: list[Node] = field(default_factory=list)  # managers that did not answer
    tokens: dict[str, str] = field(default_factory=dict)  # role -> join token, in memory only
    token_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    join_slots: _JoinGate = field(default_factory=lambda: _JoinGate())
    on_ready: Callable[[Node], None] = lambda node: None
    on_member: Callable[[Node], None] = lambda node: None
    connect: Callable[[Node], Awaitable[ssh.Connection]] | None = None
    cloud_init_timeout: float = CLOUD_INIT_TIMEOUT
    problems: dict[Node, RemoteError] = field(default_factory=dict)  # why a node did not answer

    @property
    def managers(self) -> list[Node]:
        return [n for n in self.nodes if n.role == "manager"]


async def bootstrap(
    nodes: list[Node],
    *,
    known_hosts: Path,
    client_keys: list[Path] | None = None,
    on_log: Callable[[str], None] = lambda line: None,
    on_ready: Callable[[Node], None] = lambda node: None,
    on_member: Callable[[Node], None] = lambda node: None,
    connect: Callable[[Node], Awaitable[ssh.Connection]] | None = None,
    connect_wait: float = 0.0,
    timeout: float = 300,
    cloud_init_timeout: float = CLOUD_INIT_TIMEOUT,
    username: str = "root",
    barrier: bool = False,
) -> ClusterStatus:
    """Make `nodes` one swarm; only what is missing is done, so a second run changes nothing. Returns the
    swarm's node list as the lead manager sees it at the end, read on the bootstrap's own connection.

    Each node gets one SSH connection for the whole run: `connect(node)` when given (a deploy's wait for SSH,
    which pins the node's host key; it may take up to `connect_wait` seconds), else one checked against
    `known_hosts`. Then it is waited for until cloud-init has finished (it installs Docker after sshd answers),
    at most `cloud_init_timeout` seconds; `on_ready(node)` is called when it has, `on_member(node)` once it is
    in the swarm, and the swarm work is bounded by `timeout`.

    A new swarm is initialised on the first manager only when every manager answered and none is in a swarm:
    a manager that does not answer may hold the swarm, and a second one would split the cluster. Each other
    node joins as soon as it has answered (no barrier), advertising and carrying data on its private address.
    Join tokens stay in this function's memory and are rotated once the nodes have joined.

    `barrier` is the old scheduling, kept only as a benchmark variant (SWARMWIZ_SCHEDULING=barrier): every node
    waits for the slowest node's cloud-init before the swarm is initialised and anything joins.
    """
    _check_nodes(nodes, on_log)
    remote = _Remote(known_hosts, client_keys, username, min(30.0, timeout))
    budget = connect_wait + cloud_init_timeout + timeout
    deadline = time.monotonic() + budget
    async with _deadline(budget, "the swarm bootstrap"), AsyncExitStack() as stack:
        run = _Run(nodes, remote, stack, on_log, on_ready=on_ready, on_member=on_member, connect=connect)
        run.join_slots.on_change = on_log
        run.cloud_init_timeout = cloud_init_timeout
        run.answers = {n: asyncio.ensure_future(_answer(run, n)) for n in nodes}
        try:
            if barrier:
                on_log(f"barrier scheduling: waiting for all {len(nodes)} nodes' cloud-init before any swarm work")
                await asyncio.gather(*(_outcome(run, n) for n in nodes))
            await _find_or_init_lead(run)
            joined = await _join_all(run)
            reached = [n for n in nodes if _answered(run, n)]
            limit = max(1.0, deadline - time.monotonic() - 1)
            lead_conn = run.answers[run.lead].result().conn
            await _wait_ready(lead_conn, run.lead, reached, on_log, limit=limit)
            current = {n.name: run.answers[n].result().info.get("NodeID") for n in reached} | joined
            await _remove_stale_entries(lead_conn, run.lead, nodes, leaving=[], on_log=on_log, current=current)
            if run.tokens:
                await _rotate_tokens(run, lead_conn)
            result = _merge(nodes, await _node_ls(lead_conn, run.lead), source=run.lead.key)
        finally:
            run.tokens.clear()
            for task in run.answers.values():
                task.cancel()
            await asyncio.gather(*run.answers.values(), return_exceptions=True)
        if run.problems:
            raise _problems(
                "; ".join(e.message for e in run.problems.values())
                + "; the rest of the swarm is up. Run again once they are ready.",
                title=_CLOUD_INIT_PROBLEM
                if all(e.title == _CLOUD_INIT_PROBLEM for e in run.problems.values())
                else "Nodes not answering",
                problems=run.problems,
            )
        return result


def _problems(message: str, *, title: str, problems: dict[Node, RemoteError]) -> RemoteError:
    """A RemoteError that also carries each node's own problem (`.problems`, by node key), so a caller that knows
    more about one kind of problem (a deploy: why SSH did not answer) can say so without parsing the message."""
    error = RemoteError(message, title=title)
    error.problems = {n.key: e for n, e in problems.items()}  # type: ignore[attr-defined]
    return error


def _check_nodes(nodes: list[Node], on_log) -> None:
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


async def _answer(run: _Run, node: Node) -> _Answer:
    """Connect to `node`, wait for its cloud-init, and read its swarm state; RemoteError when it does not
    answer or cloud-init did not finish."""
    if run.connect is None:
        conn = await run.stack.enter_async_context(_connection(node, run.remote))
    else:
        conn = await run.connect(node)
        run.stack.callback(conn.close)
    await wait_for_cloud_init(conn, node, timeout=run.cloud_init_timeout)
    run.on_ready(node)
    info = await _swarm_info(conn, node)
    if info.get("LocalNodeState") == "locked":
        raise RemoteError(
            f"{node.label}: the swarm is locked (autolock); unlock it with `docker swarm unlock` on that node, "
            "then run again",
            title="Swarm locked",
        )
    return _Answer(conn, info)


def _answered(run: _Run, node: Node) -> bool:
    task = run.answers.get(node)
    return bool(task and task.done() and not task.cancelled() and task.exception() is None)


async def _outcome(run: _Run, node: Node) -> _Answer | None:
    """The node's answer, None if it did not answer; a changed host key or a locked swarm stops everything."""
    try:
        return await run.answers[node]
    except RemoteError as exc:
        if exc.title in _FATAL:
            raise
        if node not in run.problems:
            run.problems[node] = exc
            run.on_log(f"{node.key}: {exc.message}")
        return None


async def _find_or_init_lead(run: _Run) -> None:
    """Set `run.lead` to a manager that controls the swarm, initialising one only when that is provably safe."""
    answers = dict(zip(run.managers, await asyncio.gather(*(_outcome(run, m) for m in run.managers)), strict=True))
    run.silent_managers = [m for m, a in answers.items() if a is None]
    run.lead = next((m for m, a in answers.items() if a and a.info.get("ControlAvailable")), None)
    if run.lead is not None:
        run.on_log(f"{run.lead.key}: already a manager of the swarm")
        run.members = await _node_ls(answers[run.lead].conn, run.lead)
        run.on_member(run.lead)
        return
    if run.silent_managers:
        raise _problems(
            f"not initialising a swarm because {_names(run.silent_managers)} did not answer and may already hold "
            "one (a second swarm would split the cluster); run again once every manager answers ("
            + "; ".join(run.problems[m].message for m in run.silent_managers)
            + ")",
            title="Managers not answering",
            problems={m: run.problems[m] for m in run.silent_managers},
        )
    in_swarm = [m for m, a in answers.items() if a.info.get("LocalNodeState") not in ("inactive", "", None)]
    if in_swarm:
        states = ", ".join(f"{m.key} is {answers[m].info.get('LocalNodeState')}" for m in in_swarm)
        raise RemoteError(
            f"not initialising a swarm because no manager controls one while {states} in a swarm; "
            "check with `docker info` on those nodes and run `docker swarm leave` there if the swarm is not yours",
            title="Swarm state unclear",
        )
    run.lead = run.managers[0]
    conn = answers[run.lead].conn
    run.on_log(f"{run.lead.key}: docker swarm init (advertise {run.lead.private_ip})")
    address = run.lead.private_ip
    await ssh.run(conn, ["docker", "swarm", "init", "--advertise-addr", address, "--data-path-addr", address])
    answers[run.lead].info = await _swarm_info(conn, run.lead)
    run.members = await _node_ls(conn, run.lead)
    run.on_member(run.lead)


async def _join_all(run: _Run) -> dict[str, str]:
    """Each node other than the lead joins (or converges its role) as soon as it answered; returns the new
    node IDs by hostname. Every join runs to its end, then all failures are reported together."""
    others = [n for n in run.nodes if n != run.lead]
    results = await asyncio.gather(*(_join_one(run, n) for n in others), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    fatal = [f for f in failures if not isinstance(f, RemoteError) or f.title in _FATAL]
    if fatal:
        raise fatal[0]
    if failures:
        raise RemoteError("; ".join(f.message for f in failures))
    return {n.name: node_id for n, node_id in zip(others, results, strict=True) if node_id}


async def _join_one(run: _Run, node: Node) -> str | None:
    """Join `node` unless it is a member already; returns its new node ID, None if nothing was joined."""
    if node in run.silent_managers:
        return None  # already reported as unreachable
    answer = await _outcome(run, node)
    if answer is None:
        return None
    lead_conn = run.answers[run.lead].result().conn
    member_ids = {m["ID"] for m in run.members}
    if answer.info.get("LocalNodeState") == "active" and answer.info.get("NodeID") in member_ids:
        await _converge_role(lead_conn, run.lead, node, answer.info, run.members, run.on_log)
        run.on_member(node)
        return None
    if answer.info.get("LocalNodeState") in ("pending", "error", "active"):
        if run.silent_managers:
            raise RemoteError(
                f"{node.key} is in a swarm this one does not list (state {answer.info.get('LocalNodeState')}); "
                f"not forcing it out while {_names(run.silent_managers)} did not answer"
            )
        run.on_log(f"{node.key}: leaving a swarm it cannot use (state {answer.info.get('LocalNodeState')})")
        await ssh.run(answer.conn, ["docker", "swarm", "leave", "--force"])
    async with run.token_lock:
        if node.role not in run.tokens:
            # `-q` prints only the token; it stays in this dict and goes to the nodes over stdin.
            out = await ssh.run(lead_conn, ["docker", "swarm", "join-token", "-q", node.role])
            run.tokens[node.role] = out.strip()
    async with run.join_slots.slot():
        node_id = await _join(answer.conn, node, run.lead, run.tokens[node.role], run.on_log)
    answer.info = {"LocalNodeState": "active", "NodeID": node_id}
    run.on_member(node)
    return node_id


async def wait_for_cloud_init(conn: ssh.Connection, node: Node, *, timeout: float = CLOUD_INIT_TIMEOUT) -> None:
    """Block until cloud-init has finished on `node` (`cloud-init status --wait`), at most `timeout` seconds.

    Raises RemoteError (title "Cloud-init not finished") naming the node, with the tail of its
    `cloud-init status --long`, when cloud-init failed, is missing, or is still running at the timeout.
    """
    try:
        out = await ssh.run(conn, ["cloud-init", "status", "--wait"], timeout=timeout, check=False)
    except RemoteError as exc:
        if "timed out" not in exc.message:
            raise
        reason = f"did not finish within {timeout:g}s"
    else:
        status = next((line[8:].strip() for line in out.splitlines() if line.startswith("status: ")), "")
        if status == "done":  # a recoverable error ("degraded done", exit 2) still installed what it could
            return
        reason = f"ended with status {status!r}" if status else "gave no status (is cloud-init installed?)"
    long = ""
    with contextlib.suppress(RemoteError):
        long = await ssh.run(conn, ["cloud-init", "status", "--long"], timeout=30, check=False)
    tail = " | ".join(line.strip() for line in long.strip().splitlines()[-7:] if line.strip())
    raise RemoteError(f"cloud-init on {node.label} {reason}" + (f": {tail}" if tail else ""), title=_CLOUD_INIT_PROBLEM)


async def _rotate_tokens(run: _Run, lead_conn) -> None:
    """New join tokens for both roles, so the ones handed out during this run can no longer join anything."""
    for role in ("worker", "manager"):
        await ssh.run(lead_conn, ["docker", "swarm", "join-token", "--rotate", "-q", role])
    run.on_log("join tokens rotated")


def _names(nodes: list[Node]) -> str:
    labels = [n.label for n in nodes]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


async def _join(conn, node: Node, lead: Node, token: str, on_log) -> str:
    """Join `node` through `lead`; returns its node ID. A join that failed on the way (the manager busy or briefly
    out of reach) is tried again, JOIN_ATTEMPTS in all, after the node left the half-made membership; any other
    failure (a wrong token, a refused certificate) is raised at once."""
    attempt = 1
    while True:
        try:
            return await _join_once(conn, node, lead, token, on_log)
        except RemoteError as exc:
            if attempt >= JOIN_ATTEMPTS or not any(mark in exc.message for mark in _JOIN_TRANSIENT):
                raise
            on_log(f"{node.key}: the join failed on the way ({exc.message}); leaving and joining again")
        # a join still pending or in error holds the node; leave it (a node in no swarm just says so: not checked)
        await ssh.run(conn, ["docker", "swarm", "leave", "--force"], check=False)
        attempt += 1


async def _join_once(conn, node: Node, lead: Node, token: str, on_log) -> str:
    on_log(f"{node.key}: joining as {node.role} via {lead.private_ip}:{SWARM_PORT}")
    args = ["--advertise-addr", node.private_ip, "--data-path-addr", node.private_ip, f"{lead.private_ip}:{SWARM_PORT}"]
    try:
        node_id = await ssh.run(
            conn,
            ["sh", "-c", _JOIN_SCRIPT, "sh", *args],
            input=token + "\n",
            redact=(token,),
            display=["docker", "swarm", "join", *args],
        )
    except RemoteError as exc:
        if _JOIN_GOES_ON not in exc.message:
            raise
        on_log(f"{node.key}: Docker stopped waiting for the join, which goes on; waiting up to {JOIN_SETTLE_S:g}s")
        node_id = await _joined_in_background(conn, node)
    on_log(f"{node.key}: joined as {node.role}")
    return node_id.strip()


async def _joined_in_background(conn, node: Node, *, interval: float = 1.0) -> str:
    """The node ID once a join that `docker swarm join` stopped waiting for has completed (`docker info` says
    active), at most JOIN_SETTLE_S seconds; RemoteError when it ends in error or is still pending then."""
    deadline = time.monotonic() + JOIN_SETTLE_S
    while True:
        info = await _swarm_info(conn, node)
        state = info.get("LocalNodeState")
        if state == "active" and info.get("NodeID"):
            return info["NodeID"]
        if state in ("error", "inactive"):
            reason = info.get("Error") or f"the node is {state}"
            raise RemoteError(f"{node.label}: the join Docker went on with in the background failed: {reason}")
        if time.monotonic() > deadline:
            raise RemoteError(
                f"{node.label}: still joining (state {state!r}) {JOIN_SETTLE_S:g}s after Docker's timeout"
            )
        await asyncio.sleep(interval)


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


# ----- stale entries (also for core/scaledown.py) ------------------------------------------------------------


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
