"""The deploy, plan, status and destroy pipeline that both the wizard and the command line run.

Each operation is a synchronous generator of `events.Event` whose return value is the result (run it in a thread
worker in the TUI; iterate it directly in the CLI). Phases: check credentials, init, plan, apply, wait for SSH,
bootstrap the swarm, check DNS, read status; destroy adds an inventory and a check that nothing remains.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import os
import queue
import threading
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swarmwiz.core import events as ev
from swarmwiz.core import tfstate
from swarmwiz.core.api.inventory import CloudObject, ClusterObjects, DnsRecord, Inventory
from swarmwiz.core.catalog import CostEstimate, bundled, estimate
from swarmwiz.core.clientkey import client_keys
from swarmwiz.core.errors import InputError, Interrupted, RemoteError, SwarmwizError
from swarmwiz.core.paths import atomic_write
from swarmwiz.core.sharedstate import BACKEND_FILE, BACKEND_TF, SharedState
from swarmwiz.core.spec import ClusterSpec
from swarmwiz.core.status import ClusterStatus
from swarmwiz.core.target import Target
from swarmwiz.core.tfstate import InventoryItem
from swarmwiz.core.workspace import Workspace

log = logging.getLogger(__name__)

SSH_TIMEOUT_S = 300.0
SWARM_TIMEOUT_S = 300.0
PLAN_FILE = "swarmwiz.tfplan"
# Benchmark-only switch back to the old scheduling ("barrier": every node waits for the slowest before the swarm
# work); unset or "pipeline" is the normal per-node scheduling. benchmarks/lab.py compares the two.
SCHEDULING_ENV = "SWARMWIZ_SCHEDULING"

Events = Generator[ev.Event, None, Any]


@dataclass(frozen=True)
class DestroyReport:
    cluster: str
    leftovers: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.leftovers


class Pipeline:
    """One cluster's operations against one target (the real clouds or the lab); the engine may be injected."""

    def __init__(
        self,
        spec: ClusterSpec,
        workspace: Workspace,
        target: Target,
        *,
        engine: Any = None,
        ssh_timeout: float = SSH_TIMEOUT_S,
    ) -> None:
        self.spec = spec
        self.workspace = workspace
        self.target = target
        self._engine = engine
        self.ssh_timeout = ssh_timeout
        self._env: dict[str, str] | None = None
        self._secrets: list[str] = []
        self._tf = None
        self._cloud_client: Inventory | None = None
        self._shared: SharedState | None = None
        self._cancelled = threading.Event()

    @classmethod
    def for_spec(cls, spec: ClusterSpec, target: Target, **kwargs: Any) -> Pipeline:
        """The pipeline of a new or changed cluster; refuses a deployed workspace of the other target."""
        ws = Workspace.for_name(spec.name)
        if ws.exists() and tfstate.holds_resources(tfstate.load(ws.state_path)):
            refuse_other_target(ws, target)
        return cls(spec, ws, target, **kwargs)

    @classmethod
    def for_name(cls, name: str, target: Target, **kwargs: Any) -> Pipeline:
        """The pipeline of a cluster known here; refuses when it lives in the other target (lab or real clouds)."""
        ws = Workspace.existing(name)
        refuse_other_target(ws, target)
        return cls(ws.load_spec(strict=False), ws, target, **kwargs)  # teardown never depends on the catalogue

    # -- services ----------------------------------------------------------------------------------------------
    def cost(self) -> CostEstimate:
        groups = [
            ("managers", self.spec.managers.type, self.spec.managers.count),
            ("workers", self.spec.workers.type, self.spec.workers.count),
        ]
        return estimate(bundled(), list(self.spec.zones), groups)

    def _environment(self) -> dict[str, str]:
        """The environment of every Terraform run and API call, from the target (read once per pipeline)."""
        if self._env is None:
            self.target.prepare()
            self._env = dict(self.target.environment())
            self._secrets = list(self.target.secrets())
            if self.spec.state_bucket:
                region = self.spec.region
                self._shared = SharedState(
                    self.spec.state_bucket, self.spec.name, region, self.target.s3_endpoint(region), self._env
                )
                self._env |= self._shared.environment()
        return self._env

    def secrets(self) -> list[str]:
        """This run's credential values (known once its environment is built), for run logs to mask."""
        return list(self._secrets)

    def shared_state(self) -> SharedState | None:
        """The cluster's shared state in Object Storage ([state] bucket), or None for a local state."""
        if not self.spec.state_bucket:
            return None  # a local state needs no credentials to be read
        self._environment()
        return self._shared

    def _pull_state(self) -> None:
        """Refresh the workspace's copy of a shared state (what inventory and ownership checks read)."""
        if self.shared_state() is not None:
            text = self._terraform().state_pull()
            if text.strip():
                atomic_write(self.workspace.state_path, text)
            else:  # nothing applied yet: no copy, as with a local state before the first apply
                self.workspace.state_path.unlink(missing_ok=True)

    def _push_workspace(self) -> None:
        """Store the spec, owner identity, host keys and known hosts beside a shared state."""
        shared = self.shared_state()
        if shared is not None:
            identity = {"owner_id": self.workspace.ensure_owner_id(), "lab": self.target.is_lab}
            shared.push(self.workspace.path, identity)

    def _terraform(self):
        if self._tf is None:
            from swarmwiz.core.terraform import Terraform, find_engine

            engine = self._engine or find_engine()
            self._tf = Terraform(self.workspace.path, env=self._environment(), engine=engine, secrets=self._secrets)
        return self._tf

    def _cloud(self) -> Inventory:
        """The one API client of this pipeline (its HTTP connections are reused across phases)."""
        if self._cloud_client is None:
            from swarmwiz.core.api.clients import ApiClients

            self._environment()  # the target is prepared (the lab started) before its endpoints are read
            self._cloud_client = Inventory(ApiClients(self.target.credentials(), self.target.endpoints()))
        return self._cloud_client

    def _network(self) -> dict[str, str]:
        """VPC and private subnet for tfvars: pinned, kept from an earlier deploy, or a free /22 (core/network.py).

        Runs before the workspace is written, so a pinned subnet that clashes leaves nothing behind."""
        from swarmwiz.core import network

        ws = self.workspace
        owner = self._owner_id() if ws.exists() else None
        stored = ws.network if ws.exists() else None
        choice = network.choose(
            self._cloud().api, self.spec.region, self.spec.name, owner, pinned=self.spec.private_subnet, stored=stored
        )
        return choice.tfvars()

    def _owner_id(self) -> str | None:
        """The workspace's owner id (None for a workspace made before owner ids: then nothing is provably ours)."""
        return getattr(self.workspace, "owner_id", None)

    def cancel(self) -> None:
        """First Ctrl-C: ask Terraform to stop safely (in-flight operations finish, state is saved)."""
        self._cancelled.set()
        if self._tf is not None:
            self._tf.interrupt()

    def _checkpoint(self) -> None:
        """Between phases: stop here when the user asked to stop."""
        if self._cancelled.is_set():
            raise Interrupted(
                "stopped as asked, between two steps; the state is saved, run the command again to continue"
            )

    def force(self) -> None:
        """After a confirmed second Ctrl-C: kill Terraform (state may miss in-flight objects)."""
        if self._tf is not None:
            self._tf.kill()

    # -- phases --------------------------------------------------------------------------------------------------
    def _phase_credentials(self, replace_dns: Callable[[list[DnsRecord]], bool] | None = None) -> Events:
        """Credentials (with the key's permission sets), the domain, quotas and DNS names, before anything exists.

        `replace_dns` approves deleting records in the way (dns.replace_existing); None: only list them (plan).
        """
        from swarmwiz.core import preflight
        from swarmwiz.core.credentials import validate_live

        yield ev.PhaseStarted(ev.Phase.CREDENTIALS)
        env = self._environment()
        validate_live(self.target.credentials(), self.target.endpoints(), domain=self.spec.domain)
        if not self._cloud().zone_id(self.spec.domain):
            raise InputError(
                f"dns.domain: {self.spec.domain} is not a zone of the Cloudflare account; add it in Cloudflare first "
                "or choose one of the account's zones"
            )
        api = self._cloud().api  # validate_live already named any permission set the key cannot even read with
        for warning in preflight.check_write_rights(api, api.project):
            yield ev.Notice(ev.Phase.CREDENTIALS, warning)
        for warning in preflight.check_quotas(api, self.spec, self._owner_id(), env.get("SCW_DEFAULT_ORGANIZATION_ID")):
            yield ev.Notice(ev.Phase.CREDENTIALS, warning)
        dns = preflight.check_dns(self._cloud().dns_records(self.spec.domain), self.spec, self._owner_id())
        if dns.in_the_way:
            listing = "; ".join(preflight.describe_record(r) for r in dns.in_the_way)
            if replace_dns is None:
                yield ev.Notice(ev.Phase.CREDENTIALS, f"dns.replace_existing: deploy will delete {listing}")
            elif not replace_dns(dns.in_the_way):
                raise InputError(
                    f"dns: replacing {listing} was not confirmed; nothing was created",
                    field="dns.replace_existing",
                )
            else:
                preflight.delete_records(api, dns.in_the_way)
                yield ev.Notice(ev.Phase.CREDENTIALS, f"deleted the DNS records in the cluster's way: {listing}")
        yield ev.PhaseFinished(ev.Phase.CREDENTIALS, message=f"credentials valid ({self.target.label})")

    def _phase_init(self) -> Events:
        yield ev.PhaseStarted(ev.Phase.INIT)
        marker = self.workspace.path / ".terraform" / "swarmwiz-init"
        lockfile = self.workspace.path / ".terraform.lock.hcl"
        versions = self.workspace.path / "versions.tf"
        shared = self.shared_state()
        backend = self.workspace.path / BACKEND_FILE
        if shared is None and backend.is_file():
            raise InputError(
                "state.bucket: this cluster's Terraform state is shared in Object Storage; keep its [state] bucket "
                "in cluster.toml"
            )
        wanted = versions.read_text() + (shared.fingerprint() if shared else "")
        if marker.is_file() and lockfile.is_file() and marker.read_text() == wanted:
            self._pull_state()
            yield ev.PhaseFinished(ev.Phase.INIT, skipped=True, message="providers already installed")
            return
        if shared is not None:
            local = self.workspace.path / "terraform.tfstate"
            if not backend.is_file() and local.is_file() and tfstate.holds_resources(tfstate.load(local)):
                # Terraform would start from an empty shared state and create the cluster a second time.
                raise InputError(
                    f"state.bucket: cluster {self.spec.name!r} is deployed with a local state ({local}); moving it "
                    "to a bucket is not supported: remove [state] from cluster.toml, or destroy the cluster first"
                )
            shared.ensure_bucket()
            shared.check_owner(self.workspace.ensure_owner_id())  # before Terraform reads another cluster's state
            atomic_write(backend, BACKEND_TF)
        yield from self._terraform().init(backend_config=shared.backend_config() if shared else ())
        atomic_write(marker, wanted)
        self._pull_state()
        if shared is not None:
            yield ev.PhaseFinished(ev.Phase.INIT, message=f"state shared at {shared.where}")
        else:
            yield ev.PhaseFinished(ev.Phase.INIT)

    def _phase_plan(self, *, destroy: bool = False) -> Generator[ev.Event, None, ev.PlanSummary]:
        yield ev.PhaseStarted(ev.Phase.PLAN)
        summary = None
        for event in self._terraform().plan(destroy=destroy, out=self.workspace.path / PLAN_FILE):
            if isinstance(event, ev.PlanSummary):
                summary = event
            yield event
        summary = summary or ev.PlanSummary(0, 0, 0)
        yield ev.PhaseFinished(
            ev.Phase.PLAN, message=f"{summary.add} to add, {summary.change} to change, {summary.destroy} to destroy"
        )
        return summary

    def _phase_apply(self, total: int, *, destroy: bool = False, plan_file: Path | None | bool = True) -> Events:
        """Apply the saved plan, or (plan_file=None) plan and apply in one run with -auto-approve."""
        phase = ev.Phase.DESTROY if destroy else ev.Phase.APPLY
        yield ev.PhaseStarted(phase)
        done = 0
        saved = self.workspace.path / PLAN_FILE if plan_file is True else plan_file
        from swarmwiz.core.terraform import parallelism_for

        parallelism = parallelism_for(self.spec.node_count)  # every node's resources at once, within the budget
        for event in self._terraform().apply(plan_file=saved, destroy=destroy, parallelism=parallelism):
            if isinstance(event, ev.PlanSummary):
                total = event.add + event.change + event.destroy
                yield event
            elif isinstance(event, ev.ResourceChanged):
                event = ev.ResourceChanged(**{**event.__dict__, "phase": phase})
                yield event
                if event.state == "done" and event.action != "read":  # data source reads change nothing
                    done += 1
                    yield ev.PhaseProgress(phase, done, max(total, done), "resources")
            else:
                yield event
        self.workspace.discard_plan()  # the saved plan holds every input in clear text: gone after its apply
        self._pull_state()
        yield ev.PhaseFinished(phase, message=f"{done} resources {'destroyed' if destroy else 'changed'}")

    def _nodes(self) -> list[Any]:
        """Swarm nodes from the Terraform outputs, in the module's order (managers first)."""
        from swarmwiz.core.swarm import Node

        outputs = self._terraform().output()
        nodes = (outputs.get("nodes") or {}) if isinstance(outputs, dict) else {}
        result = [
            Node(
                key=k,
                name=v["name"],
                role=v["role"],
                zone=v["zone"],
                public_ip=v["public_ip"],
                private_ip=v.get("private_ip"),
                server_id=v.get("id") or "",
            )
            for k, v in nodes.items()
        ]
        return sorted(result, key=lambda n: (n.role != "manager", _index(n)))

    def _ssh_options(self) -> dict[str, Any]:
        keys = client_keys(self.spec.ssh_private_key_path, self.spec.ssh_public_key)  # the agent for a locked key
        return {"known_hosts": self.workspace.known_hosts_path, "client_keys": keys}

    def _phase_ssh(self, nodes: list[Any]) -> Events:
        """The barrier scheduling's SSH phase (SWARMWIZ_SCHEDULING=barrier): every node's host key pinned before any
        swarm work, each on a connection of its own that is closed again."""
        from swarmwiz.core.ssh import wait_and_pin

        yield ev.PhaseStarted(ev.Phase.SSH)
        done = 0
        pinned, pins = self.workspace.pinned_host_keys(), {}
        keys = self._ssh_options()["client_keys"]

        async def wait_all(emit: Callable[[ev.Event], None]) -> None:
            nonlocal done

            async def one(node) -> None:
                nonlocal done
                # The node's own host key, pinned by the fingerprints it published (no private key leaves it).
                pins[node.key] = await wait_and_pin(
                    node.public_ip,
                    self._published(node),
                    pinned=pinned.get(node.key),
                    client_keys=keys,
                    node=node.name,
                    timeout=self.ssh_timeout,
                )
                self._write_pins(nodes, pins)
                done += 1
                emit(ev.PhaseProgress(ev.Phase.SSH, done, len(nodes), f"{node.name} answers"))

            emit(ev.PhaseProgress(ev.Phase.SSH, 0, len(nodes), f"waiting up to {self.ssh_timeout:.0f}s for sshd"))
            results = await asyncio.gather(*(one(n) for n in nodes), return_exceptions=True)
            failed = [r for r in results if isinstance(r, BaseException)]
            if any(not isinstance(f, RemoteError) or f.title == "SSH host key changed" for f in failed):
                raise next(f for f in failed if not isinstance(f, RemoteError) or f.title == "SSH host key changed")
            if failed:
                raise self._unanswered(nodes, failed)

        yield from _run_async(wait_all, self._cancelled)
        yield ev.PhaseFinished(ev.Phase.SSH, message=f"{len(nodes)} nodes answer with the host keys they published")

    def _published(self, node: Any) -> Callable[[], Coroutine[Any, Any, str]]:
        """Reads the host key fingerprints `node` publishes in its user data (authenticated API, off the loop)."""
        return lambda: asyncio.to_thread(self._cloud().host_fingerprints, node.server_id)

    def _write_pins(self, nodes: list[Any], pins: dict[str, str]) -> None:
        self.workspace.write_known_hosts(
            {n.key: (pins[n.key], [n.public_ip, n.private_ip]) for n in nodes if n.key in pins}
        )

    def _unanswered(
        self, nodes: list[Any], failed: list[RemoteError], also: list[str] = (), rest_up: bool = False
    ) -> RemoteError:
        """The sentence for nodes whose SSH never answered with their published key (`also`: other problems;
        `rest_up`: the nodes that answered are in the swarm)."""
        up = ", the other nodes are in the swarm" if rest_up else ""
        cidrs = ", ".join(self.spec.allowed_cidrs)
        return RemoteError(
            f"{len(failed)} of {len(nodes)} nodes did not answer SSH ({failed[0].message}); the servers exist "
            f"and are tracked{up}. Check that ssh.allowed_cidrs ({cidrs}) includes this machine's address, then run "
            "deploy again" + "".join(f"; also {m}" for m in also),
            title="Nodes not answering",
        )

    def _phase_swarm(self, nodes: list[Any]) -> Generator[ev.Event, None, ClusterStatus]:
        """Each node is its own pipeline: its SSH answers with the key it published (pinned) -> on that same
        connection cloud-init finishes -> it joins (once the first manager has the swarm). Returns the swarm's
        status read at the end on the lead's connection. The SSH, cloud-init and swarm phases overlap: each is
        started when its first node gets there and finished once, when its last node is through.

        SWARMWIZ_SCHEDULING=barrier runs the old scheduling instead (a benchmark variant): every node's SSH, then
        every node's cloud-init, then the swarm work, then the status on new connections."""
        from swarmwiz.core.swarm import bootstrap

        barrier = scheduling() == "barrier"
        if barrier:
            yield from self._phase_ssh(nodes)
            self._push_workspace()  # with the host keys just pinned: another machine connects to the same keys
            self._checkpoint()
        total = len(nodes)
        pinned, pins = self.workspace.pinned_host_keys(), {}
        keys = self._ssh_options()["client_keys"]
        unanswered: dict[str, RemoteError] = {}
        counts = {ev.Phase.SSH: 0, ev.Phase.CLOUD_INIT: 0, ev.Phase.SWARM: 0}
        started: set[ev.Phase] = set()
        managers = sum(1 for n in nodes if n.role == "manager")

        async def run(emit: Callable[[ev.Event], None]) -> ClusterStatus:
            def start(phase: ev.Phase, waiting: str = "") -> None:
                if phase not in started:
                    started.add(phase)
                    emit(ev.PhaseStarted(phase))
                    if waiting:
                        emit(ev.PhaseProgress(phase, 0, total, waiting))

            def advance(phase: ev.Phase, node: Any, what: str, message: str = "") -> None:
                start(phase)
                counts[phase] += 1
                emit(ev.PhaseProgress(phase, counts[phase], total, f"{node.name} {what}"))
                if counts[phase] == total and message:  # the swarm phase ends after the Ready wait instead
                    emit(ev.PhaseFinished(phase, message=message))
                    if barrier and phase == ev.Phase.CLOUD_INIT:
                        start(ev.Phase.SWARM)  # the old order: the swarm work begins once every node has Docker

            def log(text: str) -> None:
                if not barrier:
                    start(ev.Phase.SWARM)  # per node: the swarm phase begins with its first step (swarm init)
                emit(ev.LogLine(ev.Phase.SWARM, text))

            async def connect(node: Any):
                from swarmwiz.core.ssh import wait_and_connect

                try:
                    key, conn = await wait_and_connect(
                        node.public_ip,
                        self._published(node),
                        pinned=pinned.get(node.key),
                        client_keys=keys,
                        node=node.name,
                        timeout=self.ssh_timeout,
                    )
                except RemoteError as exc:
                    if exc.title != "SSH host key changed":
                        unanswered[node.key] = exc
                        if len(unanswered) + counts[ev.Phase.SSH] == total:
                            emit(ev.PhaseFinished(ev.Phase.SSH, ok=False, message=f"{len(unanswered)} not answering"))
                    raise
                pins[node.key] = key
                self._write_pins(nodes, pins)
                if counts[ev.Phase.SSH] + 1 == total:
                    # every host key is pinned: another machine sharing the state connects to the same keys
                    await asyncio.to_thread(self._push_workspace)
                advance(ev.Phase.SSH, node, "answers", f"{total} nodes answer with the host keys they published")
                start(ev.Phase.CLOUD_INIT, "waiting for cloud-init to install Docker")
                return conn

            if barrier:
                start(ev.Phase.CLOUD_INIT, "waiting for cloud-init to install Docker")
            else:
                start(ev.Phase.SSH, f"waiting up to {self.ssh_timeout:.0f}s for sshd")
            status = await bootstrap(
                nodes,
                on_log=log,
                on_ready=lambda node: advance(
                    ev.Phase.CLOUD_INIT, node, "has Docker", f"{total} nodes finished cloud-init"
                ),
                on_member=lambda node: advance(ev.Phase.SWARM, node, "in the swarm"),
                connect=None if barrier else connect,
                connect_wait=0.0 if barrier else self.ssh_timeout,
                timeout=SWARM_TIMEOUT_S,
                barrier=barrier,
                **self._ssh_options(),
            )
            start(ev.Phase.SWARM)
            emit(ev.PhaseFinished(ev.Phase.SWARM, message=f"{managers} managers, {total - managers} workers"))
            return status

        try:
            status = yield from _run_async(run, self._cancelled)
        except RemoteError as exc:
            if not unanswered or exc.title in ("SSH host key changed", "Swarm locked"):
                raise
            problems = getattr(exc, "problems", None)
            also = [e.message for k, e in problems.items() if k not in unanswered] if problems else [exc.message]
            # bootstrap raises these titles only after every node that answered is in the swarm
            rest_up = exc.title in ("Nodes not answering", "Cloud-init not finished")
            raise self._unanswered(nodes, list(unanswered.values()), also, rest_up) from None
        if barrier:
            return self._status(nodes, [])  # the old scheduling read the status on new connections
        return status

    def _phase_drain(self, leaving: list[Any], staying: list[Any]) -> Events:
        """Take leaving nodes out of the swarm before Terraform destroys their servers.

        Managers go one per step (demote, drain, leave, rm), so that every step keeps the quorum of the managers that
        remain; the swarm layer refuses any single step that would remove a majority. Workers then go together.
        """
        yield ev.PhaseStarted(ev.Phase.DRAIN)
        managers = [n for n in staying + leaving if n.role == "manager"]
        steps = [[n] for n in sorted((n for n in leaving if n.role == "manager"), key=_index, reverse=True)]
        workers = [n for n in leaving if n.role != "manager"]
        steps += [workers] if workers else []
        for done, step in enumerate(steps, start=1):
            self._checkpoint()

            yield from _run_async(functools.partial(self._remove_step, list(managers), step), self._cancelled)
            managers = [m for m in managers if m not in step]
            yield ev.PhaseProgress(ev.Phase.DRAIN, done, len(steps), ", ".join(n.name for n in step) + " removed")
        yield ev.PhaseFinished(ev.Phase.DRAIN, message=", ".join(n.name for n in leaving) + " left the swarm")

    async def _remove_step(self, managers: list[Any], step: list[Any], emit: Callable[[ev.Event], None]) -> None:
        from swarmwiz.core.swarm import remove_nodes

        await remove_nodes(
            managers,
            step,
            on_log=lambda text: emit(ev.LogLine(ev.Phase.DRAIN, text)),
            timeout=SWARM_TIMEOUT_S,
            **self._ssh_options(),
        )

    def _phase_dns(self, nodes: list[Any]) -> Generator[ev.Event, None, list[DnsRecord]]:
        yield ev.PhaseStarted(ev.Phase.DNS)
        records = self._cluster_records()
        wanted = {n.public_ip for n in nodes if n.role == "manager"}
        wildcard = f"*.{self.spec.dns_name}"
        have = {r.content for r in records if r.name == wildcard and r.type == "A"}
        if have != wanted:
            missing = ", ".join(sorted(wanted - have)) or "none"
            extra = ", ".join(sorted(have - wanted)) or "none"
            raise RemoteError(f"DNS: {wildcard} does not match the managers (missing {missing}; unexpected {extra})")
        yield ev.PhaseFinished(ev.Phase.DNS, message=f"{wildcard} -> {', '.join(sorted(have))}")
        return records

    def _cluster_records(self) -> list[DnsRecord]:
        prefix = f"swarmwiz:{self.spec.name}:" + (f"{self._owner_id()}:" if self._owner_id() else "")
        return [r for r in self._cloud().dns_records(self.spec.domain) if r.comment.startswith(prefix)]

    def _status(self, nodes: list[Any], dns: list[DnsRecord]) -> ClusterStatus:
        from swarmwiz.core.swarm import status as swarm_status

        result = _run_sync(swarm_status(nodes, timeout=60.0, **self._ssh_options()))
        return dataclasses.replace(result, cluster=self.spec.name, dns=list(dns))

    # -- operations ----------------------------------------------------------------------------------------------
    def plan(self) -> Generator[ev.Event, None, ev.PlanSummary]:
        """Check credentials, render the workspace, init and plan; returns the plan summary."""
        yield from self._phase_credentials()  # before anything is written: a bad domain leaves no workspace
        network = self._network()  # a clashing pinned subnet is refused before the workspace exists
        with self.workspace.lock("plan"):
            self.workspace.render(self.spec, lab=self.target.is_lab, network=network)
            yield from self._phase_init()
            return (yield from self._phase_plan())

    def deploy(
        self,
        confirm: Callable[[ev.PlanSummary, CostEstimate], bool] | None = None,
        *,
        auto_approve: bool = False,
        confirm_delete: Callable[[list[CloudObject]], bool] | None = None,
        confirm_replace_dns: Callable[[list[DnsRecord]], bool] | None = None,
    ) -> Generator[ev.Event, None, Any]:
        """Create or converge the cluster; returns its ClusterStatus, or None when `confirm` declined.

        With `auto_approve` (`deploy --yes`) there is no separate plan step: one `terraform apply -auto-approve`
        plans and applies, which saves a whole Terraform run (its plan summary still arrives as an event).
        Objects of the cluster that Terraform does not track are listed to `confirm_delete` (approved by
        `auto_approve`) before anything is deleted; without approval the deploy stops with one sentence. DNS records
        in the cluster's way (with dns.replace_existing) go to `confirm_replace_dns` the same way.
        """
        self._ssh_options()  # a passphrase-protected key without an agent is refused before anything is created
        scheduling()  # so is a mistyped SWARMWIZ_SCHEDULING
        approve_dns = (lambda _records: True) if auto_approve else confirm_replace_dns or (lambda _records: False)
        yield from self._phase_credentials(approve_dns)  # before anything is written: nothing exists on refusal
        network = self._network()  # a clashing pinned subnet is refused before the workspace exists
        with self.workspace.lock("deploy"):
            self.workspace.render(self.spec, lab=self.target.is_lab, network=network)
            self._checkpoint()
            yield from self._phase_init()
            self._push_workspace()
            self._checkpoint()
            before = self._known_nodes()
            yield from self._remove_untracked(
                ev.Phase.PLAN, (lambda _objects: True) if auto_approve else confirm_delete
            )
            wanted = set(self.spec.node_keys())
            leaving = [n for n in before if n.key not in wanted]
            summary = None
            if not auto_approve:
                summary = yield from self._phase_plan()
                if confirm is not None and not confirm(summary, self.cost()):
                    self.workspace.discard_plan()
                    return None
                self._checkpoint()
            if leaving:
                yield from self._phase_drain(leaving, [n for n in before if n.key in wanted])
            self.workspace.set_state("deploying", nodes=self.spec.node_count)
            try:
                # An empty plan can still leave the outputs stale (an apply interrupted before writing them).
                current = self._nodes() if summary is not None and summary.empty else None
                if current is not None and {n.key for n in current} == wanted:
                    yield ev.PhaseFinished(ev.Phase.APPLY, skipped=True, message="nothing to change")
                elif summary is not None:
                    yield from self._phase_apply(summary.add + summary.change + summary.destroy)
                else:
                    yield from self._phase_apply(0, plan_file=None)
            except SwarmwizError:
                self.workspace.set_state("failed")
                self.workspace.discard_plan()
                raise
            self._checkpoint()
            nodes = current if current is not None and {n.key for n in current} == wanted else self._nodes()
            swarm_status = yield from self._phase_swarm(nodes)  # per node: SSH -> cloud-init -> join
            self._checkpoint()
            records = yield from self._phase_dns(nodes)
            yield ev.PhaseStarted(ev.Phase.STATUS)
            status = dataclasses.replace(swarm_status, cluster=self.spec.name, dns=list(records))
            yield ev.PhaseFinished(ev.Phase.STATUS, ok=status.all_ready, message=status.health_line())
            self.workspace.set_state("deployed" if status.all_ready else "degraded", nodes=len(nodes))
            return status

    def _known_nodes(self) -> list[Any]:
        """Nodes the current state holds (empty before the first apply)."""
        if not self.workspace.state_path.is_file():
            return []
        try:
            return self._nodes()
        except SwarmwizError:
            return []

    def attach(self) -> Events:
        """Initialise a cloned workspace against its shared state (backend, providers) and read the state."""
        with self.workspace.lock("attach"):
            yield from self._phase_init()

    def read_status(self) -> ClusterStatus:
        """The node table of a deployed cluster, read over SSH from a manager, plus its DNS records."""
        if self.shared_state() is not None:
            for _event in self._phase_init():  # another machine may have changed the shared state: read it again
                pass
        nodes = self._nodes_or_fail()
        return self._status(nodes, self._cluster_records())

    def _nodes_or_fail(self) -> list[Any]:
        if not self.workspace.state_path.is_file():
            raise InputError(f"cluster {self.spec.name!r} has not been deployed (no Terraform state in its workspace)")
        nodes = self._nodes()
        if not nodes:
            raise InputError(f"cluster {self.spec.name!r} has no nodes in its Terraform state")
        return nodes

    def inventory(self) -> list[InventoryItem]:
        """Every object of the cluster in its Terraform state, as it will be deleted: kind, name, id and detail."""
        return tfstate.inventory(tfstate.load(self.workspace.state_path))

    def destroy(self, confirm: Callable[[list[InventoryItem]], bool]) -> Generator[ev.Event, None, Any]:
        """Tear the cluster down and check through the APIs that nothing of it remains; None when declined."""
        with self.workspace.lock("destroy"):
            self._environment()
            yield from self._phase_init()
            untracked = self._untracked()  # StateUnreadable before anything is asked or deleted
            items = self.inventory() if self.workspace.state_path.is_file() else []
            items += [InventoryItem(o.kind, f"{o.describe()} (not in Terraform's state)", o.id) for o in untracked]
            if not confirm(items):
                return None
            self._checkpoint()
            self.workspace.set_state("destroying")
            summary = yield from self._phase_plan(destroy=True)
            yield from self._phase_apply(summary.destroy, destroy=True)
            yield ev.PhaseStarted(ev.Phase.VERIFY)
            yield from self._remove_untracked(ev.Phase.VERIFY, lambda _objects: True, {o.id for o in untracked})
            left = self._leftovers()
            yield ev.PhaseFinished(
                ev.Phase.VERIFY, ok=not left, message="nothing remains" if not left else f"{len(left)} objects remain"
            )
            self.workspace.set_state("destroyed" if not left else "destroy-incomplete", nodes=0)
            if not left:
                # The pins belong to servers that no longer exist: a later deploy of this name pins its new servers'
                # published keys instead of calling them replaced.
                self.workspace.write_known_hosts({})
            if not left and self.shared_state() is not None:
                # nothing remains to share: a later clone says so plainly (only this workspace's own prefix)
                self.shared_state().remove(self.workspace.ensure_owner_id())
            return DestroyReport(self.spec.name, [o.describe() for o in left])

    def _cluster_objects(self) -> ClusterObjects:
        spec = self.spec
        return self._cloud().cluster_objects(spec.name, self._owner_id(), spec.region, list(spec.zones), spec.domain)

    def _leftovers(self) -> list[CloudObject]:
        """What remains of the cluster: its owned objects (without an owner id: everything carrying its name)."""
        found = self._cluster_objects()
        return found.owned if found.owner_id else found.foreign

    def _state_ids(self) -> set[str]:
        """IDs of every object in the Terraform state; StateUnreadable when it cannot be read."""
        return self.workspace.tracked_ids()

    def _untracked(self) -> list[CloudObject]:
        """Objects of this cluster that Terraform does not track (left by a killed run); raises StateUnreadable.

        Empty while a Terraform process still holds the state's lock (it may be about to record those objects):
        Terraform then refuses to plan and explains the lock itself.
        """
        if _terraform_holds_state(self.workspace.state_path):
            return []
        tracked = self._state_ids()
        return [o for o in self._leftovers() if o.id.rsplit("/", 1)[-1] not in tracked]

    def _remove_untracked(
        self, phase: ev.Phase, approve: Callable[[list[CloudObject]], bool] | None, only: set[str] | None = None
    ) -> Events:
        """Delete the untracked objects, after `approve` saw the list (None: nobody to ask, so nothing is deleted);
        `only` limits the deletion to objects approved earlier (destroy lists them in its inventory)."""
        untracked = [o for o in self._untracked() if only is None or o.id in only]
        if not untracked:
            return
        listing = "; ".join(o.describe() for o in untracked)
        if approve is None or not approve(untracked):
            raise SwarmwizError(
                f"{len(untracked)} objects of cluster {self.spec.name} are not in Terraform's state (left by an "
                f"interrupted run): {listing}; nothing was deleted: approve their deletion, or delete them in the "
                "cloud consoles",
                title="Untracked objects",
            )

        from swarmwiz.core.api.cleanup import Cleanup

        # Refuses (before the notice) objects not proved to carry this workspace's owner id.
        deleting = Cleanup(self._cloud().api, self.spec.region, self._owner_id()).delete_all(untracked)
        yield ev.Notice(
            phase,
            f"{len(untracked)} objects tagged for cluster {self.spec.name} are not in Terraform's state (left by an "
            "interrupted run); deleting them: " + listing,
        )
        for obj in deleting:
            yield ev.LogLine(phase, f"deleted untracked {obj.describe()}")

    def access_hints(self, status: ClusterStatus) -> list[str]:
        """How to reach the swarm: by the node alias of the cluster's SSH config and the Docker context once access
        is set up (flows/access.py records it in the workspace's metadata), else by address with the pinned keys."""
        managers = [n for n in status.nodes if n.role == "manager" and n.public_ip]
        if not managers:
            return []
        name = self.spec.name
        alias = f"{name}-{managers[0].key}" if managers[0].key else managers[0].hostname
        access = self.workspace.meta().get("access") or {}
        hints: list[str] = []
        if access.get("included_in"):
            hints.append(f"ssh {alias}")
        elif access.get("ssh_config"):
            hints.append(f"ssh -F {access['ssh_config']} {alias}")
        else:
            key = self.spec.ssh_private_key_path
            ident = f" -i {key}" if key else ""
            hints.append(
                f"ssh -o UserKnownHostsFile={self.workspace.known_hosts_path}{ident} root@{managers[0].public_ip}"
            )
        if not access.get("docker_host"):
            target = alias if access.get("included_in") else managers[0].public_ip
            hints.append(f"docker context create swarmwiz-{name} --docker host=ssh://root@{target}")
        hints.append(f"docker --context swarmwiz-{name} node ls")
        return hints


def scheduling(environ: dict[str, str] | None = None) -> str:
    """SWARMWIZ_SCHEDULING: "pipeline" (unset: each node joins once its own cloud-init is done) or "barrier"."""
    value = (os.environ if environ is None else environ).get(SCHEDULING_ENV, "").strip() or "pipeline"
    if value not in ("pipeline", "barrier"):
        raise InputError(f"{SCHEDULING_ENV} must be 'pipeline' or 'barrier' (a benchmark switch), not {value!r}")
    return value


def refuse_other_target(ws: Workspace, target: Target) -> None:
    """InputError when the workspace was made for the lab and the target is the real clouds, or the other way round.

    A cluster never switches between the two: its Terraform state names objects that exist in only one of them.
    """
    if ws.is_lab == target.is_lab:
        return
    made, here = ("the local lab", "Scaleway + Cloudflare") if ws.is_lab else ("Scaleway + Cloudflare", "the local lab")
    flag = "with" if ws.is_lab else "without"
    raise InputError(
        f"cluster {ws.name!r} was made in {made} and this run talks to {here}; run the command {flag} --lab "
        "(a cluster never moves between the lab and the real clouds)"
    )


def _terraform_holds_state(state: Path) -> bool:
    """Whether a Terraform process holds the local state's lock (an fcntl lock on terraform.tfstate).

    A stale `.terraform.tfstate.lock.info` left by a killed run does not count: the OS drops the lock itself
    when the process dies.
    """
    import fcntl

    try:
        fd = os.open(state, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _index(node: Any) -> int:
    """The number in a node key: manager-3 -> 3."""
    return int(node.key.rsplit("-", 1)[1])


# -- asyncio bridge ----------------------------------------------------------------------------------------------
def _run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def _run_async(
    factory: Callable[[Callable[[ev.Event], None]], Coroutine[Any, Any, Any]],
    cancelled: threading.Event | None = None,
) -> Events:
    """Run an async phase in its own thread and loop, yielding the events it emits while it runs.

    When `cancelled` is set the phase is abandoned (its remote commands are idempotent, so a re-run converges)
    and Interrupted is raised.
    """
    q: queue.Queue = queue.Queue()
    done = object()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(factory(q.put))
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc
        finally:
            q.put(done)

    thread = threading.Thread(target=target, name="swarmwiz-async-phase", daemon=True)
    thread.start()
    while True:
        try:
            item = q.get(timeout=0.2)
        except queue.Empty:
            if cancelled is not None and cancelled.is_set():
                raise Interrupted("stopped while waiting on the nodes; run deploy again to continue") from None
            continue
        if item is done:
            break
        yield item
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
