"""The lab cloud's shared core: resource state on disk, lab-issued credentials, fault rules and the API lock."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from swarmwiz.lab import state as files
from swarmwiz.lab.api.errors import scw_not_found

FAULTS_ENV = "SWARMWIZ_LAB_FAULTS"
FAULT_RATE_ENV = "SWARMWIZ_LAB_FAULT_RATE"
NO_DEFAULT_VPC_ENV = "SWARMWIZ_LAB_NO_DEFAULT_VPC"
# Lab options where real accounts differ; options.json (Lab.set_options) overrides the environment.
DEFAULT_OPTIONS = {
    "default_vpc": True,  # False: a project created after 2025-05-13, which has no default VPC
    "fault_rate": 0.0,  # share of API calls answered 429 (with Retry-After) or 503, on both APIs
    "retry_after": 1,  # seconds, in the Retry-After header of an injected 429
    "quotas": {},
    # Terminate as the real API: running servers only, asynchronous (False: at once, whatever the state).
    "async_terminate": True,
    "terminate_seconds": 1.0,  # per project: {"instances": 10, "ips": 10}; absent means unlimited
}
KINDS = (
    "servers",
    "ips",
    "security_groups",
    "private_networks",
    "private_nics",
    "ssh_keys",
    "dns_records",
    "volumes",
    "vpcs",
)


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def uuid_ok(value: str) -> bool:
    try:
        uuid.UUID(value)
        return True
    except (ValueError, TypeError):
        return False


def paginate(items: list, query: dict) -> tuple[list, int]:
    """Slice `items` by the page/per_page query parameters both APIs use."""
    number = max(int(query.get("page", 1) or 1), 1)
    per_page = max(int(query.get("per_page") or query.get("page_size") or 50), 1)  # Instance / the newer APIs
    return items[(number - 1) * per_page : number * per_page], len(items)


def values(query: dict, key: str) -> list[str]:
    """A list parameter's values: the Instance API joins them with commas, the newer APIs repeat the name."""
    return [v for v in (query.get(key) or "").split(",") if v]


# How a list parameter compares with a field of the answer: (field, how).
Filters = dict[str, tuple[str, str]]


def _keep(item: dict, field: str, how: str, wanted: str, query: dict, param: str) -> bool:
    have = item.get(field)
    if how == "eq":
        return str(have) == wanted
    if how == "contains":  # Scaleway's name filters match a part of the name
        return wanted in str(have or "")
    if how == "bool":
        return bool(have) == (wanted.lower() == "true")
    asked = set(values(query, param))
    if how == "all":  # Instance: every tag asked for
        return asked <= set(have or [])
    if how == "any":  # VPC, IPAM: one or more of the tags asked for
        return bool(asked & set(have or []))
    if how == "in":
        return str(have) in asked
    raise ValueError(how)


def filtered(items: list[dict], query: dict, filters: Filters) -> list[dict]:
    """`items` (answers) that pass every filter the query sets, then ordered as `order` / `order_by` asks."""
    for param, (field, how) in filters.items():
        if query.get(param) not in (None, ""):
            items = [x for x in items if _keep(x, field, how, query[param], query, param)]
    order = query.get("order_by") or query.get("order")
    if order:
        key, _, direction = order.rpartition("_")
        field = {"created_at": "created_at", "creation_date": "creation_date", "name": "name"}.get(key)
        if field:
            items = sorted(
                items,
                key=lambda x: str(x.get(field) or x.get("created_at") or x.get("creation_date") or ""),
                reverse=direction == "desc",
            )
    return items


def with_lock_released(lock: threading.RLock, fn: Any) -> Any:
    """Run `fn` without holding `lock` (a delayed create must not stall every other request)."""
    try:
        lock.release()
    except RuntimeError:  # not held by this thread (called outside a request): nothing to release
        return fn()
    try:
        return fn()
    finally:
        lock.acquire()


class LabCloud:
    """What both halves share (one instance per daemon): state, credentials, faults, hosts and the lock."""

    def __init__(self, lab_dir: Path, net: Any = None) -> None:
        self.lab_dir = lab_dir
        self.net = net  # a swarmwiz.lab.hosts.LabNet, or None for an API-only lab (no hosts)
        self.lock = threading.RLock()
        self.net_lock = threading.Lock()
        self.state = files.read_json(lab_dir / files.STATE_FILE) or {}
        for kind in KINDS:
            self.state.setdefault(kind, {})
        self._creds: dict = {}
        self._creds_mtime = 0.0
        from swarmwiz.core import paths

        self.catalog = json.loads(paths.bundled_catalog_path().read_text())
        self.created = now()
        self.last_request = time.monotonic()

    def save(self) -> None:
        files.write_json(self.lab_dir / files.STATE_FILE, self.state)

    @property
    def creds(self) -> dict:
        """Lab credentials, re-read when minted tokens change the file."""
        path = self.lab_dir / files.CREDENTIALS_FILE
        mtime = path.stat().st_mtime
        if mtime != self._creds_mtime:
            self._creds = files.read_json(path)
            self._creds_mtime = mtime
        return self._creds

    @property
    def organization(self) -> str:
        return self.creds["SCW_DEFAULT_ORGANIZATION_ID"]

    def faults(self) -> list[dict]:
        """Fault rules: SWARMWIZ_LAB_FAULTS (JSON) at daemon start plus faults.json, which tests may rewrite."""
        rules = []
        env = os.environ.get(FAULTS_ENV)
        if env:
            rules += json.loads(env)
        rules += files.read_json(self.lab_dir / files.FAULTS_FILE, [])
        return rules

    def options(self) -> dict:
        """The lab options: defaults, then the environment at daemon start, then options.json."""
        options = dict(DEFAULT_OPTIONS)
        if os.environ.get(FAULT_RATE_ENV):
            options["fault_rate"] = float(os.environ[FAULT_RATE_ENV])
        if os.environ.get(NO_DEFAULT_VPC_ENV, "") not in ("", "0"):
            options["default_vpc"] = False
        options.update(files.read_json(self.lab_dir / files.OPTIONS_FILE, {}))
        return options

    def get(self, kind: str, resource: str, rid: str, zone: str | None = None) -> dict:
        """The stored item, or the Scaleway not-found answer (also when it lives in another zone)."""
        item = self.state[kind].get(rid)
        if item is None or (zone is not None and item.get("zone", zone) != zone):
            raise scw_not_found(resource, rid)
        return item

    def empty(self) -> bool:
        """Nothing a user created (default VPCs come with the project)."""
        return not any(
            items if kind != "vpcs" else [v for v in items.values() if not v.get("is_default")]
            for kind, items in self.state.items()
        )


def summarize(state: dict) -> dict:
    """Servers (name, zone, addresses, state, skipped cloud-init), IPs, groups, networks, keys and DNS records."""
    s = {k: state.get(k, {}) for k in KINDS}
    servers = []
    for server in s["servers"].values():
        ips = [ip["address"] for ip in s["ips"].values() if ip.get("server_id") == server["id"]]
        nics = [n["address"] for n in s["private_nics"].values() if n["server_id"] == server["id"]]
        servers.append(
            {
                "id": server["id"],
                "name": server["name"],
                "zone": server["zone"],
                "type": server["commercial_type"],
                "state": server["state"],
                "public_ip": ips[0] if ips else None,
                "private_ip": nics[0] if nics else None,
                "cloud_init_skipped": server.get("cloud_init_skipped", []),
            }
        )
    return {
        "servers": servers,
        "ips": [
            {"id": i["id"], "address": i["address"], "zone": i["zone"], "server_id": i.get("server_id")}
            for i in s["ips"].values()
        ],
        "security_groups": [
            {
                "id": g["id"],
                "name": g["name"],
                "zone": g["zone"],
                "inbound_default_policy": g["inbound_default_policy"],
                "rules": len(g["rules"]),
            }
            for g in s["security_groups"].values()
        ],
        "private_networks": [
            {"id": p["id"], "name": p["name"], "region": p["region"], "subnet": p["subnet"]}
            for p in s["private_networks"].values()
        ],
        "ssh_keys": [{"id": k["id"], "name": k["name"]} for k in s["ssh_keys"].values()],
        "volumes": [
            {
                "id": v["id"],
                "name": v["name"],
                "zone": v["zone"],
                "type": v["volume_type"],
                "server_id": v.get("server_id"),
            }
            for v in s["volumes"].values()
        ],
        "dns_records": [
            {
                "id": r["id"],
                "name": r["name"],
                "type": r["type"],
                "content": r.get("content"),
                "comment": r.get("comment"),
            }
            for r in s["dns_records"].values()
        ],
    }
