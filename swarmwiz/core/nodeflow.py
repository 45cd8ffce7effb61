"""The per-node part of a deploy: each node's SSH answers with the key it published -> cloud-init finishes -> it
joins, on one connection per node; and the old barrier scheduling, kept as a benchmark variant."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from swarmwiz.core import events as ev
from swarmwiz.core.aiobridge import run_async
from swarmwiz.core.errors import InputError, RemoteError
from swarmwiz.core.ssh import UNPUBLISHED
from swarmwiz.core.status import ClusterStatus

if TYPE_CHECKING:
    from swarmwiz.core.pipeline import Pipeline

SWARM_TIMEOUT_S = 300.0
# Reads of the nodes' published host key fingerprints per second, all nodes together (a share of the request budget
# in core/terraform.py): 5 nodes read every second each, 100 nodes every 10 s.
FINGERPRINT_READS_PER_S = 10.0
# A wait of minutes says what it still waits for (in the log pane, the CLI and the run log), this often.
HEARTBEAT_S = 30.0
# Benchmark-only switch back to the old scheduling ("barrier": every node waits for the slowest before the swarm
# work); unset or "pipeline" is the normal per-node scheduling. benchmarks/lab.py compares the two.
SCHEDULING_ENV = "SWARMWIZ_SCHEDULING"

Events = Generator[ev.Event, None, Any]


def scheduling(environ: dict[str, str] | None = None) -> str:
    """SWARMWIZ_SCHEDULING: "pipeline" (unset: each node joins once its own cloud-init is done) or "barrier"."""
    value = (os.environ if environ is None else environ).get(SCHEDULING_ENV, "").strip() or "pipeline"
    if value not in ("pipeline", "barrier"):
        raise InputError(f"{SCHEDULING_ENV} must be 'pipeline' or 'barrier' (a benchmark switch), not {value!r}")
    return value


def phase_ssh(p: Pipeline, nodes: list[Any]) -> Events:
    """The barrier scheduling's SSH phase (SWARMWIZ_SCHEDULING=barrier): every node's host key pinned before any
    swarm work, each on a connection of its own that is closed again."""
    from swarmwiz.core.ssh import wait_and_pin

    yield ev.PhaseStarted(ev.Phase.SSH)
    done = 0
    pinned, pins = p.workspace.pinned_host_keys(), {}
    keys = p._ssh_options()["client_keys"]

    async def wait_all(emit: Callable[[ev.Event], None]) -> None:
        nonlocal done

        async def one(node) -> None:
            nonlocal done
            # The node's own host key, pinned by the fingerprints it published (no private key leaves it).
            pins[node.key] = await wait_and_pin(
                node.public_ip, p._published(node), **wait_options(p, node, pinned, keys)
            )
            write_pins(p, nodes, pins)
            done += 1
            emit(ev.PhaseProgress.of_nodes(ev.Phase.SSH, done, len(nodes), [node.name], "answers"))

        waiting = f"waiting up to {p.ssh_timeout:.0f}s for sshd"
        emit(
            ev.PhaseProgress(ev.Phase.SSH, 0, len(nodes), waiting, nodes=tuple(n.name for n in nodes), state="waiting")
        )
        results = await asyncio.gather(*(one(n) for n in nodes), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if any(not isinstance(f, RemoteError) or f.title == "SSH host key changed" for f in failed):
            raise next(f for f in failed if not isinstance(f, RemoteError) or f.title == "SSH host key changed")
        if failed:
            raise not_answering(p, nodes, failed)

    yield from run_async(wait_all, p._cancelled)
    yield ev.PhaseFinished(ev.Phase.SSH, message=f"{len(nodes)} nodes answer with the host keys they published")


def write_pins(p: Pipeline, nodes: list[Any], pins: dict[str, str]) -> None:
    p.workspace.write_known_hosts({n.key: (pins[n.key], [n.public_ip, n.private_ip]) for n in nodes if n.key in pins})


def not_answering(
    p: Pipeline, nodes: list[Any], failed: list[RemoteError], also: list[str] = (), rest_up: bool = False
) -> RemoteError:
    """The sentence for nodes whose SSH never answered with their published key (`also`: other problems;
    `rest_up`: the nodes that answered are in the swarm)."""
    up = ", the other nodes are in the swarm" if rest_up else ""
    cidrs = ", ".join(p.spec.allowed_cidrs)
    checks = []
    if any(f.title == UNPUBLISHED for f in failed):
        # A server whose image never published its fingerprints (seen in the lab under heavy load, when the
        # boot's publish to the metadata API gave up; a custom image may lack it): no firewall change helps that.
        checks.append(
            "A node that published no host key fingerprints in its user data (Scaleway's images do so at first "
            "boot) cannot be trusted over SSH: look at its console in Scaleway's console, or replace it"
        )
    if any(f.title != UNPUBLISHED for f in failed):
        checks.append(f"{'c' if checks else 'C'}heck that ssh.allowed_cidrs ({cidrs}) includes this machine's address")
    return RemoteError(
        f"{len(failed)} of {len(nodes)} nodes did not answer SSH ({failed[0].message}); the servers exist "
        f"and are tracked{up}. {'; '.join(checks)}, then run deploy again" + "".join(f"; also {m}" for m in also),
        title="Nodes not answering",
    )


def phase_swarm(p: Pipeline, nodes: list[Any]) -> Generator[ev.Event, None, ClusterStatus]:
    """Each node is its own pipeline: its SSH answers with the key it published (pinned) -> on that same
    connection cloud-init finishes -> it joins (once the first manager has the swarm). Returns the swarm's
    status read at the end on the lead's connection. The SSH, cloud-init and swarm phases overlap: each is
    started when its first node gets there and finished once, when its last node is through.

    SWARMWIZ_SCHEDULING=barrier runs the old scheduling instead (a benchmark variant): every node's SSH, then
    every node's cloud-init, then the swarm work, then the status on new connections."""
    barrier = scheduling() == "barrier"
    if barrier:
        yield from phase_ssh(p, nodes)
        p.sync.push()  # with the host keys just pinned: another machine connects to the same keys
        p._checkpoint()
    flow = NodeFlow(p, nodes, barrier=barrier)
    try:
        status = yield from run_async(flow.run, p._cancelled)
    except RemoteError as exc:
        explained = flow.explain(exc) if flow.unanswered else exc
        if explained is exc:
            raise
        raise explained from None
    if barrier:
        return p._status(nodes, [])  # the old scheduling read the status on new connections
    return status


class NodeFlow:
    """One deploy's node pipelines: what each node has reached, turned into overlapping phase events."""

    def __init__(self, p: Pipeline, nodes: list[Any], *, barrier: bool) -> None:
        self.p, self.nodes, self.barrier = p, nodes, barrier
        self.total = len(nodes)
        self.pinned, self.pins = p.workspace.pinned_host_keys(), {}
        self.keys = p._ssh_options()["client_keys"]
        self.unanswered: dict[str, RemoteError] = {}  # node key -> why its SSH never answered
        self.counts = {ev.Phase.SSH: 0, ev.Phase.CLOUD_INIT: 0, ev.Phase.SWARM: 0}
        self.started: set[ev.Phase] = set()
        self.has_docker: set[str] = set()
        self.emit: Callable[[ev.Event], None] = lambda event: None

    async def run(self, emit: Callable[[ev.Event], None]) -> ClusterStatus:
        from swarmwiz.core.swarm import bootstrap

        self.emit = emit
        beat = asyncio.create_task(self.heartbeat())
        try:
            if self.barrier:
                self.start(ev.Phase.CLOUD_INIT, "waiting for cloud-init to install Docker", everyone=True)
            else:
                self.start(ev.Phase.SSH, f"waiting up to {self.p.ssh_timeout:.0f}s for sshd", everyone=True)
            status = await bootstrap(
                self.nodes,
                on_log=self.log,
                on_ready=self.docker_ready,
                on_member=lambda node: self.advance(ev.Phase.SWARM, node, "in the swarm"),
                connect=None if self.barrier else self.connect,
                connect_wait=0.0 if self.barrier else self.p.ssh_timeout,
                timeout=SWARM_TIMEOUT_S,
                barrier=self.barrier,
                **self.p._ssh_options(),
            )
        finally:
            beat.cancel()
        managers = sum(1 for n in self.nodes if n.role == "manager")
        self.start(ev.Phase.SWARM)
        emit(ev.PhaseFinished(ev.Phase.SWARM, message=f"{managers} managers, {self.total - managers} workers"))
        return status

    def start(self, phase: ev.Phase, waiting: str = "", *, everyone: bool = False) -> None:
        """Start `phase` once, when its first node gets there; `everyone`: every node is now waiting in it (the
        first phase of the flow), so each shows from the start, and one that never gets through stays "waiting"."""
        if phase not in self.started:
            self.started.add(phase)
            self.emit(ev.PhaseStarted(phase))
            if waiting:
                names = tuple(n.name for n in self.nodes) if everyone else ()
                self.emit(
                    ev.PhaseProgress(phase, 0, self.total, waiting, nodes=names, state="waiting" if names else "")
                )

    def advance(self, phase: ev.Phase, node: Any, what: str, message: str = "") -> None:
        """`node` is through `phase`; the last node through finishes it (the swarm phase after the Ready wait)."""
        self.start(phase)
        self.counts[phase] += 1
        self.emit(ev.PhaseProgress.of_nodes(phase, self.counts[phase], self.total, [node.name], what))
        if self.counts[phase] == self.total and message:
            self.emit(ev.PhaseFinished(phase, message=message))
            if self.barrier and phase == ev.Phase.CLOUD_INIT:
                self.start(ev.Phase.SWARM)  # the old order: the swarm work begins once every node has Docker

    def log(self, text: str) -> None:
        if not self.barrier:
            self.start(ev.Phase.SWARM)  # per node: the swarm phase begins with its first step (swarm init)
        self.emit(ev.LogLine(ev.Phase.SWARM, text))

    def docker_ready(self, node: Any) -> None:
        self.has_docker.add(node.name)
        self.advance(ev.Phase.CLOUD_INIT, node, "has Docker", f"{self.total} nodes finished cloud-init")

    async def connect(self, node: Any):
        """Wait for `node`'s SSH with its published key, pin the key, and hand the open connection on."""
        from swarmwiz.core.ssh import wait_and_connect

        options = wait_options(self.p, node, self.pinned, self.keys)
        try:
            key, conn = await wait_and_connect(node.public_ip, self.p._published(node), **options)
        except RemoteError as exc:
            state = "host key changed" if exc.title == "SSH host key changed" else "not answering"
            ssh_done = self.counts[ev.Phase.SSH]
            self.emit(ev.PhaseProgress.of_nodes(ev.Phase.SSH, ssh_done, self.total, [node.name], state))
            if exc.title != "SSH host key changed":
                self.unanswered[node.key] = exc
                if len(self.unanswered) + self.counts[ev.Phase.SSH] == self.total:
                    message = f"{len(self.unanswered)} not answering"
                    self.emit(ev.PhaseFinished(ev.Phase.SSH, ok=False, message=message))
            raise
        self.pins[node.key] = key
        write_pins(self.p, self.nodes, self.pins)
        if self.counts[ev.Phase.SSH] + 1 == self.total:
            # every host key is pinned: another machine sharing the state connects to the same keys
            await asyncio.to_thread(self.p.sync.push)
        answered = f"{self.total} nodes answer with the host keys they published"
        self.advance(ev.Phase.SSH, node, "answers", answered)
        self.start(ev.Phase.CLOUD_INIT, "waiting for cloud-init to install Docker")
        return conn

    async def heartbeat(self) -> None:
        """Every HEARTBEAT_S: the nodes whose SSH or cloud-init is still waited for, and for how long."""
        began = time.monotonic()
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            elapsed = time.monotonic() - began
            if not self.barrier:
                silent = [n.name for n in self.nodes if n.key not in self.pins and n.key not in self.unanswered]
                if silent:
                    limit = f"{elapsed:.0f}s of {self.p.ssh_timeout:.0f}s"
                    self.emit(ev.LogLine(ev.Phase.SSH, f"still waiting for SSH on {_few(silent)} ({limit})"))
            busy = [
                n.name for n in self.nodes if (self.barrier or n.key in self.pins) and n.name not in self.has_docker
            ]
            if busy:
                line = f"cloud-init still running on {_few(busy)} ({elapsed:.0f}s)"
                self.emit(ev.LogLine(ev.Phase.CLOUD_INIT, line))

    def explain(self, exc: RemoteError) -> RemoteError:
        """The error to raise when some nodes never answered SSH: one sentence naming them, what else went wrong,
        and whether the others made it into the swarm (a changed host key or a locked swarm stays as it is)."""
        if exc.title in ("SSH host key changed", "Swarm locked"):
            return exc
        problems = getattr(exc, "problems", None)
        also = [e.message for k, e in problems.items() if k not in self.unanswered] if problems else [exc.message]
        # bootstrap raises these titles only after every node that answered is in the swarm
        rest_up = exc.title in ("Nodes not answering", "Cloud-init not finished")
        return not_answering(self.p, self.nodes, list(self.unanswered.values()), also, rest_up)


def wait_options(p: Pipeline, node: Any, pinned: dict[str, str], keys: list | None) -> dict[str, Any]:
    """How long and with which client `keys` to wait for `node`'s SSH, keeping the key an earlier run pinned."""
    return {
        "pinned": pinned.get(node.key),
        "client_keys": keys,
        "node": node.name,
        "timeout": p.ssh_timeout,
        # every waiting node reads its published fingerprints; together at most FINGERPRINT_READS_PER_S
        "poll_every": max(1.0, len(p.spec.node_keys()) / FINGERPRINT_READS_PER_S),
    }


def _few(names: list[str], shown: int = 5) -> str:
    """Up to `shown` names, then how many more (a hundred-node wait stays one readable line)."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
