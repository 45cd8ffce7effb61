"""The lab API: the subset of the Scaleway and Cloudflare HTTP APIs that swarmwiz and the stub providers use."""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import hashlib
import ipaddress
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from swarmwiz.lab import state as files

log = logging.getLogger(__name__)

ZONES_ENV = "SWARMWIZ_LAB_ZONES"
FAULTS_ENV = "SWARMWIZ_LAB_FAULTS"
IDLE_SECONDS = float(os.environ.get("SWARMWIZ_LAB_IDLE_SECONDS", 900))
CF_PREFIX = "/client/v4"
# What cloud-init would do on a real image that the lab image already has (Docker) or cannot do.
HONOURED_CLOUD_INIT = {
    "hostname",
    "preserve_hostname",
    "ssh_keys",
    "ssh_authorized_keys",
    "ssh_deletekeys",
    "ssh_genkeytypes",
    "disable_root",
}


class APIError(Exception):
    """An HTTP error answered in the shape of the API that was called."""

    def __init__(self, status: int, body: dict) -> None:
        super().__init__(body.get("message") or body)
        self.status = status
        self.body = body


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def scw_error(status: int, type_: str, message: str, **extra: Any) -> APIError:
    return APIError(status, {"message": message, "type": type_, **extra})


def scw_not_found(resource: str, resource_id: str) -> APIError:
    return scw_error(404, "not_found", "resource is not found", resource=resource, resource_id=resource_id)


def scw_invalid(field: str, problem: str) -> APIError:
    return scw_error(400, "invalid_request_error", "Validation Error", fields={field: [problem]})


def cf_errors(status: int, errors: list[dict]) -> APIError:
    """A Cloudflare v4 error envelope with one or more errors."""
    return APIError(status, {"success": False, "errors": errors, "messages": [], "result": None})


def cf_error(status: int, code: int, message: str) -> APIError:
    return cf_errors(status, [{"code": code, "message": message}])


def cf_ok(result: Any, **extra: Any) -> dict:
    return {"success": True, "errors": [], "messages": [], "result": result, **extra}


def _uuid_ok(value: str) -> bool:
    try:
        uuid.UUID(value)
        return True
    except (ValueError, TypeError):
        return False


def _page(items: list, query: dict) -> tuple[list, int]:
    """Slice `items` by the page/per_page query parameters both APIs use."""
    page = max(int(query.get("page", 1) or 1), 1)
    per_page = max(int(query.get("per_page", 50) or 50), 1)
    return items[(page - 1) * per_page : page * per_page], len(items)


def parse_cloud_init(text: str | None) -> tuple[dict, list[str]]:
    """The cloud-init fields the lab honours, and a list of what it skipped (package installs, commands)."""
    if not text:
        return {}, []
    import yaml

    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return {}, ["cloud-init user data is not valid YAML; nothing applied"]
    if not isinstance(doc, dict):
        return {}, ["cloud-init user data is not a mapping; nothing applied"]
    skipped = [f"{k}: {json.dumps(v)}" for k, v in doc.items() if k not in HONOURED_CLOUD_INIT]
    return doc, skipped


class Lab:
    """The lab cloud's resources and the HTTP semantics on top of them (one instance per daemon)."""

    def __init__(self, lab_dir: Path, net: Any = None) -> None:
        self.lab_dir = lab_dir
        self.net = net  # a swarmwiz.lab.hosts.LabNet, or None for an API-only lab (no hosts)
        self.lock = threading.RLock()
        self.net_lock = threading.Lock()
        self.state = files.read_json(lab_dir / files.STATE_FILE) or {}
        for kind in (
            "servers",
            "ips",
            "security_groups",
            "private_networks",
            "private_nics",
            "ssh_keys",
            "dns_records",
        ):
            self.state.setdefault(kind, {})
        self._creds: dict = {}
        self._creds_mtime = 0.0
        from swarmwiz.core import paths

        self.catalog = json.loads(paths.bundled_catalog_path().read_text())
        names = os.environ.get(ZONES_ENV) or "example.com"
        self.cf_zones = {self._zone_id(n): n for n in (x.strip().lower() for x in names.split(",")) if n}
        self._zone_created = now()
        self.last_request = time.monotonic()

    # ---- persistence, credentials, faults ----
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

    def faults(self) -> list[dict]:
        """Fault rules: SWARMWIZ_LAB_FAULTS (JSON) at daemon start plus faults.json, which tests may rewrite."""
        rules = []
        env = os.environ.get(FAULTS_ENV)
        if env:
            rules += json.loads(env)
        rules += files.read_json(self.lab_dir / files.FAULTS_FILE, [])
        return rules

    def _zone_id(self, name: str) -> str:
        return hashlib.md5(f"swarmwiz-lab:{name}".encode()).hexdigest()

    # ---- authentication ----
    def scw_auth(self, headers: Any) -> None:
        token = headers.get("X-Auth-Token")
        if not token:
            raise scw_error(
                401, "denied_authentication", "authentication is denied", method="api_key", reason="not_found"
            )
        if not _uuid_ok(token):
            raise scw_error(
                401, "denied_authentication", "authentication is denied", method="api_key", reason="invalid_argument"
            )
        if token != self.creds["SCW_SECRET_KEY"]:
            raise scw_error(
                401, "denied_authentication", "authentication is denied", method="api_key", reason="not_found"
            )

    def cf_auth(self, headers: Any, *, path: str, write: bool) -> dict:
        auth = headers.get("Authorization") or ""
        if not auth:
            raise cf_errors(
                400,
                [
                    {"code": 9106, "message": "Missing X-Auth-Email header"},
                    {"code": 9107, "message": "Missing X-Auth-Key header"},
                ],
            )
        scheme, _, token = auth.partition(" ")
        if scheme != "Bearer" or not re.fullmatch(r"[0-9A-Za-z_-]{40,80}", token):
            raise cf_errors(
                400,
                [
                    {
                        "code": 6003,
                        "message": "Invalid request headers",
                        "error_chain": [{"code": 6111, "message": "Invalid format for Authorization header"}],
                    }
                ],
            )
        record = self.creds["cloudflare_tokens"].get(token)
        if path == "/user/tokens/verify":
            if record is None:
                raise cf_error(401, 1000, "Invalid API Token")
            return record
        if record is None or record["status"] != "active" or (write and not record["dns_edit"]):
            raise cf_error(403, 10000, "Authentication error")
        return record

    def _project(self, body: dict, key: str = "project") -> str:
        project = body.get(key) or body.get("project_id") or self.creds["SCW_DEFAULT_PROJECT_ID"]
        if project != self.creds["SCW_DEFAULT_PROJECT_ID"]:
            raise scw_error(
                403,
                "permissions_denied",
                "insufficient permissions",
                details=[{"resource": "project", "action": "write"}],
            )
        return project

    # ---- Scaleway: IAM and account ----
    def get_api_key(self, access_key: str) -> dict:
        if access_key != self.creds["SCW_ACCESS_KEY"]:
            raise scw_not_found("api_key", access_key)
        return {
            "access_key": access_key,
            "secret_key": None,
            "description": "swarmwiz lab key",
            "default_project_id": self.creds["SCW_DEFAULT_PROJECT_ID"],
            "editable": True,
            "deletable": True,
            "managed": False,
            "creation_ip": "127.0.0.1",
            "created_at": self._zone_created,
            "updated_at": self._zone_created,
            "expires_at": None,
            "user_id": self.creds["SCW_DEFAULT_ORGANIZATION_ID"],
        }

    def project_view(self) -> dict:
        return {
            "id": self.creds["SCW_DEFAULT_PROJECT_ID"],
            "name": "default",
            "organization_id": self.creds["SCW_DEFAULT_ORGANIZATION_ID"],
            "status": "active",
            "description": "swarmwiz lab project",
            "created_at": self._zone_created,
            "updated_at": self._zone_created,
        }

    def ssh_key_view(self, key: dict) -> dict:
        return {**key, "organization_id": self.creds["SCW_DEFAULT_ORGANIZATION_ID"]}

    def create_ssh_key(self, body: dict) -> dict:
        public_key = (body.get("public_key") or "").strip()
        parts = public_key.split()
        if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-")):
            raise scw_error(
                400,
                "invalid_arguments",
                "invalid argument(s)",
                details=[
                    {"argument_name": "public_key", "reason": "constraint", "help_message": "not an OpenSSH public key"}
                ],
            )
        import base64

        try:
            digest = hashlib.sha256(base64.b64decode(parts[1])).digest()
        except ValueError:
            digest = hashlib.sha256(parts[1].encode()).digest()
        fingerprint = f"256 SHA256:{base64.b64encode(digest).decode().rstrip('=')} {parts[0]}"
        key = {
            "id": str(uuid.uuid4()),
            "name": body.get("name") or f"key-{uuid.uuid4().hex[:8]}",
            "public_key": public_key,
            "fingerprint": fingerprint,
            "created_at": now(),
            "updated_at": now(),
            "project_id": self._project(body, "project_id"),
            "disabled": bool(body.get("disabled", False)),
        }
        self.state["ssh_keys"][key["id"]] = key
        return key

    # ---- Scaleway: catalogue ----
    def server_types(self, zone: str, query: dict, *, availability: bool) -> tuple[dict, int]:
        offered = sorted((name, t) for name, t in self.catalog["instance_types"].items() if zone in t["per_zone"])
        page, total = _page(offered, query)
        out = {}
        for name, t in page:
            z = t["per_zone"][zone]
            if availability:
                out[name] = {"availability": z["availability"]}
                continue
            out[name] = {
                "monthly_price": z["monthly_price_eur"],
                "hourly_price": z["hourly_price_eur"],
                "alt_names": [],
                "per_volume_constraint": {"l_ssd": {"min_size": 0, "max_size": 800_000_000_000}},
                "volumes_constraint": {"min_size": 0, "max_size": 800_000_000_000},
                "ncpus": t["ncpus"],
                "ram": int(t["ram_gib"] * 1024**3),
                "arch": t.get("arch", "x86_64"),
                "gpu": t.get("gpu", 0),
                "gpu_info": None,
                "baremetal": False,
                "end_of_service": t.get("end_of_service", False),
                "network": {
                    "interfaces": [],
                    "sum_internal_bandwidth": None,
                    "sum_internet_bandwidth": None,
                    "ipv6_support": True,
                },
                "capabilities": {
                    "block_storage": True,
                    "boot_types": ["local", "rescue"],
                    "max_file_systems": 0,
                    "private_network": t.get("private_networks_max", 8),
                },
                "scratch_storage_max_size": None,
                "block_bandwidth": None,
            }
        return {"servers": out, "total_count": total}, total

    # ---- Scaleway: IPs ----
    def _allocate_public(self) -> str:
        used = {ip["address"] for ip in self.state["ips"].values()}
        if self.net is not None:
            subnet, gateway = self.net.public_subnet, self.net.public_gateway
        else:
            subnet = ipaddress.ip_network("198.51.100.0/24")  # documentation range: API-only labs have no hosts
            gateway = next(subnet.hosts())
        for host in subnet.hosts():
            if host != gateway and str(host) not in used:
                return str(host)
        raise scw_error(
            403,
            "quotas_exceeded",
            "quota(s) exceeded for this resource",
            details=[{"resource": "ip_routed_ipv4", "quota": len(used), "current": len(used)}],
        )

    def ip_view(self, ip: dict) -> dict:
        server = self.state["servers"].get(ip.get("server_id") or "")
        gateway = str(self.net.public_gateway) if self.net is not None else "198.51.100.1"
        return {
            "id": ip["id"],
            "address": ip["address"],
            "prefix": f"{ip['address']}/32",
            "reverse": None,
            "server": {"id": server["id"], "name": server["name"]} if server else None,
            "organization": self.creds["SCW_DEFAULT_ORGANIZATION_ID"],
            "project": ip["project"],
            "zone": ip["zone"],
            "type": ip["type"],
            "state": "attached" if server else "detached",
            "tags": ip["tags"],
            "ipam_id": ip["id"],
            "gateway": gateway,
            "netmask": "32",
            "family": "inet",
            "dynamic": False,
            "provisioning_mode": "dhcp",
        }

    def create_ip(self, zone: str, body: dict) -> dict:
        type_ = body.get("type") or "routed_ipv4"
        if type_ not in ("routed_ipv4", "routed_ipv6"):
            raise scw_invalid("type", f"{type_!r} is not a valid IP type (routed_ipv4, routed_ipv6)")
        if type_ == "routed_ipv6":
            raise scw_error(400, "invalid_request_error", "the lab offers routed_ipv4 addresses only")
        ip = {
            "id": str(uuid.uuid4()),
            "address": self._allocate_public(),
            "zone": zone,
            "type": type_,
            "tags": body.get("tags") or [],
            "project": self._project(body),
            "server_id": body.get("server"),
        }
        self.state["ips"][ip["id"]] = ip
        return ip

    def get(self, kind: str, resource: str, rid: str, zone: str | None = None) -> dict:
        item = self.state[kind].get(rid)
        if item is None or (zone is not None and item.get("zone", zone) != zone):
            raise scw_not_found(resource, rid)
        return item

    # ---- Scaleway: security groups ----
    def sg_view(self, sg: dict) -> dict:
        servers = [
            {"id": s["id"], "name": s["name"]}
            for s in self.state["servers"].values()
            if s.get("security_group_id") == sg["id"]
        ]
        return {
            "id": sg["id"],
            "name": sg["name"],
            "description": sg.get("description") or "",
            "enable_default_security": sg.get("enable_default_security", True),
            "inbound_default_policy": sg["inbound_default_policy"],
            "outbound_default_policy": sg["outbound_default_policy"],
            "organization": self.creds["SCW_DEFAULT_ORGANIZATION_ID"],
            "project": sg["project"],
            "tags": sg.get("tags") or [],
            "organization_default": False,
            "project_default": False,
            "creation_date": sg["creation_date"],
            "modification_date": sg["modification_date"],
            "servers": servers,
            "stateful": sg.get("stateful", True),
            "state": "available",
            "zone": sg["zone"],
        }

    def create_sg(self, zone: str, body: dict) -> dict:
        for key in ("inbound_default_policy", "outbound_default_policy"):
            if body.get(key, "accept") not in ("accept", "drop"):
                raise scw_invalid(key, "must be accept or drop")
        sg = {
            "id": str(uuid.uuid4()),
            "name": body.get("name") or "security group",
            "zone": zone,
            "description": body.get("description"),
            "tags": body.get("tags") or [],
            "project": self._project(body),
            "stateful": body.get("stateful", True),
            "inbound_default_policy": body.get("inbound_default_policy", "accept"),
            "outbound_default_policy": body.get("outbound_default_policy", "accept"),
            "enable_default_security": body.get("enable_default_security", True),
            "creation_date": now(),
            "modification_date": now(),
            "rules": [],
        }
        self.state["security_groups"][sg["id"]] = sg
        return sg

    def update_sg(self, sg: dict, body: dict) -> None:
        for key in (
            "name",
            "description",
            "tags",
            "stateful",
            "inbound_default_policy",
            "outbound_default_policy",
            "enable_default_security",
        ):
            if key in body and body[key] is not None:
                if key.endswith("_policy") and body[key] not in ("accept", "drop"):
                    raise scw_invalid(key, "must be accept or drop")
                sg[key] = body[key]
        sg["modification_date"] = now()
        self.firewall_changed(sg)

    def make_rule(self, sg: dict, body: dict, position: int) -> dict:
        protocol = str(body.get("protocol", "TCP")).upper()  # the Go SDK sends "TCP", the Python SDK "tcp"
        if protocol not in ("TCP", "UDP", "ICMP", "ANY"):
            raise scw_invalid("protocol", f"{protocol!r} is not one of TCP, UDP, ICMP, ANY")
        if body.get("action") not in ("accept", "drop"):
            raise scw_invalid("action", "must be accept or drop")
        if body.get("direction", "inbound") not in ("inbound", "outbound"):
            raise scw_invalid("direction", "must be inbound or outbound")
        ip_range = body.get("ip_range") or "0.0.0.0/0"
        try:
            ipaddress.ip_network(ip_range)
        except ValueError:
            raise scw_invalid("ip_range", f"{ip_range!r} is not a CIDR range") from None
        return {
            "id": body.get("id") or str(uuid.uuid4()),
            "protocol": protocol,
            "direction": body.get("direction", "inbound"),
            "action": body["action"],
            "ip_range": ip_range,
            "dest_port_from": body.get("dest_port_from"),
            "dest_port_to": body.get("dest_port_to"),
            "position": position,
            "editable": True,
            "zone": sg["zone"],
        }

    def set_rules(self, sg: dict, rules: list[dict]) -> list[dict]:
        sg["rules"] = [self.make_rule(sg, r, i + 1) for i, r in enumerate(rules)]
        sg["modification_date"] = now()
        self.firewall_changed(sg)
        return sg["rules"]

    def firewall(self, sg: dict | None) -> Any:
        from swarmwiz.lab.hosts import Firewall, FirewallRule

        if sg is None:  # Scaleway's default group lets everything in
            return Firewall(inbound_default_policy="accept", stateful=True, rules=[])
        rules = []
        for r in sg["rules"]:
            if r["direction"] != "inbound":
                continue
            port, port_range = r["dest_port_from"], None
            if r["dest_port_to"] and r["dest_port_to"] != r["dest_port_from"]:
                port, port_range = None, f"{r['dest_port_from']}-{r['dest_port_to']}"
            rules.append(
                FirewallRule(
                    action=r["action"], protocol=r["protocol"], port=port, port_range=port_range, ip_range=r["ip_range"]
                )
            )
        return Firewall(
            inbound_default_policy=sg["inbound_default_policy"], stateful=sg.get("stateful", True), rules=rules
        )

    def firewall_changed(self, sg: dict) -> None:
        if self.net is None:
            return
        for server in self.state["servers"].values():
            if server.get("security_group_id") == sg["id"] and server.get("host"):
                with self.net_lock:
                    self.net.update_firewall(server["id"], self.firewall(sg))

    # ---- Scaleway: private networks and NICs ----
    def pn_view(self, pn: dict) -> dict:
        subnet = {
            "id": pn["subnet_id"],
            "created_at": pn["created_at"],
            "updated_at": pn["updated_at"],
            "subnet": pn["subnet"],
            "project_id": pn["project_id"],
            "private_network_id": pn["id"],
            "vpc_id": pn["vpc_id"],
        }
        return {
            "id": pn["id"],
            "name": pn["name"],
            "organization_id": self.creds["SCW_DEFAULT_ORGANIZATION_ID"],
            "project_id": pn["project_id"],
            "region": pn["region"],
            "tags": pn["tags"],
            "created_at": pn["created_at"],
            "updated_at": pn["updated_at"],
            "subnets": [subnet],
            "vpc_id": pn["vpc_id"],
            "dhcp_enabled": True,
            "default_route_propagation_enabled": False,
        }

    def create_pn(self, region: str, body: dict) -> dict:
        subnets = body.get("subnets") or ["172.16.0.0/22"]
        try:
            net = ipaddress.ip_network(subnets[0])
        except ValueError:
            raise scw_invalid("subnets", f"{subnets[0]!r} is not a CIDR network") from None
        if not net.is_private or net.prefixlen > 29:
            raise scw_invalid("subnets", "the subnet must be a private IPv4 range of /29 or larger")
        pn = {
            "id": str(uuid.uuid4()),
            "name": body.get("name") or f"pn-{uuid.uuid4().hex[:8]}",
            "region": region,
            "tags": body.get("tags") or [],
            "project_id": self._project(body, "project_id"),
            "subnet": str(net),
            "subnet_id": str(uuid.uuid4()),
            "vpc_id": body.get("vpc_id") or self._default_vpc(region),
            "created_at": now(),
            "updated_at": now(),
        }
        self.state["private_networks"][pn["id"]] = pn
        return pn

    def _default_vpc(self, region: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"swarmwiz-lab:{self.creds['SCW_DEFAULT_PROJECT_ID']}:{region}"))

    def nic_view(self, nic: dict) -> dict:
        return {
            "id": nic["id"],
            "server_id": nic["server_id"],
            "private_network_id": nic["pn_id"],
            "mac_address": nic["mac"],
            "state": "available",
            "tags": nic.get("tags") or [],
            "creation_date": nic["creation_date"],
            "zone": nic["zone"],
        }

    def create_nic(self, server: dict, body: dict) -> dict:
        pn_id = (body.get("private_network_id") or "").rsplit("/", 1)[-1]
        pn = self.get("private_networks", "private_network", pn_id)
        net = ipaddress.ip_network(pn["subnet"])
        used = {n["address"] for n in self.state["private_nics"].values() if n["pn_id"] == pn_id}
        hosts = list(net.hosts())[1:]  # .1 of the subnet is the gateway
        address = next((str(h) for h in hosts if str(h) not in used), None)
        if address is None:
            raise scw_error(409, "conflict", f"private network {pn['name']} has no free address")
        mac = "02:00:" + ":".join(f"{b:02x}" for b in uuid.uuid4().bytes[:4])
        nic = {
            "id": str(uuid.uuid4()),
            "server_id": server["id"],
            "pn_id": pn_id,
            "zone": server["zone"],
            "mac": mac,
            "address": address,
            "prefixlen": net.prefixlen,
            "creation_date": now(),
            "tags": body.get("tags") or [],
        }
        self.state["private_nics"][nic["id"]] = nic
        return nic

    def ipam_ips(self, query: dict) -> dict:
        out = []
        for nic in self.state["private_nics"].values():
            if query.get("resource_id") not in (None, nic["id"], nic["server_id"]):
                continue
            if query.get("private_network_id") not in (None, nic["pn_id"]):
                continue
            pn = self.state["private_networks"].get(nic["pn_id"], {})
            out.append(
                {
                    "id": str(uuid.uuid5(uuid.NAMESPACE_URL, nic["id"])),
                    "address": f"{nic['address']}/{nic['prefixlen']}",
                    "is_ipv6": False,
                    "project_id": pn.get("project_id"),
                    "created_at": nic["creation_date"],
                    "updated_at": nic["creation_date"],
                    "region": pn.get("region"),
                    "zone": nic["zone"],
                    "source": {"private_network_id": nic["pn_id"], "subnet_id": pn.get("subnet_id")},
                    "resource": {
                        "type": "instance_private_nic",
                        "id": nic["id"],
                        "mac_address": nic["mac"],
                        "name": None,
                    },
                    "tags": [],
                    "reverses": [],
                }
            )
        page, total = _page(out, query)
        return {"ips": page, "total_count": total}

    # ---- Scaleway: servers ----
    def server_view(self, s: dict) -> dict:
        ips = [self.ip_view(ip) for ip in self.state["ips"].values() if ip.get("server_id") == s["id"]]
        nics = [self.nic_view(n) for n in self.state["private_nics"].values() if n["server_id"] == s["id"]]
        sg = self.state["security_groups"].get(s.get("security_group_id") or "")
        image_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"swarmwiz-lab-image:{s['image']}"))
        return {
            "id": s["id"],
            "name": s["name"],
            "organization": self.creds["SCW_DEFAULT_ORGANIZATION_ID"],
            "project": s["project"],
            "allowed_actions": ["poweroff", "terminate", "reboot"]
            if s["state"] == "running"
            else ["poweron", "backup"],
            "tags": s["tags"],
            "commercial_type": s["commercial_type"],
            "creation_date": s["creation_date"],
            "dynamic_ip_required": False,
            "routed_ip_enabled": True,
            "enable_ipv6": False,
            "hostname": s["name"],
            "image": {
                "id": image_id,
                "name": s["image"],
                "arch": "x86_64",
                "state": "available",
                "zone": s["zone"],
                "root_volume": None,
                "extra_volumes": {},
                "tags": [],
                "public": True,
                "organization": self.creds["SCW_DEFAULT_ORGANIZATION_ID"],
                "project": s["project"],
            },
            "protected": False,
            "private_ip": None,
            "public_ip": ips[0] if ips else None,
            "public_ips": ips,
            "mac_address": "de:00:00:00:00:01",
            "modification_date": s["modification_date"],
            "state": s["state"],
            "location": None,
            "ipv6": None,
            "boot_type": "local",
            "volumes": {},
            "security_group": {"id": sg["id"], "name": sg["name"]} if sg else None,
            "maintenances": [],
            "state_detail": s.get("state_detail", ""),
            "arch": "x86_64",
            "placement_group": None,
            "private_nics": nics,
            "zone": s["zone"],
            "filesystems": [],
            "end_of_service": False,
            "admin_password_encryption_ssh_key_id": None,
            "admin_password_encrypted_value": None,
        }

    def _apply_faults(self, name: str, commercial_type: str, zone: str) -> None:
        for rule in self.faults():
            if not fnmatch.fnmatchcase(name, rule.get("match", "*")):
                continue
            action = rule.get("action")
            if action == "delay":
                time.sleep(float(rule.get("seconds", 1)))
            elif action == "fail":
                raise scw_error(500, "internal_error", rule.get("message") or "internal error")
            elif action == "quota":
                resource = "instances_" + commercial_type.lower().replace("-", "_")
                raise scw_error(
                    403,
                    "quotas_exceeded",
                    "quota(s) exceeded for this resource",
                    details=[{"resource": resource, "quota": 0, "current": 0}],
                )
            elif action == "out_of_stock":
                raise scw_error(412, "out_of_stock", f"{commercial_type} is out of stock in {zone}")

    def create_server(self, zone: str, body: dict) -> dict:
        """Validate, then create a stopped server (the real API does the same; poweron starts its host)."""
        commercial_type = body.get("commercial_type") or ""
        offer = self.catalog["instance_types"].get(commercial_type.upper(), {}).get("per_zone", {}).get(zone)
        if offer is None:
            raise scw_invalid("commercial_type", f"{commercial_type!r} is not offered in {zone}")
        if offer["availability"] == "shortage":
            raise scw_error(412, "out_of_stock", f"{commercial_type} is out of stock in {zone}")
        name = body.get("name") or f"scw-{uuid.uuid4().hex[:6]}"
        project = self._project(body)
        sg_id = body.get("security_group")
        if sg_id:
            self.get("security_groups", "security_group", sg_id, zone)
        ip_ids = list(body.get("public_ips") or []) + ([body["public_ip"]] if body.get("public_ip") else [])
        for ip_id in ip_ids:
            ip = self.get("ips", "ip", ip_id, zone)
            if ip.get("server_id"):
                raise scw_error(409, "conflict", f"ip {ip_id} is already attached to a server")
        with_lock_released(self.lock, lambda: self._apply_faults(name, commercial_type, zone))
        server = {
            "id": str(uuid.uuid4()),
            "name": name,
            "zone": zone,
            "commercial_type": commercial_type.upper(),
            "image": body.get("image") or "",
            "tags": body.get("tags") or [],
            "project": project,
            "state": "stopped",
            "security_group_id": sg_id,
            "creation_date": now(),
            "modification_date": now(),
            "user_data": {},
            "host": False,
        }
        self.state["servers"][server["id"]] = server
        for ip_id in ip_ids:
            self.state["ips"][ip_id]["server_id"] = server["id"]
        return server

    def update_server(self, server: dict, body: dict) -> None:
        for key in ("name", "tags"):
            if body.get(key) is not None:
                server[key] = body[key]
        if "security_group" in body and body["security_group"]:
            sg_id = body["security_group"]["id"] if isinstance(body["security_group"], dict) else body["security_group"]
            sg = self.get("security_groups", "security_group", sg_id, server["zone"])
            server["security_group_id"] = sg_id
            if server.get("host") and self.net is not None:
                with self.net_lock:
                    self.net.update_firewall(server["id"], self.firewall(sg))
        if body.get("commercial_type") and body["commercial_type"] != server["commercial_type"]:
            if server["state"] != "stopped":
                raise scw_error(400, "invalid_request_error", "the server must be stopped to change its type")
            server["commercial_type"] = body["commercial_type"]
        server["modification_date"] = now()

    def server_action(self, server: dict, action: str) -> dict:
        if action == "poweron":
            if server["state"] != "running":
                self._start_host(server)
                server["state"] = "running"
        elif action in ("poweroff", "stop_in_place"):
            self._stop_host(server)
            server["state"] = "stopped"
        elif action == "reboot":
            pass
        elif action == "terminate":
            self.delete_server(server, terminate=True)
        else:
            raise scw_invalid("action", f"{action!r} is not supported by the lab")
        server["modification_date"] = now()
        return {
            "task": {
                "id": str(uuid.uuid4()),
                "description": f"server_{action}",
                "status": "success",
                "href_from": f"/servers/{server['id']}/action",
                "progress": 100,
                "started_at": now(),
                "terminated_at": now(),
                "zone": server["zone"],
            }
        }

    def _start_host(self, server: dict) -> None:
        """Turn the server's cloud-init into a lab host: its hostname, authorized keys and host key."""
        doc, skipped = parse_cloud_init(server["user_data"].get("cloud-init"))
        server["cloud_init_skipped"] = skipped
        if self.net is None:
            return
        from swarmwiz.lab.hosts import HostSpec

        keys = [k.strip() for k in doc.get("ssh_authorized_keys") or [] if isinstance(k, str)]
        keys += [
            k["public_key"]
            for k in self.state["ssh_keys"].values()
            if not k.get("disabled") and k["public_key"] not in keys
        ]  # project keys, as Scaleway injects
        host_keys = doc.get("ssh_keys") or {}
        ips = [ip["address"] for ip in self.state["ips"].values() if ip.get("server_id") == server["id"]]
        nics = [
            (n["pn_id"], n["address"], n["prefixlen"])
            for n in self.state["private_nics"].values()
            if n["server_id"] == server["id"]
        ]
        spec = HostSpec(
            host_id=server["id"],
            hostname=str(doc.get("hostname") or server["name"]),
            public_ip=ips[0] if ips else None,
            private_nics=nics,
            authorized_keys=keys,
            host_key_private=host_keys.get("ed25519_private"),
            host_key_public=host_keys.get("ed25519_public"),
            firewall=self.firewall(self.state["security_groups"].get(server.get("security_group_id") or "")),
        )
        # Starting sshd and dockerd takes most of a second: do it without the API lock so that Terraform's parallel
        # creates run in parallel here too (LabNet is safe to use from many threads).
        net = self.net

        def start() -> None:
            net.ensure()
            net.create_host(spec)

        with_lock_released(self.lock, start)
        server["host"] = True

    def _stop_host(self, server: dict) -> None:
        if server.get("host") and self.net is not None:
            server["host"] = False
            with_lock_released(self.lock, lambda: self.net.delete_host(server["id"]))
        server["host"] = False

    def delete_server(self, server: dict, terminate: bool = False) -> None:
        self._stop_host(server)
        for ip in self.state["ips"].values():
            if ip.get("server_id") == server["id"]:
                ip["server_id"] = None
        for nic_id in [n["id"] for n in self.state["private_nics"].values() if n["server_id"] == server["id"]]:
            del self.state["private_nics"][nic_id]
        del self.state["servers"][server["id"]]

    # ---- Cloudflare ----
    def zone_view(self, zone_id: str) -> dict:
        name = self.cf_zones[zone_id]
        account = {"id": self.creds["cloudflare_account_id"], "name": "swarmwiz lab"}
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
            "created_on": self._zone_created,
            "modified_on": self._zone_created,
            "activated_on": self._zone_created,
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

    def cf_zone(self, zone_id: str) -> str:
        if zone_id not in self.cf_zones:
            raise cf_error(
                404, 7003, f"Could not route to /zones/{zone_id}, perhaps your object identifier is invalid?"
            )
        return self.cf_zones[zone_id]

    def record_fields(self, zone_id: str, body: dict, old: dict | None = None) -> dict:
        zone = self.cf_zone(zone_id)
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

    def record_view(self, rec: dict) -> dict:
        return {
            "id": rec["id"],
            "zone_id": rec["zone_id"],
            "zone_name": self.cf_zones.get(rec["zone_id"]),
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

    def status(self) -> dict:
        """What the lab holds, for `swarmwiz lab status`."""
        return {**summarize(self.state), "dns_zones": sorted(self.cf_zones.values())}

    def empty(self) -> bool:
        return not any(self.state.values())


def summarize(state: dict) -> dict:
    """Servers (name, zone, addresses, state, skipped cloud-init), IPs, groups, networks, keys and DNS records."""
    s = {
        k: state.get(k, {})
        for k in ("servers", "ips", "security_groups", "private_networks", "private_nics", "ssh_keys", "dns_records")
    }
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
        "dns_records": [
            {"id": r["id"], "name": r["name"], "type": r["type"], "content": r.get("content")}
            for r in s["dns_records"].values()
        ],
    }


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


ZONE = r"(?P<zone>[a-z]{2}-[a-z]{3}-[1-9])"
REGION = r"(?P<region>[a-z]{2}-[a-z]{3})"
ID = r"(?P<id>[^/]+)"
INSTANCE = f"/instance/v1/zones/{ZONE}"


class Router:
    """Maps (method, path) to a handler; handlers return (status, body) and raise APIError."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        L = lab
        self.routes: list[tuple[str, re.Pattern, Any]] = []

        def add(method: str, pattern: str, fn: Any) -> None:
            self.routes.append((method, re.compile(pattern + r"/?$"), fn))

        # Lab's own endpoints (loopback only; no secrets in answers).
        add("GET", "/lab/v1/health", lambda m, q, b: (200, {"ok": True, "pid": os.getpid()}))
        add("GET", "/lab/v1/status", lambda m, q, b: (200, L.status()))
        # Scaleway IAM and account
        add("GET", "/iam/v1alpha1/api-keys/(?P<ak>[^/]+)", lambda m, q, b: (200, L.get_api_key(m["ak"])))
        add("GET", "/account/v3/projects/" + ID, self.get_project)
        add("GET", "/account/v3/projects", lambda m, q, b: (200, {"projects": [L.project_view()], "total_count": 1}))
        add("POST", "/iam/v1alpha1/ssh-keys", lambda m, q, b: (200, L.ssh_key_view(L.create_ssh_key(b))))
        add("GET", "/iam/v1alpha1/ssh-keys", self.list_ssh_keys)
        add(
            "GET",
            "/iam/v1alpha1/ssh-keys/" + ID,
            lambda m, q, b: (200, L.ssh_key_view(L.get("ssh_keys", "ssh_key", m["id"]))),
        )
        add("PATCH", "/iam/v1alpha1/ssh-keys/" + ID, self.update_ssh_key)
        add("DELETE", "/iam/v1alpha1/ssh-keys/" + ID, self.delete("ssh_keys", "ssh_key"))
        # Instance catalogue
        add("GET", INSTANCE + "/products/servers", self.products(availability=False))
        add("GET", INSTANCE + "/products/servers/availability", self.products(availability=True))
        # Instance IPs
        add("POST", INSTANCE + "/ips", lambda m, q, b: (201, {"ip": L.ip_view(L.create_ip(m["zone"], b))}))
        add("GET", INSTANCE + "/ips", self.lister("ips", "ips", L.ip_view))
        add("GET", INSTANCE + "/ips/" + ID, lambda m, q, b: (200, {"ip": L.ip_view(self.zonal("ips", "ip", m))}))
        add("PATCH", INSTANCE + "/ips/" + ID, self.update_ip)
        add("DELETE", INSTANCE + "/ips/" + ID, self.delete_ip)
        # Security groups
        add(
            "POST",
            INSTANCE + "/security_groups",
            lambda m, q, b: (201, {"security_group": L.sg_view(L.create_sg(m["zone"], b))}),
        )
        add("GET", INSTANCE + "/security_groups", self.lister("security_groups", "security_groups", L.sg_view))
        add(
            "GET",
            INSTANCE + "/security_groups/" + ID,
            lambda m, q, b: (200, {"security_group": L.sg_view(self.zonal("security_groups", "security_group", m))}),
        )
        add("PATCH", INSTANCE + "/security_groups/" + ID, self.update_sg)
        add("DELETE", INSTANCE + "/security_groups/" + ID, self.delete_sg)
        add("GET", INSTANCE + "/security_groups/" + ID + "/rules", self.list_rules)
        add("PUT", INSTANCE + "/security_groups/" + ID + "/rules", self.set_rules)
        add("POST", INSTANCE + "/security_groups/" + ID + "/rules", self.add_rule)
        add("DELETE", INSTANCE + "/security_groups/" + ID + "/rules/(?P<rule>[^/]+)", self.delete_rule)
        # Servers
        add(
            "POST",
            INSTANCE + "/servers",
            lambda m, q, b: (201, {"server": L.server_view(L.create_server(m["zone"], b))}),
        )
        add("GET", INSTANCE + "/servers", self.list_servers)
        add(
            "GET",
            INSTANCE + "/servers/" + ID,
            lambda m, q, b: (200, {"server": L.server_view(self.zonal("servers", "instance_server", m))}),
        )
        add("PATCH", INSTANCE + "/servers/" + ID, self.update_server)
        add("DELETE", INSTANCE + "/servers/" + ID, self.delete_server)
        add(
            "POST",
            INSTANCE + "/servers/" + ID + "/action",
            lambda m, q, b: (202, L.server_action(self.zonal("servers", "instance_server", m), b.get("action", ""))),
        )
        add(
            "GET",
            INSTANCE + "/servers/" + ID + "/user_data",
            lambda m, q, b: (200, {"user_data": sorted(self.zonal("servers", "instance_server", m)["user_data"])}),
        )
        add("GET", INSTANCE + "/servers/" + ID + "/user_data/(?P<key>[^/]+)", self.get_user_data)
        add("PATCH", INSTANCE + "/servers/" + ID + "/user_data/(?P<key>[^/]+)", self.set_user_data)
        add("DELETE", INSTANCE + "/servers/" + ID + "/user_data/(?P<key>[^/]+)", self.delete_user_data)
        add("POST", INSTANCE + "/servers/" + ID + "/private_nics", self.create_nic)
        add("GET", INSTANCE + "/servers/" + ID + "/private_nics", self.list_nics)
        add("DELETE", INSTANCE + "/servers/" + ID + "/private_nics/(?P<nic>[^/]+)", self.delete_nic)
        # VPC private networks and IPAM
        add(
            "POST",
            f"/vpc/v2/regions/{REGION}/private-networks",
            lambda m, q, b: (200, L.pn_view(L.create_pn(m["region"], b))),
        )
        add("GET", f"/vpc/v2/regions/{REGION}/private-networks", self.list_pns)
        add(
            "GET", f"/vpc/v2/regions/{REGION}/private-networks/{ID}", lambda m, q, b: (200, L.pn_view(self.regional(m)))
        )
        add("PATCH", f"/vpc/v2/regions/{REGION}/private-networks/{ID}", self.update_pn)
        add("DELETE", f"/vpc/v2/regions/{REGION}/private-networks/{ID}", self.delete_pn)
        add("GET", f"/ipam/v1/regions/{REGION}/ips", lambda m, q, b: (200, L.ipam_ips(q)))
        # Cloudflare
        add("GET", CF_PREFIX + "/user/tokens/verify", self.cf_verify)
        add("GET", CF_PREFIX + "/zones", self.cf_list_zones)
        add("GET", CF_PREFIX + "/zones/(?P<zone>[0-9a-f]{32})", lambda m, q, b: (200, cf_ok(self.cf_zone_get(m))))
        add("GET", CF_PREFIX + "/zones/(?P<zone>[^/]+)/dns_records", self.cf_list_records)
        add("POST", CF_PREFIX + "/zones/(?P<zone>[^/]+)/dns_records", self.cf_create_record)
        add("GET", CF_PREFIX + "/zones/(?P<zone>[^/]+)/dns_records/" + ID, self.cf_get_record)
        add("PATCH", CF_PREFIX + "/zones/(?P<zone>[^/]+)/dns_records/" + ID, self.cf_update_record)
        add("PUT", CF_PREFIX + "/zones/(?P<zone>[^/]+)/dns_records/" + ID, self.cf_update_record)
        add("DELETE", CF_PREFIX + "/zones/(?P<zone>[^/]+)/dns_records/" + ID, self.cf_delete_record)

    def dispatch(self, method: str, path: str, query: dict, headers: Any, body: Any) -> tuple[int, Any]:
        cloudflare = path.startswith(CF_PREFIX)
        known_path = False
        for route_method, pattern, fn in self.routes:
            match = pattern.match(path)
            if not match:
                continue
            known_path = True
            if route_method != method:
                continue
            groups = match.groupdict()
            with self.lab.lock:
                self.lab.last_request = time.monotonic()
                if cloudflare:
                    groups["token"] = self.lab.cf_auth(headers, path=path[len(CF_PREFIX) :], write=method != "GET")
                elif not path.startswith("/lab/"):
                    self.lab.scw_auth(headers)
                status, out = fn(groups, query, body)
                if method != "GET":
                    self.lab.save()
                return status, out
        if cloudflare:
            raise cf_error(405 if known_path else 404, 7000, "No route for that URI")
        if known_path:
            raise scw_error(405, "method_not_allowed", "method not allowed")
        raise scw_error(404, "not_found", "resource is not found", resource="route", resource_id=path)

    # -- helpers --
    def zonal(self, kind: str, resource: str, m: dict) -> dict:
        return self.lab.get(kind, resource, m["id"], m["zone"])

    def regional(self, m: dict) -> dict:
        pn = self.lab.get("private_networks", "private_network", m["id"])
        if pn["region"] != m["region"]:
            raise scw_not_found("private_network", m["id"])
        return pn

    def lister(self, kind: str, key: str, view: Any) -> Any:
        def handler(m: dict, q: dict, b: Any) -> tuple[int, dict]:
            items = [view(x) for x in self.lab.state[kind].values() if x.get("zone") == m["zone"]]
            if q.get("tags"):
                items = [x for x in items if set(q["tags"].split(",")) <= set(x.get("tags") or [])]
            if q.get("name"):
                items = [x for x in items if q["name"] in x.get("name", "")]
            page, total = _page(items, q)
            return 200, {key: page, "total_count": total}

        return handler

    def delete(self, kind: str, resource: str) -> Any:
        def handler(m: dict, q: dict, b: Any) -> tuple[int, None]:
            self.lab.get(kind, resource, m["id"])
            del self.lab.state[kind][m["id"]]
            return 204, None

        return handler

    def products(self, *, availability: bool) -> Any:
        def handler(m: dict, q: dict, b: Any) -> tuple[int, dict]:
            if not any(m["zone"] in r["zones"] for r in self.lab.catalog["regions"].values()):
                raise scw_error(404, "unknown_resource", f"zone {m['zone']} is unknown")
            out, total = self.lab.server_types(m["zone"], q, availability=availability)
            return 200, out

        return handler

    def get_project(self, m: dict, q: dict, b: Any) -> tuple[int, dict]:
        if m["id"] != self.lab.creds["SCW_DEFAULT_PROJECT_ID"]:
            raise scw_error(
                403,
                "permissions_denied",
                "insufficient permissions",
                details=[{"resource": "project", "action": "read"}],
            )
        return 200, self.lab.project_view()

    def list_ssh_keys(self, m: dict, q: dict, b: Any) -> tuple[int, dict]:
        keys = [self.lab.ssh_key_view(k) for k in self.lab.state["ssh_keys"].values()]
        page, total = _page(keys, q)
        return 200, {"ssh_keys": page, "total_count": total}

    def update_ssh_key(self, m: dict, q: dict, b: dict) -> tuple[int, dict]:
        key = self.lab.get("ssh_keys", "ssh_key", m["id"])
        for field in ("name", "disabled"):
            if b.get(field) is not None:
                key[field] = b[field]
        key["updated_at"] = now()
        return 200, self.lab.ssh_key_view(key)

    def update_ip(self, m: dict, q: dict, b: dict) -> tuple[int, dict]:
        ip = self.zonal("ips", "ip", m)
        if b.get("tags") is not None:
            ip["tags"] = b["tags"]
        if "server" in b:
            if b["server"]:
                self.lab.get("servers", "instance_server", b["server"], m["zone"])
            ip["server_id"] = b["server"] or None
        return 200, {"ip": self.lab.ip_view(ip)}

    def delete_ip(self, m: dict, q: dict, b: Any) -> tuple[int, None]:
        ip = self.zonal("ips", "ip", m)
        server = self.lab.state["servers"].get(ip.get("server_id") or "")
        if server and server.get("host"):
            raise scw_error(409, "conflict", "ip is attached to a running server; detach it first")
        del self.lab.state["ips"][ip["id"]]
        return 204, None

    def update_sg(self, m: dict, q: dict, b: dict) -> tuple[int, dict]:
        sg = self.zonal("security_groups", "security_group", m)
        self.lab.update_sg(sg, b)
        return 200, {"security_group": self.lab.sg_view(sg)}

    def delete_sg(self, m: dict, q: dict, b: Any) -> tuple[int, None]:
        sg = self.zonal("security_groups", "security_group", m)
        if any(s.get("security_group_id") == sg["id"] for s in self.lab.state["servers"].values()):
            raise scw_error(409, "conflict", "group is in use. you cannot delete it.")
        del self.lab.state["security_groups"][sg["id"]]
        return 204, None

    def list_rules(self, m: dict, q: dict, b: Any) -> tuple[int, dict]:
        sg = self.zonal("security_groups", "security_group", m)
        page, total = _page(sg["rules"], q)
        return 200, {"rules": page, "total_count": total}

    def set_rules(self, m: dict, q: dict, b: dict) -> tuple[int, dict]:
        sg = self.zonal("security_groups", "security_group", m)
        return 200, {"rules": self.lab.set_rules(sg, b.get("rules") or [])}

    def add_rule(self, m: dict, q: dict, b: dict) -> tuple[int, dict]:
        sg = self.zonal("security_groups", "security_group", m)
        rules = [*sg["rules"], b]
        return 201, {"rule": self.lab.set_rules(sg, rules)[-1]}

    def delete_rule(self, m: dict, q: dict, b: Any) -> tuple[int, None]:
        sg = self.zonal("security_groups", "security_group", m)
        if not any(r["id"] == m["rule"] for r in sg["rules"]):
            raise scw_not_found("security_group_rule", m["rule"])
        self.lab.set_rules(sg, [r for r in sg["rules"] if r["id"] != m["rule"]])
        return 204, None

    def list_servers(self, m: dict, q: dict, b: Any) -> tuple[int, dict]:
        items = [s for s in self.lab.state["servers"].values() if s["zone"] == m["zone"]]
        if q.get("project"):
            items = [s for s in items if s["project"] == q["project"]]
        if q.get("name"):
            items = [s for s in items if q["name"] in s["name"]]
        if q.get("tags"):
            items = [s for s in items if set(q["tags"].split(",")) <= set(s["tags"])]
        page, total = _page(items, q)
        return 200, {"servers": [self.lab.server_view(s) for s in page], "total_count": total}

    def update_server(self, m: dict, q: dict, b: dict) -> tuple[int, dict]:
        server = self.zonal("servers", "instance_server", m)
        self.lab.update_server(server, b)
        return 200, {"server": self.lab.server_view(server)}

    def delete_server(self, m: dict, q: dict, b: Any) -> tuple[int, None]:
        self.lab.delete_server(self.zonal("servers", "instance_server", m))
        return 204, None

    def get_user_data(self, m: dict, q: dict, b: Any) -> tuple[int, Any]:
        server = self.zonal("servers", "instance_server", m)
        if m["key"] not in server["user_data"]:
            raise scw_not_found("user_data", m["key"])
        return 200, RawBody(server["user_data"][m["key"]].encode(), "text/plain")

    def set_user_data(self, m: dict, q: dict, b: Any) -> tuple[int, None]:
        server = self.zonal("servers", "instance_server", m)
        text = b.decode() if isinstance(b, bytes) else (b if isinstance(b, str) else json.dumps(b))
        if len(text) > 127998:
            raise scw_invalid("user_data", "user data is larger than 127998 bytes")
        server["user_data"][m["key"]] = text
        return 204, None

    def delete_user_data(self, m: dict, q: dict, b: Any) -> tuple[int, None]:
        self.zonal("servers", "instance_server", m)["user_data"].pop(m["key"], None)
        return 204, None

    def create_nic(self, m: dict, q: dict, b: dict) -> tuple[int, dict]:
        server = self.zonal("servers", "instance_server", m)
        return 201, {"private_nic": self.lab.nic_view(self.lab.create_nic(server, b))}

    def list_nics(self, m: dict, q: dict, b: Any) -> tuple[int, dict]:
        server = self.zonal("servers", "instance_server", m)
        nics = [self.lab.nic_view(n) for n in self.lab.state["private_nics"].values() if n["server_id"] == server["id"]]
        return 200, {"private_nics": nics, "total_count": len(nics)}

    def delete_nic(self, m: dict, q: dict, b: Any) -> tuple[int, None]:
        server = self.zonal("servers", "instance_server", m)
        nic = self.lab.state["private_nics"].get(m["nic"])
        if nic is None or nic["server_id"] != server["id"]:
            raise scw_not_found("private_nic", m["nic"])
        del self.lab.state["private_nics"][m["nic"]]
        return 204, None

    def list_pns(self, m: dict, q: dict, b: Any) -> tuple[int, dict]:
        items = [
            self.lab.pn_view(p)
            for p in self.lab.state["private_networks"].values()
            if p["region"] == m["region"] and (not q.get("name") or q["name"] in p["name"])
        ]
        page, total = _page(items, q)
        return 200, {"private_networks": page, "total_count": total}

    def update_pn(self, m: dict, q: dict, b: dict) -> tuple[int, dict]:
        pn = self.regional(m)
        for field in ("name", "tags"):
            if b.get(field) is not None:
                pn[field] = b[field]
        pn["updated_at"] = now()
        return 200, self.lab.pn_view(pn)

    def delete_pn(self, m: dict, q: dict, b: Any) -> tuple[int, None]:
        pn = self.regional(m)
        if any(n["pn_id"] == pn["id"] for n in self.lab.state["private_nics"].values()):
            raise scw_error(
                412, "precondition_failed", "private network is in use", precondition="resource_still_in_use"
            )
        del self.lab.state["private_networks"][pn["id"]]
        return 204, None

    # -- Cloudflare --
    def cf_verify(self, m: dict, q: dict, b: Any) -> tuple[int, dict]:
        token = m["token"]  # dispatch authenticated it
        result = {"id": token["id"], "status": token["status"], "expires_on": token["expires_on"], "not_before": None}
        message = "This API Token is valid and active" if token["status"] == "active" else "This API Token is expired"
        return 200, cf_ok(result, messages=[{"code": 10000, "message": message, "type": None}])

    def cf_zone_get(self, m: dict) -> dict:
        self.lab.cf_zone(m["zone"])
        return self.lab.zone_view(m["zone"])

    def cf_list_zones(self, m: dict, q: dict, b: Any) -> tuple[int, dict]:
        zones = [self.lab.zone_view(z) for z in sorted(self.lab.cf_zones)]
        if q.get("name"):
            zones = [z for z in zones if z["name"] == q["name"].lower()]
        if q.get("status"):
            zones = [z for z in zones if z["status"] == q["status"]]
        return 200, self._cf_page(zones, q)

    @staticmethod
    def _cf_page(items: list, q: dict) -> dict:
        page, total = _page(items, q)
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

    def cf_list_records(self, m: dict, q: dict, b: Any) -> tuple[int, dict]:
        self.lab.cf_zone(m["zone"])
        recs = [r for r in self.lab.state["dns_records"].values() if r["zone_id"] == m["zone"]]
        name = q.get("name") or q.get("name.exact")
        for key, value in (("name", name), ("type", q.get("type")), ("content", q.get("content"))):
            if value:
                recs = [r for r in recs if str(r.get(key)).lower() == value.lower()]
        return 200, self._cf_page([self.lab.record_view(r) for r in recs], q)

    def cf_create_record(self, m: dict, q: dict, b: dict) -> tuple[int, dict]:
        rec = self.lab.record_fields(m["zone"], b)
        rec.update({"id": uuid.uuid4().hex, "zone_id": m["zone"], "created_on": now(), "modified_on": now()})
        self.lab.state["dns_records"][rec["id"]] = rec
        return 200, cf_ok(self.lab.record_view(rec))

    def _record(self, m: dict) -> dict:
        self.lab.cf_zone(m["zone"])
        rec = self.lab.state["dns_records"].get(m["id"])
        if rec is None or rec["zone_id"] != m["zone"]:
            raise cf_error(404, 81044, "Record does not exist.")
        return rec

    def cf_get_record(self, m: dict, q: dict, b: Any) -> tuple[int, dict]:
        return 200, cf_ok(self.lab.record_view(self._record(m)))

    def cf_update_record(self, m: dict, q: dict, b: dict) -> tuple[int, dict]:
        rec = self._record(m)
        updated = self.lab.record_fields(m["zone"], b, old=rec)
        updated["modified_on"] = now()
        self.lab.state["dns_records"][rec["id"]] = updated
        return 200, cf_ok(self.lab.record_view(updated))

    def cf_delete_record(self, m: dict, q: dict, b: Any) -> tuple[int, dict]:
        rec = self._record(m)
        del self.lab.state["dns_records"][rec["id"]]
        return 200, cf_ok({"id": rec["id"]})


class RawBody:
    """A non-JSON answer (user data is text/plain)."""

    def __init__(self, data: bytes, content_type: str) -> None:
        self.data = data
        self.content_type = content_type


def make_handler(router: Router) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:  # the access log holds no secrets: paths only
            log.debug("%s %s", self.address_string(), fmt % args)

        def _serve(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body: Any = raw
            if raw and "json" in (self.headers.get("Content-Type") or "json"):
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
            if body == b"":
                body = {}
            try:
                status, out = router.dispatch(self.command, url.path.rstrip("/") or "/", query, self.headers, body)
            except APIError as exc:
                status, out = exc.status, exc.body
            except Exception:
                log.exception("lab API: %s %s failed", self.command, url.path)
                status, out = 500, {"message": "internal error", "type": "internal_error"}
            self._answer(status, out)

        def _answer(self, status: int, out: Any) -> None:
            if isinstance(out, RawBody):
                data, ctype = out.data, out.content_type
            elif out is None:
                data, ctype = b"", "application/json"
            else:
                data, ctype = json.dumps(out).encode(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            if isinstance(out, dict) and "total_count" in out:
                self.send_header("X-Total-Count", str(out["total_count"]))
            self.end_headers()
            if data:
                self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    return Handler


def serve(lab_dir: Path, net: Any, port: int = 0) -> ThreadingHTTPServer:
    """Bind the lab API on 127.0.0.1 (a free port unless given) and return the server, not yet serving."""
    lab = Lab(lab_dir, net)
    router = Router(lab)
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(router))
    server.daemon_threads = True
    server.lab = lab  # type: ignore[attr-defined]
    return server


def _stop_when_idle(server: ThreadingHTTPServer) -> None:
    """Stop the daemon once the lab holds nothing and nobody has called it for IDLE_SECONDS."""
    lab: Lab = server.lab  # type: ignore[attr-defined]
    while True:
        time.sleep(min(IDLE_SECONDS, 30))
        with lab.lock:
            if lab.empty() and time.monotonic() - lab.last_request > IDLE_SECONDS:
                log.info("lab is empty and idle: stopping the API")
                server.shutdown()
                return


def main(argv: list[str] | None = None) -> int:
    """Daemon entry point: `python -m swarmwiz.lab.api --dir LAB_DIR` (started by swarmwiz.lab.Lab)."""
    parser = argparse.ArgumentParser(prog="swarmwiz-lab-api")
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--no-hosts", action="store_true", help="API only: servers get no lab host")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    lab_dir = args.dir.resolve()
    net = None
    if not args.no_hosts:
        from swarmwiz.lab.hosts import LabNet

        net = LabNet(lab_dir)
        net.ensure()
    server = serve(lab_dir, net)
    port = server.server_address[1]
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    files.write_json(lab_dir / files.DAEMON_FILE, {"pid": os.getpid(), "port": port, "url": f"http://127.0.0.1:{port}"})
    log.info("lab API listening on 127.0.0.1:%d", port)
    threading.Thread(target=_stop_when_idle, args=(server,), daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        info = files.read_json(lab_dir / files.DAEMON_FILE, {})
        if info.get("pid") == os.getpid():
            (lab_dir / files.DAEMON_FILE).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
