"""What a cluster looks like now: the node table (Docker's view merged with Terraform's), quorum health and DNS."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

NODE_FIELDS = (
    "hostname",
    "role",
    "status",
    "availability",
    "manager_status",
    "engine_version",
    "zone",
    "public_ip",
    "private_ip",
)


@dataclass
class NodeStatus:
    """One row of the status table: Docker's view of a node merged with Terraform's (zone, IPs)."""

    hostname: str
    role: str
    status: str  # Ready | Down | Unknown
    availability: str
    manager_status: str  # Leader | Reachable | Unreachable | ""
    engine_version: str
    zone: str = ""
    public_ip: str = ""
    private_ip: str = ""
    node_id: str = ""
    key: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: data[k] for k in NODE_FIELDS}


@dataclass
class ClusterStatus:
    """The cluster as seen from one reachable manager (`source`), plus its DNS records; `error` says why nothing
    could be read (every node is then "Unknown"). The swarm layer fills the nodes; the pipeline names the cluster
    and adds the DNS records (objects with name, type and content)."""

    cluster: str = ""
    nodes: list[NodeStatus] = field(default_factory=list)
    leader: str | None = None
    managers_reachable: int = 0
    managers_total: int = 0
    dns: list[Any] = field(default_factory=list)
    source: str | None = None  # the manager that answered
    unreachable: list[str] = field(default_factory=list)  # managers asked first that did not answer
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
            "unreachable": list(self.unreachable),
            "nodes": [n.to_json() for n in self.nodes],
            "dns": [{"name": r.name, "type": r.type, "content": r.content} for r in self.dns],
        }
