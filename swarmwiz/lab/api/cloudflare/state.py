"""Cloudflare resources: the lab's zones (from SWARMWIZ_LAB_ZONES) and DNS records, checked as Cloudflare does."""

from __future__ import annotations

import hashlib
import ipaddress
import os

from swarmwiz.lab.api.cloud import LabCloud
from swarmwiz.lab.api.errors import cf_error

ZONES_ENV = "SWARMWIZ_LAB_ZONES"


def zone_id(name: str) -> str:
    return hashlib.md5(f"swarmwiz-lab:{name}".encode()).hexdigest()


class Cloudflare:
    """The Cloudflare half of the lab cloud: zones fixed at daemon start, records in the shared state."""

    def __init__(self, cloud: LabCloud) -> None:
        self.cloud = cloud
        names = os.environ.get(ZONES_ENV) or "example.com"
        self.zones = {zone_id(n): n for n in (x.strip().lower() for x in names.split(",")) if n}

    def zone_name(self, zone_id: str) -> str:
        if zone_id not in self.zones:
            raise cf_error(
                404, 7003, f"Could not route to /zones/{zone_id}, perhaps your object identifier is invalid?"
            )
        return self.zones[zone_id]

    def record_fields(self, zone_id: str, body: dict, old: dict | None = None) -> dict:
        zone = self.zone_name(zone_id)
        rec = dict(old or {})
        rec.update(
            {
                k: v
                for k, v in body.items()
                if k in ("name", "type", "content", "ttl", "proxied", "comment", "tags", "priority", "settings", "data")
            }
        )
        name = (rec.get("name") or "").rstrip(".").lower()
        if not name:
            raise cf_error(400, 9000, "DNS name is invalid.")
        if name == "@":
            name = zone
        elif name != zone and not name.endswith("." + zone):
            name = f"{name}.{zone}"
        rec["name"] = name
        if rec.get("type") not in ("A", "AAAA", "CNAME", "TXT", "MX", "NS", "SRV", "CAA"):
            raise cf_error(400, 9004, "This record type is not supported by the lab.")
        if rec["type"] == "A":
            try:
                ipaddress.IPv4Address(rec.get("content") or "")
            except ValueError:
                raise cf_error(400, 9005, "Content for A record must be a valid IPv4 address.") from None
        ttl = rec.get("ttl", 1)
        if not (ttl == 1 or 30 <= int(ttl) <= 86400):
            raise cf_error(400, 9021, "Invalid TTL. Must be between 30 and 86400 seconds, or 1 for Automatic.")
        rec.setdefault("proxied", False)
        rec["ttl"] = ttl
        return rec
