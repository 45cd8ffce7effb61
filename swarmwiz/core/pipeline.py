"""The deploy, plan, status and destroy pipeline that both the wizard and the command line run.

Each operation is a synchronous generator of `events.Event` whose return value is the result (run it in a thread
worker in the TUI; iterate it directly in the CLI). Phases: check credentials, init, plan, apply, wait for SSH,
bootstrap the swarm, check DNS, read status; destroy adds an inventory and a check that nothing remains.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import queue
import threading
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swarmwiz.core import events as ev
from swarmwiz.core.catalog import CostEstimate, bundled, estimate
from swarmwiz.core.errors import InputError, Interrupted, RemoteError, SwarmwizError
from swarmwiz.core.inventory import CloudClient, CloudObject, DnsRecord
from swarmwiz.core.spec import ClusterSpec
from swarmwiz.core.workspace import Workspace

log = logging.getLogger(__name__)

SSH_TIMEOUT_S = 300.0
SWARM_TIMEOUT_S = 300.0
PLAN_FILE = "swarmwiz.tfplan"

Events = Generator[ev.Event, None, Any]


@dataclass(frozen=True)
class InventoryItem:
    kind: str
    name: str
    id: str = ""


@dataclass(frozen=True)
class DestroyReport:
    cluster: str
    leftovers: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.leftovers


@dataclass(frozen=True)
class ClusterStatus:
    """The node table (as `docker node ls`, merged with zones and IPs), quorum health and DNS records."""

    cluster: str
    nodes: list[Any]
    leader: str | None
    managers_reachable: int
    managers_total: int
    dns: list[DnsRecord] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def quorum_ok(self) -> bool:
        return self.managers_total > 0 and self.managers_reachable > self.managers_total // 2

    @property
    def all_ready(self) -> bool:
        return bool(self.nodes) and not self.error and all(n.status == "Ready" for n in self.nodes)

    def health_line(self) -> str:
        survives = (self.managers_total - 1) // 2
        quorum = "quorum OK" if self.quorum_ok else "QUORUM LOST"
        ready = sum(1 for n in self.nodes if n.status == "Ready")
        parts = [
            f"{ready}/{len(self.nodes)} nodes Ready",
            f"leader {self.leader or 'none'}",
            f"{self.managers_reachable}/{self.managers_total} managers reachable, {quorum} "
            f"(survives {survives} manager failure{'s' if survives != 1 else ''})",
        ]
        if self.unreachable:
            parts.append(f"not answering: {', '.join(self.unreachable)}")
        if self.error:
            parts.append(f"status unreadable: {self.error}")
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "leader": self.leader,
            "quorum_ok": self.quorum_ok,
            "managers_reachable": self.managers_reachable,
            "managers_total": self.managers_total,
            "all_ready": self.all_ready,
            "error": self.error,
            "nodes": [
                {
                    "hostname": n.hostname,
                    "role": n.role,
                    "status": n.status,
                    "availability": n.availability,
                    "manager_status": n.manager_status,
                    "engine_version": n.engine_version,
                    "zone": n.zone,
                    "public_ip": n.public_ip,
                    "private_ip": n.private_ip,
                }
                for n in self.nodes
            ],
            "dns": [{"name": r.name, "type": r.type, "content": r.content} for r in self.dns],
        }


class Pipeline:
    """One cluster's operations; services (engine, credentials, lab) are injected or found."""

    def __init__(
        self,
        spec: ClusterSpec,
        workspace: Workspace,
        *,
        lab: bool = False,
        engine: Any = None,
        credentials: Any = None,
        ssh_timeout: float = SSH_TIMEOUT_S,
    ) -> None:
        self.spec = spec
        self.workspace = workspace
        self.lab = lab
        self._engine = engine
        self._credentials = credentials
        self.ssh_timeout = ssh_timeout
        self._env: dict[str, str] | None = None
        self._secrets: list[str] = []
        self._tf = None
        self._cloud_client: CloudClient | None = None
        self._cancelled = threading.Event()

    @classmethod
    def for_spec(cls, spec: ClusterSpec, *, lab: bool = False, **kwargs: Any) -> Pipeline:
        return cls(spec, Workspace.for_name(spec.name), lab=lab, **kwargs)

    @classmethod
    def for_name(cls, name: str, *, lab: bool = False, **kwargs: Any) -> Pipeline:
        ws = Workspace.existing(name)
        if ws.is_lab and not lab:
            lab = True  # a lab cluster can only live in the lab
        return cls(ws.load_spec(), ws, lab=lab, **kwargs)

    # -- services ----------------------------------------------------------------------------------------------
    def cost(self) -> CostEstimate:
        groups = [
            ("managers", self.spec.managers.type, self.spec.managers.count),
            ("workers", self.spec.workers.type, self.spec.workers.count),
        ]
        return estimate(bundled(), list(self.spec.zones), groups)

    def _environment(self) -> dict[str, str]:
        """The environment of every Terraform run and API call: credentials (keyring/env or the lab's) + endpoints."""
        if self._env is None:
            if self.lab:
                from swarmwiz.lab import Lab

                lab = Lab()
                lab.check_prerequisites()
                lab.ensure_running()
                env = dict(lab.env())
            else:
                from swarmwiz.core.credentials import load_credentials

                creds = self._credentials
                if creds is None:
                    creds, _sources = load_credentials()
                env = creds.require().to_env()
            self._env = env
            self._secrets = [env[k] for k in ("SCW_SECRET_KEY", "CLOUDFLARE_API_TOKEN", "SCW_ACCESS_KEY") if env.get(k)]
        return self._env

    def secrets(self) -> list[str]:
        """This run's credential values (known once its environment is built), for run logs to mask."""
        return list(self._secrets)

    def _terraform(self):
        if self._tf is None:
            from swarmwiz.core.terraform import Terraform, find_engine

            engine = self._engine or find_engine()
            self._tf = Terraform(self.workspace.path, env=self._environment(), engine=engine, secrets=self._secrets)
        return self._tf

    def _cloud(self) -> CloudClient:
        """The one API client of this pipeline (its HTTP connections are reused across phases)."""
        if self._cloud_client is None:
            self._cloud_client = CloudClient(self._environment())
        return self._cloud_client

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
    def _phase_credentials(self) -> Events:
        from swarmwiz.core.cloud import Endpoints
        from swarmwiz.core.credentials import credentials_from_env, validate_live

        yield ev.PhaseStarted(ev.Phase.CREDENTIALS)
        env = self._environment()
        validate_live(credentials_from_env(env), Endpoints.from_env(env), domain=self.spec.domain)
        if not self._cloud().zone_id(self.spec.domain):
            raise InputError(
                f"dns.domain: {self.spec.domain} is not a zone of the Cloudflare account; add it in Cloudflare first "
                "or choose one of the account's zones"
            )
        yield ev.PhaseFinished(ev.Phase.CREDENTIALS, message="lab credentials" if self.lab else "credentials valid")

    def _phase_init(self) -> Events:
        yield ev.PhaseStarted(ev.Phase.INIT)
        marker = self.workspace.path / ".terraform" / "swarmwiz-init"
        lockfile = self.workspace.path / ".terraform.lock.hcl"
        versions = self.workspace.path / "versions.tf"
        if marker.is_file() and lockfile.is_file() and marker.read_text() == versions.read_text():
            yield ev.PhaseFinished(ev.Phase.INIT, skipped=True, message="providers already installed")
            return
        yield from self._terraform().init()
        marker.write_text(versions.read_text())
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
        for event in self._terraform().apply(plan_file=saved, destroy=destroy):
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
            )
            for k, v in nodes.items()
        ]
        return sorted(result, key=lambda n: (n.role != "manager", _index(n)))

    def _ssh_options(self) -> dict[str, Any]:
        key = self.spec.ssh_private_key_path
        return {"known_hosts": self.workspace.known_hosts_path, "client_keys": [key] if key else None}

    def _phase_ssh(self, nodes: list[Any]) -> Events:
        from swarmwiz.core.ssh import wait_for_ssh

        yield ev.PhaseStarted(ev.Phase.SSH)
        done = 0

        async def wait_all(emit: Callable[[ev.Event], None]) -> None:
            nonlocal done

            async def one(node) -> None:
                nonlocal done
                await wait_for_ssh(node.public_ip, timeout=self.ssh_timeout, name=node.name, **self._ssh_options())
                done += 1
                emit(ev.PhaseProgress(ev.Phase.SSH, done, len(nodes), f"{node.name} answers"))

            emit(ev.PhaseProgress(ev.Phase.SSH, 0, len(nodes), f"waiting up to {self.ssh_timeout:.0f}s for sshd"))
            results = await asyncio.gather(*(one(n) for n in nodes), return_exceptions=True)
            failed = [r for r in results if isinstance(r, BaseException)]
            if any(not isinstance(f, RemoteError) or f.title == "SSH host key changed" for f in failed):
                raise next(f for f in failed if not isinstance(f, RemoteError) or f.title == "SSH host key changed")
            if failed:
                raise RemoteError(
                    f"{len(failed)} of {len(nodes)} nodes did not answer SSH ({failed[0].message}); the servers exist "
                    f"and are tracked. Check that ssh.allowed_cidrs ({', '.join(self.spec.allowed_cidrs)}) includes "
                    "this machine's address, then run deploy again",
                    title="Nodes not answering",
                )

        yield from _run_async(wait_all, self._cancelled)
        yield ev.PhaseFinished(ev.Phase.SSH, message=f"{len(nodes)} nodes answer with their pinned host keys")

    def _phase_swarm(self, nodes: list[Any]) -> Events:
        from swarmwiz.core.swarm import bootstrap

        yield ev.PhaseStarted(ev.Phase.SWARM)

        async def run(emit: Callable[[ev.Event], None]) -> None:
            await bootstrap(
                nodes,
                on_log=lambda text: emit(ev.LogLine(ev.Phase.SWARM, text)),
                timeout=SWARM_TIMEOUT_S,
                **self._ssh_options(),
            )

        yield from _run_async(run, self._cancelled)
        managers = sum(1 for n in nodes if n.role == "manager")
        yield ev.PhaseFinished(ev.Phase.SWARM, message=f"{managers} managers, {len(nodes) - managers} workers")

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
        wildcard = f"*.{self.spec.domain}"
        have = {r.content for r in records if r.name == wildcard and r.type == "A"}
        if have != wanted:
            missing = ", ".join(sorted(wanted - have)) or "none"
            extra = ", ".join(sorted(have - wanted)) or "none"
            raise RemoteError(f"DNS: {wildcard} does not match the managers (missing {missing}; unexpected {extra})")
        yield ev.PhaseFinished(ev.Phase.DNS, message=f"{wildcard} -> {', '.join(sorted(have))}")
        return records

    def _cluster_records(self) -> list[DnsRecord]:
        prefix = f"swarmwiz:{self.spec.name}:"
        return [r for r in self._cloud().dns_records(self.spec.domain) if r.comment.startswith(prefix)]

    def _status(self, nodes: list[Any], dns: list[DnsRecord]) -> ClusterStatus:
        from swarmwiz.core.swarm import status as swarm_status

        result = _run_sync(swarm_status(nodes, timeout=60.0, **self._ssh_options()))
        return ClusterStatus(
            cluster=self.spec.name,
            nodes=list(result.nodes),
            leader=result.leader,
            managers_reachable=result.managers_reachable,
            managers_total=result.managers_total,
            dns=dns,
            unreachable=list(getattr(result, "unreachable", []) or []),
            error=getattr(result, "error", None),
        )

    # -- operations ----------------------------------------------------------------------------------------------
    def plan(self) -> Generator[ev.Event, None, ev.PlanSummary]:
        """Check credentials, render the workspace, init and plan; returns the plan summary."""
        with self.workspace.lock("plan"):
            self.workspace.render(self.spec, lab=self.lab)
            yield from self._phase_credentials()
            yield from self._phase_init()
            return (yield from self._phase_plan())

    def deploy(
        self, confirm: Callable[[ev.PlanSummary, CostEstimate], bool] | None = None, *, auto_approve: bool = False
    ) -> Generator[ev.Event, None, Any]:
        """Create or converge the cluster; returns its ClusterStatus, or None when `confirm` declined.

        With `auto_approve` (`deploy --yes`) there is no separate plan step: one `terraform apply -auto-approve`
        plans and applies, which saves a whole Terraform run (its plan summary still arrives as an event).
        """
        with self.workspace.lock("deploy"):
            self.workspace.render(self.spec, lab=self.lab)
            yield from self._phase_credentials()
            self._checkpoint()
            yield from self._phase_init()
            self._checkpoint()
            before = self._known_nodes()
            yield from self._remove_untracked(ev.Phase.PLAN)
            wanted = set(self.spec.node_keys())
            leaving = [n for n in before if n.key not in wanted]
            summary = None
            if not auto_approve:
                summary = yield from self._phase_plan()
                if confirm is not None and not confirm(summary, self.cost()):
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
                raise
            self._checkpoint()
            nodes = current if current is not None and {n.key for n in current} == wanted else self._nodes()
            self.workspace.write_known_hosts({n.key: [n.public_ip, n.private_ip] for n in nodes})
            yield from self._phase_ssh(nodes)
            self._checkpoint()
            yield from self._phase_swarm(nodes)
            self._checkpoint()
            records = yield from self._phase_dns(nodes)
            yield ev.PhaseStarted(ev.Phase.STATUS)
            status = self._status(nodes, records)
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

    def read_status(self) -> ClusterStatus:
        """The node table of a deployed cluster, read over SSH from a manager, plus its DNS records."""
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
        """Every resource of the cluster from Terraform state, as it will be deleted."""
        items = []
        for address in self._terraform().state_list():
            if address.startswith("data."):
                continue
            kind = address.split("[")[0].rsplit(".", 1)[0]
            items.append(InventoryItem(kind=kind, name=address))
        return items

    def destroy(self, confirm: Callable[[list[InventoryItem]], bool]) -> Generator[ev.Event, None, Any]:
        """Tear the cluster down and check through the APIs that nothing of it remains; None when declined."""
        with self.workspace.lock("destroy"):
            self._environment()
            yield from self._phase_init()
            items = self.inventory() if self.workspace.state_path.is_file() else []
            if not confirm(items):
                return None
            self._checkpoint()
            self.workspace.set_state("destroying")
            summary = yield from self._phase_plan(destroy=True)
            yield from self._phase_apply(summary.destroy, destroy=True)
            yield ev.PhaseStarted(ev.Phase.VERIFY)
            yield from self._remove_untracked(ev.Phase.VERIFY)
            left = self._leftovers()
            yield ev.PhaseFinished(
                ev.Phase.VERIFY, ok=not left, message="nothing remains" if not left else f"{len(left)} objects remain"
            )
            self.workspace.set_state("destroyed" if not left else "destroy-incomplete", nodes=0)
            return DestroyReport(self.spec.name, [o.describe() for o in left])

    def _leftovers(self) -> list[CloudObject]:
        return self._cloud().cluster_objects(self.spec.name, self.spec.region, list(self.spec.zones), self.spec.domain)

    def _state_ids(self) -> set[str]:
        """IDs (last path part: 'fr-par-1/<uuid>' -> '<uuid>') of every object in the Terraform state."""
        try:
            state = json.loads(self.workspace.state_path.read_text())
        except (FileNotFoundError, ValueError):
            return set()
        return {
            str(inst.get("attributes", {}).get("id", "")).rsplit("/", 1)[-1]
            for res in state.get("resources", [])
            for inst in res.get("instances", [])
        } - {""}

    def _remove_untracked(self, phase: ev.Phase) -> Events:
        """Delete objects tagged for this cluster that Terraform does not track (left by a killed run).

        Skipped while a Terraform process still holds the state's lock (it may be about to record those objects):
        Terraform then refuses to plan and explains the lock itself.
        """
        if _terraform_holds_state(self.workspace.state_path):
            return
        tracked = self._state_ids()
        untracked = [o for o in self._leftovers() if o.id.rsplit("/", 1)[-1] not in tracked]
        if not untracked:
            return
        yield ev.Notice(
            phase,
            f"{len(untracked)} objects tagged for cluster {self.spec.name} are not in Terraform's state (left by an "
            "interrupted run); deleting them: " + "; ".join(o.describe() for o in untracked),
        )
        cloud = self._cloud()
        order = {kind: i for i, kind in enumerate(cloud.DELETE_ORDER)}
        for obj in sorted(untracked, key=lambda o: order.get(o.kind, 99)):
            cloud.delete(obj, self.spec.region)
            yield ev.LogLine(phase, f"deleted untracked {obj.describe()}")

    def access_hints(self, status: ClusterStatus) -> list[str]:
        managers = [n for n in status.nodes if n.role == "manager" and n.public_ip]
        if not managers:
            return []
        ip = managers[0].public_ip
        kh = self.workspace.known_hosts_path
        key = self.spec.ssh_private_key_path
        ident = f" -i {key}" if key else ""
        return [
            f"ssh -o UserKnownHostsFile={kh}{ident} root@{ip}",
            f"docker over SSH reads ~/.ssh/known_hosts; trust the pinned keys: cat {kh} >> ~/.ssh/known_hosts",
            f"docker context create swarmwiz-{self.spec.name} --docker host=ssh://root@{ip}",
            f"docker --context swarmwiz-{self.spec.name} node ls",
        ]


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


def ensure_docker_context(name: str, manager_ip: str, *, docker: str | None = None) -> str | None:
    """Create (or point at a new manager) the Docker context `swarmwiz-NAME` when the docker CLI is installed.

    Returns a sentence saying what was done, or None when there is no docker CLI. The context reaches the manager
    over SSH, so plain `ssh root@IP` must trust the node's host key (the workspace's known_hosts holds it).
    """
    import shutil
    import subprocess

    docker = docker or shutil.which("docker")
    if not docker or os.environ.get("SWARMWIZ_NO_DOCKER_CONTEXT"):
        return None
    context = f"swarmwiz-{name}"
    endpoint = f"host=ssh://root@{manager_ip}"
    exists = subprocess.run([docker, "context", "inspect", context], capture_output=True, timeout=20).returncode == 0
    verb = "update" if exists else "create"
    done = subprocess.run(
        [docker, "context", verb, context, "--docker", endpoint], capture_output=True, text=True, timeout=20
    )
    if done.returncode != 0:
        return f"could not {verb} the Docker context {context}: {done.stderr.strip()[:200]}"
    return f"Docker context {context} {'updated' if exists else 'created'} (ssh://root@{manager_ip})"


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
