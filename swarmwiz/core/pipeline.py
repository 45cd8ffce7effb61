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
import threading
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swarmwiz.core import events as ev
from swarmwiz.core import nodeflow, tfstate
from swarmwiz.core.aiobridge import run_async, run_sync
from swarmwiz.core.api.inventory import CloudObject, DnsRecord, Inventory
from swarmwiz.core.catalog import CostEstimate, bundled, estimate
from swarmwiz.core.clientkey import client_keys
from swarmwiz.core.errors import InputError, Interrupted, RemoteError, SwarmwizError
from swarmwiz.core.network import VPC_NAME
from swarmwiz.core.nodeflow import SCHEDULING_ENV, SWARM_TIMEOUT_S, scheduling  # noqa: F401 (re-exported)
from swarmwiz.core.ownership import Ownership
from swarmwiz.core.paths import atomic_write
from swarmwiz.core.sharedstate import SharedState, StateSync
from swarmwiz.core.spec import ClusterSpec
from swarmwiz.core.status import ClusterStatus
from swarmwiz.core.target import Target
from swarmwiz.core.tfstate import InventoryItem
from swarmwiz.core.workspace import Workspace

log = logging.getLogger(__name__)

SSH_TIMEOUT_S = 300.0
PLAN_FILE = "swarmwiz.tfplan"

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
        self._cancelled = threading.Event()
        self.sync = StateSync(spec, workspace, target, environment=self._environment, terraform=self._terraform)
        self.ownership = Ownership(spec, workspace, self._cloud)

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
            self._env |= self.sync.backend_environment(self._env)
        return self._env

    def secrets(self) -> list[str]:
        """This run's credential values (known once its environment is built), for run logs to mask."""
        return list(self._secrets)

    def shared_state(self) -> SharedState | None:
        """The cluster's shared state in Object Storage ([state] bucket), or None for a local state."""
        return self.sync.shared

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

    def _network(self, *, create: bool = True):
        """VPC and private subnet: pinned, kept from an earlier deploy, or a free /22 (core/network.py).

        Runs before the workspace is written, so a pinned subnet that clashes leaves nothing behind. With `create`
        false (a plan) a missing VPC is not created: the choice then says that the deploy will create it."""
        from swarmwiz.core import network

        ws = self.workspace
        owner = self._owner_id() if ws.exists() else None
        stored = ws.network if ws.exists() else None
        api = self._cloud().api
        pinned = self.spec.private_subnet
        return network.choose(api, self.spec.region, self.spec.name, owner, pinned=pinned, stored=stored, create=create)

    def _owner_id(self) -> str | None:
        """The workspace's owner id, or None (see Ownership.owner_id)."""
        return self.ownership.owner_id

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
        """Pre-flight (preflight.run): credentials, write rights, domain, quotas and DNS names, before anything exists.

        `replace_dns` approves deleting records in the way (dns.replace_existing); None: only list them (plan).
        """
        from swarmwiz.core import preflight

        return preflight.run(
            self.spec,
            self.target,
            environment=self._environment,
            cloud=self._cloud,
            owner_id=self._owner_id(),
            replace_dns=replace_dns,
        )

    def _phase_init(self, move: Callable[[str], bool] | None = None) -> Events:
        """Terraform init; `move` approves moving a locally deployed cluster's state to its new [state] bucket
        (deploy only: a plan, status or destroy keeps using the local state until then)."""
        yield ev.PhaseStarted(ev.Phase.INIT)
        if self.sync.moving():
            if move is None:
                yield ev.Notice(ev.Phase.INIT, self.sync.stay_local())
            else:
                yield from self.sync.move(self._terraform(), move)
        marker = self.workspace.path / ".terraform" / "swarmwiz-init"
        lockfile = self.workspace.path / ".terraform.lock.hcl"
        versions = self.workspace.path / "versions.tf"
        wanted = versions.read_text() + self.sync.backend_fingerprint()
        if marker.is_file() and lockfile.is_file() and marker.read_text() == wanted:
            self.sync.pull()
            yield ev.PhaseFinished(ev.Phase.INIT, skipped=True, message="providers already installed")
            return
        yield from self._terraform().init(backend_config=self.sync.prepare_backend())
        atomic_write(marker, wanted)
        self.sync.pull()
        yield ev.PhaseFinished(ev.Phase.INIT, message=self.sync.init_message())

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
        self.sync.pull()
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

    def _published(self, node: Any) -> Callable[[], Coroutine[Any, Any, str]]:
        """Reads the host key fingerprints `node` publishes in its user data (authenticated API, off the loop)."""
        return lambda: asyncio.to_thread(self._cloud().host_fingerprints, node.server_id)

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

            yield from run_async(functools.partial(self._remove_step, list(managers), step), self._cancelled)
            managers = [m for m in managers if m not in step]
            yield ev.PhaseProgress.of_nodes(ev.Phase.DRAIN, done, len(steps), [n.name for n in step], "removed")
        yield ev.PhaseFinished(ev.Phase.DRAIN, message=", ".join(n.name for n in leaving) + " left the swarm")

    async def _remove_step(self, managers: list[Any], step: list[Any], emit: Callable[[ev.Event], None]) -> None:
        from swarmwiz.core.scaledown import remove_nodes

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

        result = run_sync(swarm_status(nodes, timeout=60.0, **self._ssh_options()))
        return dataclasses.replace(result, cluster=self.spec.name, dns=list(dns))

    # -- operations ----------------------------------------------------------------------------------------------
    def plan(self) -> Generator[ev.Event, None, ev.PlanSummary]:
        """Check credentials, render the workspace, init and plan; returns the plan summary."""
        yield from self._phase_credentials()  # before anything is written: a bad domain leaves no workspace
        network = self._network(create=False)  # a preview creates nothing in the cloud, not even the VPC
        if network.vpc_to_create:
            yield ev.Notice(
                ev.Phase.PLAN,
                f"the project has no VPC in {self.spec.region} to join; deploy will create swarmwiz's own VPC "
                f"{VPC_NAME!r} there (shared by this project's clusters, kept by teardown)",
            )
        with self.workspace.lock("plan"):
            self.workspace.render(self.spec, lab=self.target.is_lab, network=network.tfvars())
            yield from self._phase_init()
            return (yield from self._phase_plan())

    def deploy(
        self,
        confirm: Callable[[ev.PlanSummary, CostEstimate], bool] | None = None,
        *,
        auto_approve: bool = False,
        confirm_delete: Callable[[list[CloudObject]], bool] | None = None,
        confirm_replace_dns: Callable[[list[DnsRecord]], bool] | None = None,
        confirm_move: Callable[[str], bool] | None = None,
    ) -> Generator[ev.Event, None, Any]:
        """Create or converge the cluster; returns its ClusterStatus, or None when `confirm` declined.

        With `auto_approve` (`deploy --yes`) there is no separate plan step: one `terraform apply -auto-approve`
        plans and applies, which saves a whole Terraform run (its plan summary still arrives as an event).
        Objects of the cluster that Terraform does not track are listed to `confirm_delete` (approved by
        `auto_approve`) before anything is deleted; without approval the deploy stops with one sentence. DNS records
        in the cluster's way (with dns.replace_existing) go to `confirm_replace_dns` the same way, and the move of a
        locally deployed cluster's state to its new [state] bucket to `confirm_move` (a question, approved by
        `auto_approve`; without approval nothing changes).
        """
        self._ssh_options()  # a passphrase-protected key without an agent is refused before anything is created
        scheduling()  # so is a mistyped SWARMWIZ_SCHEDULING
        approve_dns = (lambda _records: True) if auto_approve else confirm_replace_dns or (lambda _records: False)
        yield from self._phase_credentials(approve_dns)  # before anything is written: nothing exists on refusal
        network = self._network().tfvars()  # a clashing pinned subnet is refused before the workspace exists
        with self.workspace.lock("deploy"):
            self.workspace.render(self.spec, lab=self.target.is_lab, network=network)
            self._checkpoint()
            approve_move = (lambda _question: True) if auto_approve else confirm_move or (lambda _question: False)
            yield from self._phase_init(move=approve_move)
            self.sync.push()
            self._checkpoint()
            before = self._known_nodes()
            yield from self.ownership.remove_untracked(
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
            swarm_status = yield from nodeflow.phase_swarm(self, nodes)  # per node: SSH -> cloud-init -> join
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
            untracked = self.ownership.untracked()  # StateUnreadable before anything is asked or deleted
            items = self.inventory() if self.workspace.state_path.is_file() else []
            items += [InventoryItem(o.kind, f"{o.describe()} (not in Terraform's state)", o.id) for o in untracked]
            if not confirm(items):
                return None
            self._checkpoint()
            self.workspace.set_state("destroying")
            summary = yield from self._phase_plan(destroy=True)
            yield from self._phase_apply(summary.destroy, destroy=True)
            yield ev.PhaseStarted(ev.Phase.VERIFY)
            yield from self.ownership.remove_untracked(
                ev.Phase.VERIFY, lambda _objects: True, {o.id for o in untracked}
            )
            left = self.ownership.leftovers()
            yield ev.PhaseFinished(
                ev.Phase.VERIFY, ok=not left, message="nothing remains" if not left else f"{len(left)} objects remain"
            )
            self.workspace.set_state("destroyed" if not left else "destroy-incomplete", nodes=0)
            if not left:
                # The pins belong to servers that no longer exist: a later deploy of this name pins its new servers'
                # published keys instead of calling them replaced.
                self.workspace.write_known_hosts({})
            if not left:
                self.sync.remove()
            return DestroyReport(self.spec.name, [o.describe() for o in left])


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


def _index(node: Any) -> int:
    """The number in a node key: manager-3 -> 3."""
    return int(node.key.rsplit("-", 1)[1])
