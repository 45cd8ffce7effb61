"""Cloudflare routes: token verification, zones and DNS records of the v4 API the lab serves."""

from __future__ import annotations

import uuid
from typing import Any

from swarmwiz.lab.api.cloud import now, paginate
from swarmwiz.lab.api.cloudflare import views
from swarmwiz.lab.api.cloudflare.state import Cloudflare
from swarmwiz.lab.api.errors import cf_error, cf_ok
from swarmwiz.lab.api.router import CF_PREFIX, Router

ZONE = CF_PREFIX + "/zones/(?P<zone>[^/]+)"
RECORD = ZONE + "/dns_records/(?P<id>[^/]+)"


class CloudflareRoutes:
    """Handlers for the Cloudflare half; `register` adds them to a router."""

    def __init__(self, cf: Cloudflare) -> None:
        self.cf = cf

    def register(self, router: Router) -> None:
        add = router.add
        add("GET", CF_PREFIX + "/user/tokens/verify", self.verify)
        add("GET", CF_PREFIX + "/zones", self.list_zones)
        add("GET", CF_PREFIX + "/zones/(?P<zone>[0-9a-f]{32})", lambda m, q, b: (200, cf_ok(self.zone_get(m))))
        add("GET", ZONE + "/dns_records", self.list_records)
        add("POST", ZONE + "/dns_records", self.create_record)
        add("GET", RECORD, self.get_record)
        add("PATCH", RECORD, self.update_record)
        add("PUT", RECORD, self.update_record)
        add("DELETE", RECORD, self.delete_record)

    def verify(self, m: dict, q: dict, b: Any) -> tuple[int, dict]:
        token = m["token"]  # dispatch authenticated it
        result = {"id": token["id"], "status": token["status"], "expires_on": token["expires_on"], "not_before": None}
        message = "This API Token is valid and active" if token["status"] == "active" else "This API Token is expired"
        return 200, cf_ok(result, messages=[{"code": 10000, "message": message, "type": None}])

    def zone_get(self, m: dict) -> dict:
        self.cf.zone_name(m["zone"])
        return views.zone_view(self.cf, m["zone"])

    def list_zones(self, m: dict, q: dict, b: Any) -> tuple[int, dict]:
        zones = [views.zone_view(self.cf, z) for z in sorted(self.cf.zones)]
        if q.get("name"):
            zones = [z for z in zones if z["name"] == q["name"].lower()]
        if q.get("status"):
            zones = [z for z in zones if z["status"] == q["status"]]
        return 200, self._page(zones, q)

    @staticmethod
    def _page(items: list, q: dict) -> dict:
        page, total = paginate(items, q)
        per_page = int(q.get("per_page", 50) or 50)
        return cf_ok(
            page,
            result_info={
                "page": int(q.get("page", 1) or 1),
                "per_page": per_page,
                "count": len(page),
                "total_count": total,
                "total_pages": max(1, -(-total // per_page)),
            },
        )

    def list_records(self, m: dict, q: dict, b: Any) -> tuple[int, dict]:
        self.cf.zone_name(m["zone"])
        recs = [r for r in self.cf.cloud.state["dns_records"].values() if r["zone_id"] == m["zone"]]
        name = q.get("name") or q.get("name.exact")
        for key, value in (("name", name), ("type", q.get("type")), ("content", q.get("content"))):
            if value:
                recs = [r for r in recs if str(r.get(key)).lower() == value.lower()]
        return 200, self._page([views.record_view(self.cf, r) for r in recs], q)

    def create_record(self, m: dict, q: dict, b: dict) -> tuple[int, dict]:
        rec = self.cf.record_fields(m["zone"], b)
        rec.update({"id": uuid.uuid4().hex, "zone_id": m["zone"], "created_on": now(), "modified_on": now()})
        self.cf.cloud.state["dns_records"][rec["id"]] = rec
        return 200, cf_ok(views.record_view(self.cf, rec))

    def _record(self, m: dict) -> dict:
        self.cf.zone_name(m["zone"])
        rec = self.cf.cloud.state["dns_records"].get(m["id"])
        if rec is None or rec["zone_id"] != m["zone"]:
            raise cf_error(404, 81044, "Record does not exist.")
        return rec

    def get_record(self, m: dict, q: dict, b: Any) -> tuple[int, dict]:
        return 200, cf_ok(views.record_view(self.cf, self._record(m)))

    def update_record(self, m: dict, q: dict, b: dict) -> tuple[int, dict]:
        rec = self._record(m)
        updated = self.cf.record_fields(m["zone"], b, old=rec)
        updated["modified_on"] = now()
        self.cf.cloud.state["dns_records"][rec["id"]] = updated
        return 200, cf_ok(views.record_view(self.cf, updated))

    def delete_record(self, m: dict, q: dict, b: Any) -> tuple[int, dict]:
        rec = self._record(m)
        del self.cf.cloud.state["dns_records"][rec["id"]]
        return 200, cf_ok({"id": rec["id"]})
