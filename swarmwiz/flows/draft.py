"""The cluster answers given so far (wizard and plain mode), and per-step validation reusing the core's checks."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from swarmwiz.core.errors import SpecError

# The SSH range until the user, or this machine's public address found by a worker, gives a narrower one.
ANYWHERE = ("0.0.0.0/0",)

# Which cluster.toml fields each step owns: a step shows only the problems of its own fields.
STEP_FIELDS = {
    "place": ("name", "zones", "state."),
    "types": ("managers.type", "workers.type"),
    "counts": ("managers.count", "workers.count"),
    "domain": ("dns.",),
    "ssh": ("ssh.",),
}


@dataclass(frozen=True)
class Draft:
    """Everything the user chose; `to_dict` is the cluster.toml shape that `core.spec.validate` checks."""

    name: str = ""
    region: str = "fr-par"
    zones: tuple[str, ...] = ("fr-par-1",)
    manager_type: str = "DEV1-S"
    worker_type: str = "DEV1-S"
    managers: int = 3
    workers: int = 2
    domain: str = ""
    subdomain: str = ""  # "" for *.DOMAIN; "demo" puts the cluster's records at *.demo.DOMAIN
    apex: bool = False
    public_key: str = ""
    allowed_cidrs: tuple[str, ...] = ANYWHERE
    image: str = "ubuntu_noble"
    state_bucket: str = ""  # "" keeps the Terraform state in the workspace; else [state] bucket (shared state)

    def update(self, **changes: Any) -> Draft:
        return replace(self, **changes)

    @property
    def dns_name(self) -> str:
        """The name the records hang below, as the spec's `dns_name` ("<domain>" while no domain is given)."""
        domain = self.domain or "<domain>"
        return f"{self.subdomain}.{domain}" if self.subdomain else domain

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "zones": list(self.zones),
            "image": self.image,
            "managers": {"count": self.managers, "type": self.manager_type},
            "workers": {"count": self.workers, "type": self.worker_type},
            "dns": {
                "domain": self.domain,
                "apex": self.apex,
                # only when given, as a hand-written cluster.toml would have it
                **({"subdomain": self.subdomain} if self.subdomain else {}),
            },
            "ssh": {"public_key": self.public_key, "allowed_cidrs": list(self.allowed_cidrs)},
            # only when given: no [state] table keeps the state local, as in a hand-written cluster.toml
            **({"state": {"bucket": self.state_bucket}} if self.state_bucket else {}),
        }


class Problem(str):
    """One validation problem as its sentence, with the cluster.toml field it is about (`field`, e.g. "name")."""

    field: str

    def __new__(cls, text: str, field: str = "") -> Problem:
        self = super().__new__(cls, text)
        self.field = field or text.split(":", 1)[0].strip()
        return self


def _as_problem(item) -> Problem:
    # The core's problems carry their field as data (`.field`); plain sentences start with it ("name: ...").
    return Problem(str(item), getattr(item, "field", "") or "")


def problems(draft: Draft, step: str | None = None, catalog=None) -> list[Problem]:
    """The validation problems of `draft`, limited to the fields of `step` (all of them when step is None)."""
    from swarmwiz.core.spec import validate

    try:
        validate(draft.to_dict(), catalog)
    except SpecError as exc:
        found = [_as_problem(p) for p in exc.problems]
    else:
        return []
    if step is None:
        return found
    prefixes = STEP_FIELDS[step]
    return [p for p in found if p.field.startswith(prefixes)]


def to_spec(draft: Draft, catalog=None):
    """The validated ClusterSpec (raises SpecError listing every problem)."""
    from swarmwiz.core.spec import validate

    return validate(draft.to_dict(), catalog)


def quorum_text(managers: int) -> str:
    """What `managers` managers survive, said plainly."""
    survives = (managers - 1) // 2
    majority = managers // 2 + 1
    if managers == 1:
        return (
            "1 manager: the simplest and cheapest. If it fails, the swarm cannot be managed (running services "
            "keep running, but nothing can be changed) until it is back. Fine for trying things out."
        )
    return (
        f"{managers} managers: the swarm keeps working if {survives} of them fail{'s' if survives == 1 else ''}, "
        f"because a majority ({majority} of {managers}) must stay up to agree on changes. "
        + (
            "The usual choice for production."
            if managers == 3
            else "More managers, more resilience, slightly slower agreement."
        )
    )


def wildcard_holder(records, domain: str) -> str | None:
    """Who already has *.DOMAIN among the zone's `records` ("swarmwiz cluster 'first'", "an A record to
    192.0.2.1"), None when nobody. A new cluster gets a new workspace, so any record there is someone else's and
    pre-flight would refuse to share it: the wizard and plain mode then suggest a subdomain."""
    from swarmwiz.core.preflight import other_workspace

    for record in records:
        if record.name.lower() != f"*.{domain}":
            continue
        other = other_workspace(record)
        article = "an" if record.type[:1] in "AEIOU" else "a"
        return f"swarmwiz cluster {other[0]!r}" if other else f"{article} {record.type} record to {record.content}"
    return None
