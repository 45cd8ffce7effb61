"""Cloudflare answers: zones and DNS records in the v4 API's JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from swarmwiz.lab.api.cloudflare.state import Cloudflare


def zone_view(cf: Cloudflare, zone_id: str) -> dict:
    name = cf.zones[zone_id]
    account = {"id": cf.cloud.creds["cloudflare_account_id"], "name": "swarmwiz lab"}
    return {
        "id": zone_id,
        "name": name,
        "status": "active",
        "paused": False,
        "type": "full",
        "development_mode": 0,
        "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
        "original_name_servers": None,
        "original_registrar": None,
        "original_dnshost": None,
        "created_on": cf.cloud.created,
        "modified_on": cf.cloud.created,
        "activated_on": cf.cloud.created,
        "cname_suffix": None,
        "vanity_name_servers": [],
        "verification_key": None,
        "permissions": ["#dns_records:edit", "#dns_records:read", "#zone:read"],
        "meta": {
            "cdn_only": False,
            "custom_certificate_quota": 0,
            "dns_only": False,
            "foundation_dns": False,
            "page_rule_quota": 3,
            "phishing_detected": False,
            "step": 2,
        },
        "owner": {"id": None, "type": "user", "email": None, "name": None},
        "account": account,
        "tenant": {"id": None, "name": None},
        "tenant_unit": {"id": None},
        "plan": {
            "id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
            "name": "Free Website",
            "price": 0,
            "currency": "USD",
            "frequency": "",
            "is_subscribed": False,
            "can_subscribe": False,
            "legacy_id": "free",
            "legacy_discount": False,
            "externally_managed": False,
        },
    }


def record_view(cf: Cloudflare, rec: dict) -> dict:
    return {
        "id": rec["id"],
        "zone_id": rec["zone_id"],
        "zone_name": cf.zones.get(rec["zone_id"]),
        "name": rec["name"],
        "type": rec["type"],
        "content": rec.get("content"),
        "proxiable": rec["type"] in ("A", "AAAA", "CNAME"),
        "proxied": bool(rec.get("proxied")),
        "ttl": rec.get("ttl", 1),
        "settings": rec.get("settings") or {},
        "meta": {},
        "comment": rec.get("comment"),
        "tags": rec.get("tags") or [],
        "priority": rec.get("priority"),
        "created_on": rec["created_on"],
        "modified_on": rec["modified_on"],
        "comment_modified_on": rec.get("comment_modified_on"),
        "tags_modified_on": None,
    }
