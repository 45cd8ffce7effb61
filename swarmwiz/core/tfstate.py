"""Read a workspace's Terraform state file (JSON, format 4): what the cluster owns, in words a person recognises.

The state is read in memory only and only the fields below leave this module (it also holds sensitive values,
such as the servers' user data).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# resource type -> the word for it on a teardown screen
KINDS = {
    "scaleway_instance_server": "server",
    "scaleway_instance_ip": "public IP",
    "cloudflare_dns_record": "DNS record",
    "scaleway_vpc_private_network": "private network",
    "scaleway_instance_security_group": "security group",
    "scaleway_iam_ssh_key": "SSH key",
}


@dataclass(frozen=True)
class InventoryItem:
    """One object a teardown deletes: `kind` ("server"), `name` (the server, record or network name), the cloud's
    `id`, a `detail` ("fr-par-1 51.15.1.2" for a server, the content of a record, a network's subnet, an IP's
    address) and its Terraform `address`."""

    kind: str
    name: str
    id: str = ""
    detail: str = ""
    address: str = ""


def load(path: Path) -> dict[str, Any]:
    """The state as a dict; {} when there is none or it is not JSON."""
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _instances(state: dict[str, Any]):
    """(resource, instance) for every managed resource instance."""
    for res in state.get("resources") or []:
        if res.get("mode") != "managed":
            continue
        for inst in res.get("instances") or []:
            yield res, inst


def holds_resources(state: dict[str, Any]) -> bool:
    """Whether the state records any managed object (so the cluster exists somewhere)."""
    return any(True for _ in _instances(state))


def ids(state: dict[str, Any]) -> set[str]:
    """IDs (last path part: 'fr-par-1/<uuid>' -> '<uuid>') of every object in the state."""
    found = {str((inst.get("attributes") or {}).get("id", "")) for _, inst in _instances(state)}
    return {i.rsplit("/", 1)[-1] for i in found if i}


def _address(res: dict[str, Any], inst: dict[str, Any]) -> str:
    base = ".".join(p for p in (res.get("module"), res.get("type"), res.get("name")) if p)
    key = inst.get("index_key")
    if key is None:
        return base
    return f"{base}[{json.dumps(key)}]"


def inventory(state: dict[str, Any]) -> list[InventoryItem]:
    """Every managed object of the state, servers first, then addresses, DNS, networks and the rest."""
    ip_by_id = {
        str(attrs.get("id", "")).rsplit("/", 1)[-1]: attrs.get("address", "")
        for res, inst in _instances(state)
        if res.get("type") == "scaleway_instance_ip"
        for attrs in [inst.get("attributes") or {}]
    }
    items = [_item(res, inst, ip_by_id) for res, inst in _instances(state)]
    order = list(KINDS.values())
    return sorted(items, key=lambda i: (order.index(i.kind) if i.kind in order else len(order), i.name))


def _item(res: dict[str, Any], inst: dict[str, Any], ip_by_id: dict[str, str]) -> InventoryItem:
    kind = res.get("type", "")
    attrs = inst.get("attributes") or {}
    key = inst.get("index_key")
    name = str(attrs.get("name") or "")
    detail = ""
    if kind == "scaleway_instance_server":
        ips = [ip.get("address", "") for ip in attrs.get("public_ips") or [] if isinstance(ip, dict)]
        ip = next((a for a in ips if a), "") or ip_by_id.get(str(attrs.get("ip_id") or "").rsplit("/", 1)[-1], "")
        detail = " ".join(p for p in (attrs.get("zone", ""), ip) if p)
    elif kind == "scaleway_instance_ip":
        name = f"{key}" if key is not None else name
        detail = str(attrs.get("address") or "")
    elif kind == "cloudflare_dns_record":
        detail = " ".join(p for p in (attrs.get("type", ""), attrs.get("content", "")) if p)
    elif kind == "scaleway_vpc_private_network":
        subnets = [s.get("subnet", "") for s in attrs.get("ipv4_subnet") or [] if isinstance(s, dict)]
        detail = ", ".join(s for s in subnets if s)
    elif kind == "scaleway_instance_security_group":
        detail = str(attrs.get("zone") or "")
    return InventoryItem(
        kind=KINDS.get(kind, kind),
        name=name or (str(key) if key is not None else res.get("name", "")),
        id=str(attrs.get("id") or ""),
        detail=detail,
        address=_address(res, inst),
    )
