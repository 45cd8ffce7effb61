"""Recorded pipeline runs for the TUI tests: real Terraform -json streams parsed by the core, wrapped in phases.

`RecordedPipeline` has the Pipeline's interface (plan, deploy, read_status, destroy, cancel, force) and replays
these events, plus fixed access hints that RecordedServices hands the result screen; `gate` holds a run at a
chosen event so a test can look at a deploy in progress.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from swarmwiz.core.api.inventory import DnsRecord
from swarmwiz.core.errors import InputError, Interrupted, SwarmwizError
from swarmwiz.core.events import (
    Event,
    LogLine,
    Notice,
    Phase,
    PhaseFinished,
    PhaseProgress,
    PhaseStarted,
    PlanSummary,
)
from swarmwiz.core.pipeline import ClusterStatus, DestroyReport, InventoryItem
from swarmwiz.core.swarm import NodeStatus
from swarmwiz.core.tfevents import StreamParser

STREAMS = Path(__file__).parent.parent / "fixtures" / "terraform" / "streams"
T0 = 1000.0  # fixed timestamps: recorded events must render the same way every time


def _stamp(events: list[Event]) -> list[Event]:
    import dataclasses

    return [dataclasses.replace(e, at=T0 + i * 0.1) for i, e in enumerate(events)]


def _parse(name: str, phase: Phase) -> list[Event]:
    parser = StreamParser(phase)
    out: list[Event] = []
    for line in (STREAMS / name).read_text().splitlines():
        out.extend(parser.feed_json(line))
    return out


def plan_events() -> tuple[list[Event], PlanSummary]:
    events: list[Event] = [
        PhaseStarted(Phase.CREDENTIALS),
        PhaseFinished(Phase.CREDENTIALS, message="all valid"),
        PhaseStarted(Phase.INIT),
        LogLine(Phase.INIT, "Terraform has been successfully initialized!"),
        PhaseFinished(Phase.INIT),
        PhaseStarted(Phase.PLAN),
    ]
    parsed = _parse("apply_events_12s.jsonl", Phase.PLAN)
    plan = [e for e in parsed if isinstance(e, PlanSummary)][0]
    events += [e for e in parsed[:5] if not isinstance(e, PlanSummary)]
    events.append(
        PhaseFinished(Phase.PLAN, message=f"{plan.add} to add, {plan.change} to change, {plan.destroy} to destroy")
    )
    return _stamp(events), plan


def apply_events() -> list[Event]:
    parsed = [e for e in _parse("apply_events_12s.jsonl", Phase.APPLY) if not isinstance(e, PlanSummary)]
    events: list[Event] = [PhaseStarted(Phase.APPLY), *parsed, PhaseFinished(Phase.APPLY)]
    events += node_events()
    events += [
        PhaseStarted(Phase.DNS),
        PhaseFinished(Phase.DNS),
        PhaseStarted(Phase.STATUS),
        PhaseFinished(Phase.STATUS, message="5/5 nodes Ready"),
    ]
    return _stamp(events)


NODES = ["demo-manager-1", "demo-manager-2", "demo-manager-3", "demo-worker-1", "demo-worker-2"]


def node_events() -> list[Event]:
    """The per-node phases as NodeFlow emits them: each node answers SSH, gets Docker and joins on its own, so the
    SSH, cloud-init and swarm phases overlap (the first manager is in the swarm before the last worker answers)."""
    ssh, docker, swarm = Phase.SSH, Phase.CLOUD_INIT, Phase.SWARM
    m1, m2, m3, w1, w2 = NODES
    return [
        PhaseStarted(ssh),
        PhaseProgress(ssh, 0, 5, "waiting up to 300s for sshd", nodes=tuple(NODES), state="waiting"),
        PhaseProgress.of_nodes(ssh, 1, 5, [m1], "answers"),
        PhaseStarted(docker),
        PhaseProgress(docker, 0, 5, "waiting for cloud-init to install Docker"),
        PhaseProgress.of_nodes(ssh, 2, 5, [m2], "answers"),
        PhaseProgress.of_nodes(docker, 1, 5, [m1], "has Docker"),
        PhaseStarted(swarm),
        LogLine(swarm, f"{m1}: docker swarm init --advertise-addr 172.16.8.2"),
        Notice(swarm, "join tokens stay in memory only"),
        PhaseProgress.of_nodes(swarm, 1, 5, [m1], "in the swarm"),
        PhaseProgress.of_nodes(ssh, 3, 5, [m3], "answers"),
        PhaseProgress.of_nodes(ssh, 4, 5, [w1], "answers"),
        PhaseProgress.of_nodes(docker, 2, 5, [m2], "has Docker"),
        PhaseProgress.of_nodes(ssh, 5, 5, [w2], "answers"),
        PhaseFinished(ssh, message="5 nodes answer with the host keys they published"),
        PhaseProgress.of_nodes(swarm, 2, 5, [m2], "in the swarm"),
        PhaseProgress.of_nodes(docker, 3, 5, [m3], "has Docker"),
        PhaseProgress.of_nodes(docker, 4, 5, [w1], "has Docker"),
        PhaseProgress.of_nodes(docker, 5, 5, [w2], "has Docker"),
        PhaseFinished(docker, message="5 nodes finished cloud-init"),
        PhaseProgress.of_nodes(swarm, 3, 5, [m3], "in the swarm"),
        PhaseProgress.of_nodes(swarm, 4, 5, [w1], "in the swarm"),
        PhaseProgress.of_nodes(swarm, 5, 5, [w2], "in the swarm"),
        PhaseFinished(swarm, message="3 managers, 2 workers"),
    ]


def cluster_status(name: str = "demo") -> ClusterStatus:
    nodes = []
    for i in range(5):
        manager = i < 3
        key = f"manager-{i + 1}" if manager else f"worker-{i - 2}"
        nodes.append(
            NodeStatus(
                hostname=f"{name}-{key}",
                role="manager" if manager else "worker",
                status="Ready",
                availability="Active",
                manager_status=("Leader" if i == 0 else "Reachable") if manager else "",
                engine_version="20.10.24",
                zone="fr-par-1" if i % 2 == 0 else "fr-par-2",
                public_ip=f"198.51.100.{10 + i}",
                private_ip=f"172.16.8.{2 + i}",
                node_id=f"node{i}",
                key=key,
            )
        )
    dns = [DnsRecord("*.example.com", "A", f"198.51.100.{10 + i}") for i in range(3)]
    return ClusterStatus(
        cluster=name, nodes=nodes, leader=f"{name}-manager-1", managers_reachable=3, managers_total=3, dns=dns
    )


@dataclass(frozen=True)
class _Item:
    kind: str
    name: str
    id: str
    detail: str


class RecordedPipeline:
    """Replays recorded events through the Pipeline interface, from the caller's (worker) thread."""

    def __init__(
        self,
        name: str = "demo",
        *,
        gate_after: int | None = None,
        fail_with: Exception | None = None,
        untracked: list | None = None,
        move_to: str | None = None,
    ):
        self.name = name
        # A bucket the cluster's local state is to move to ([state] added after a local deploy): asked at init.
        self.move_to = move_to
        self.moves: list[bool] = []  # the answers to that question
        self.untracked = list(untracked or [])  # CloudObjects "left by an interrupted run": asked about before the plan
        self.gate_after = gate_after  # deploy pauses after this many apply events until `release()`
        self.gate = threading.Event()
        self.paused = threading.Event()
        self.fail_with = fail_with
        self.cancelled = threading.Event()
        self.confirmed: list = []
        self.forced = False

    secrets = ()

    @property
    def workspace(self):
        """The cluster's real workspace (under the test's SWARMWIZ_HOME): run logs and access files go there."""
        from swarmwiz.core.workspace import Workspace

        ws = Workspace.for_name(self.name)
        ws.path.mkdir(parents=True, exist_ok=True)
        return ws

    @property
    def spec(self):
        from types import SimpleNamespace

        return SimpleNamespace(name=self.name, ssh_private_key_path=None)

    def release(self) -> None:
        self.gate.set()

    def cost(self):
        from swarmwiz.core.catalog import bundled, estimate

        return estimate(bundled(), ["fr-par-1", "fr-par-2"], [("managers", "DEV1-S", 3), ("workers", "DEV1-M", 2)])

    def plan(self):
        events, summary = plan_events()
        yield from events
        return summary

    def deploy(self, confirm, *, confirm_delete=None, confirm_replace_dns=None, confirm_move=None):
        events, summary = plan_events()
        for event in events:
            yield event
            if self.move_to and isinstance(event, PhaseStarted) and event.phase == Phase.INIT:
                yield from self._move(confirm_move)
        if self.untracked:  # as Ownership.remove_untracked: nothing is deleted without an approval
            listing = "; ".join(o.describe() for o in self.untracked)
            if confirm_delete is None or not confirm_delete(list(self.untracked)):
                raise SwarmwizError(
                    f"{len(self.untracked)} objects of cluster {self.name} are not in Terraform's state; nothing was "
                    f"deleted: {listing}",
                    title="Untracked objects",
                )
            self.untracked = []
            yield Notice(Phase.PLAN, f"deleting them: {listing}")
        if not confirm(summary, self.cost()):
            return None
        self.confirmed.append(summary)
        for i, event in enumerate(apply_events()):
            if self.gate_after is not None and i == self.gate_after:
                self.paused.set()
                while not self.gate.wait(0.05):
                    if self.cancelled.is_set():
                        yield LogLine(Phase.APPLY, "Interrupt received. Gracefully shutting down...")
                        raise Interrupted("stopped safely: Terraform saved its state; deploy again to continue")
            if self.fail_with is not None and isinstance(event, PhaseStarted) and event.phase == Phase.SSH:
                raise self.fail_with
            yield event
        return cluster_status(self.name)

    def _move(self, confirm_move):
        """As StateSync.move: the question first; without a yes nothing changes and the deploy stops."""
        where = f"s3://{self.move_to}/swarmwiz/{self.name}/"
        question = f"move the Terraform state of cluster {self.name} from terraform.tfstate to {where}"
        approved = bool(confirm_move is not None and confirm_move(question))
        self.moves.append(approved)
        if not approved:
            raise InputError(
                f"state.bucket: the move of the Terraform state of cluster {self.name!r} to {where} was not approved, "
                "so nothing changed and the local state stays in use"
            )
        yield LogLine(Phase.INIT, f"moving the Terraform state from terraform.tfstate to {where}")
        yield Notice(Phase.INIT, f"the Terraform state moved to {where}")

    def read_status(self) -> ClusterStatus:
        return cluster_status(self.name)

    def access_hints(self, status) -> list[str]:
        return [
            f"ssh root@{status.nodes[0].public_ip}",
            f"docker context create swarmwiz-{self.name} --docker host=ssh://root@{status.nodes[0].public_ip}",
        ]

    def inventory(self) -> list[InventoryItem]:
        # What a person recognises (kind, name, detail), as Pipeline.inventory() gives it with `detail`; built
        # as InventoryItem when it has that field, else as the same shape (the TUI reads `detail` with getattr).
        rows = [
            ("server", f"{self.name}-manager-{i}", f"fr-par-{1 + (i - 1) % 2} 198.51.100.{9 + i}") for i in (1, 2, 3)
        ]
        rows.append(("DNS record", "*.example.com", "A 198.51.100.10, 198.51.100.11, 198.51.100.12"))
        if "detail" in getattr(InventoryItem, "__dataclass_fields__", {}):
            return [InventoryItem(kind, name, "", detail) for kind, name, detail in rows]
        return [_Item(kind, name, "", detail) for kind, name, detail in rows]

    def destroy(self, confirm):
        yield PhaseStarted(Phase.INIT)
        yield PhaseFinished(Phase.INIT)
        if not confirm(self.inventory()):
            return None
        yield PhaseStarted(Phase.DESTROY)
        for e in _parse("destroy_tf1.11.jsonl", Phase.DESTROY):
            if not isinstance(e, PlanSummary):
                yield e
        yield PhaseFinished(Phase.DESTROY)
        yield PhaseStarted(Phase.VERIFY)
        yield PhaseFinished(Phase.VERIFY, message="nothing remains")
        return DestroyReport(self.name, [])

    def cancel(self) -> None:
        self.cancelled.set()

    def force(self) -> None:
        self.forced = True
