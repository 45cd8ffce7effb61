"""The Scaleway catalogue (regions, zones, instance types, prices) and the monthly cost estimate."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from swarmwiz.core import paths


@dataclass(frozen=True)
class InstanceType:
    name: str
    ncpus: int
    ram_gib: float
    arch: str
    end_of_service: bool
    per_zone: dict[str, dict]

    def offered_in(self, zone: str) -> bool:
        return zone in self.per_zone

    def monthly_price(self, zone: str) -> float | None:
        return (self.per_zone.get(zone) or {}).get("monthly_price_eur")

    def availability(self, zone: str) -> str:
        return (self.per_zone.get(zone) or {}).get("availability") or "unknown"


@dataclass(frozen=True)
class Catalog:
    """Regions, zones and instance types; `source` says where the data came from (snapshot date or live time)."""

    regions: dict[str, dict]
    types: dict[str, InstanceType]
    ip_monthly_eur: float
    source: str
    swarm_candidates: tuple[str, ...] = ()
    images: tuple[str, ...] = ()

    @classmethod
    def from_data(cls, data: dict, source: str | None = None) -> Catalog:
        types = {
            name: InstanceType(
                name=name,
                ncpus=int(t.get("ncpus") or 0),
                ram_gib=float(t.get("ram_gib") or 0),
                arch=t.get("arch") or "x86_64",
                end_of_service=bool(t.get("end_of_service")),
                per_zone=t.get("per_zone") or {},
            )
            for name, t in data["instance_types"].items()
        }
        return cls(
            regions=data["regions"],
            types=types,
            ip_monthly_eur=float(data.get("flexible_ipv4", {}).get("monthly_price_eur", 2.92)),
            source=source or f"bundled snapshot of {data.get('snapshot_date', 'unknown date')}",
            swarm_candidates=tuple(data.get("swarm_candidate_types", ())),
            images=tuple(data.get("images", ())),
        )

    @property
    def zones(self) -> dict[str, str]:
        """Every zone mapped to its region."""
        return {z: region for region, r in self.regions.items() for z in r["zones"]}

    def zones_of(self, region: str) -> list[str]:
        return list(self.regions.get(region, {}).get("zones", []))


@cache
def bundled() -> Catalog:
    """The catalogue shipped with swarmwiz (read once per process)."""
    return load(paths.bundled_catalog_path())


def load(path: Path, source: str | None = None) -> Catalog:
    return Catalog.from_data(json.loads(path.read_text()), source)


@dataclass(frozen=True)
class CostLine:
    role: str
    type: str
    count: int
    unit_monthly_eur: float
    monthly_eur: float


@dataclass(frozen=True)
class CostEstimate:
    lines: tuple[CostLine, ...]
    total_monthly_eur: float
    source: str

    def as_table(self) -> list[tuple[str, str, str, str]]:
        """Rows (item, count, unit EUR/month, EUR/month) for printing."""
        rows = [
            (
                f"{line.role} {line.type}".strip(),
                str(line.count),
                f"{line.unit_monthly_eur:.2f}",
                f"{line.monthly_eur:.2f}",
            )
            for line in self.lines
        ]
        rows.append(("total (excl. VAT)", "", "", f"{self.total_monthly_eur:.2f}"))
        return rows


def placement(count: int, zones: list[str]) -> list[str]:
    """Zones of `count` nodes spread round-robin, as the Terraform module places them."""
    return [zones[i % len(zones)] for i in range(count)]


def estimate(catalog: Catalog, zones: list[str], groups: list[tuple[str, str, int]]) -> CostEstimate:
    """Monthly cost of `groups` [(role, type, count)] placed round-robin over `zones`, plus one routed IPv4 each."""
    lines = []
    nodes = 0
    for role, type_name, count in groups:
        if count <= 0:
            continue
        itype = catalog.types[type_name]
        total = sum(itype.monthly_price(z) or 0.0 for z in placement(count, zones))
        lines.append(CostLine(role, type_name, count, total / count, total))
        nodes += count
    if nodes:
        lines.append(CostLine("routed IPv4", "", nodes, catalog.ip_monthly_eur, catalog.ip_monthly_eur * nodes))
    return CostEstimate(tuple(lines), round(sum(line.monthly_eur for line in lines), 2), catalog.source)
