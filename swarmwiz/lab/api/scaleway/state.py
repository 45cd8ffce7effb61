"""Scaleway resources: create, change and delete IPs, security groups, private networks, NICs, keys and servers."""

from __future__ import annotations

import fnmatch
import hashlib
import ipaddress
import time
import uuid
from typing import Any

from swarmwiz.lab.api.cloud import LabCloud, now, with_lock_released
from swarmwiz.lab.api.errors import in_use, invalid_argument, scw_error, scw_invalid, scw_not_found
from swarmwiz.lab.api.scaleway import power, views


class Scaleway:
    """The Scaleway half of the lab cloud: rules of the real API applied to the shared state."""

    def __init__(self, cloud: LabCloud) -> None:
        self.cloud = cloud

    @property
    def state(self) -> dict:
        return self.cloud.state

    @property
    def creds(self) -> dict:
        return self.cloud.creds

    @property
    def net(self) -> Any:
        return self.cloud.net

    @property
    def lock(self) -> Any:
        return self.cloud.lock

    @property
    def net_lock(self) -> Any:
        return self.cloud.net_lock

    @property
    def catalog(self) -> dict:
        return self.cloud.catalog

    def get(self, kind: str, resource: str, rid: str, zone: str | None = None) -> dict:
        return self.cloud.get(kind, resource, rid, zone)

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

    def create_ip(self, zone: str, body: dict) -> dict:
        type_ = body.get("type") or "routed_ipv4"
        if type_ not in ("routed_ipv4", "routed_ipv6"):
            raise scw_invalid("type", f"{type_!r} is not a valid IP type (routed_ipv4, routed_ipv6)")
        if type_ == "routed_ipv6":
            raise scw_error(400, "invalid_request_error", "the lab offers routed_ipv4 addresses only")
        self.check_quota("ip_routed_ipv4", sum(ip["type"] == type_ for ip in self.state["ips"].values()))
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
        from swarmwiz.lab.firewall import Firewall, FirewallRule

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

    def create_pn(self, region: str, body: dict) -> dict:
        subnets = body.get("subnets") or ["172.16.0.0/22"]
        try:
            net = ipaddress.ip_network(subnets[0])
        except ValueError:
            raise scw_invalid("subnets", f"{subnets[0]!r} is not a CIDR network") from None
        if not net.is_private:
            raise scw_invalid("subnets", "the subnet must be a private IPv4 range")
        if not 20 <= net.prefixlen <= 29:  # the Go SDK prints: subnets[0] is invalid for unexpected reason, prefix: ...
            raise invalid_argument("subnets[0]", "unknown", 'prefix: {"max": 20, "min": 29}')
        project = self._project(body, "project_id")
        vpc = self._vpc_for(region, project, body.get("vpc_id"))
        for other in self.state["private_networks"].values():
            if other["vpc_id"] == vpc["id"] and ipaddress.ip_network(other["subnet"]).overlaps(net):
                raise invalid_argument("subnets", "unknown", "subnet_overlaps_in_vpc: {}")
        pn = {
            "id": str(uuid.uuid4()),
            "name": body.get("name") or f"pn-{uuid.uuid4().hex[:8]}",
            "region": region,
            "tags": body.get("tags") or [],
            "project_id": project,
            "subnet": str(net),
            "subnet_id": str(uuid.uuid4()),
            # Scaleway adds an IPv6 /64 (unique local) to every new private network.
            "subnet6": str(ipaddress.IPv6Network((b"\xfd" + uuid.uuid4().bytes[:7] + bytes(8), 64))),
            "subnet6_id": str(uuid.uuid4()),
            "vpc_id": vpc["id"],
            "created_at": now(),
            "updated_at": now(),
        }
        self.state["private_networks"][pn["id"]] = pn
        return pn

    # ---- VPCs ----
    def default_vpc(self, region: str, project: str) -> dict | None:
        """The project's default VPC in `region` (made on first use), or None for a project that has none."""
        if not self.cloud.options()["default_vpc"]:
            return None
        vpc_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"swarmwiz-lab:{project}:{region}"))
        if vpc_id not in self.state["vpcs"]:
            self.state["vpcs"][vpc_id] = self._new_vpc(vpc_id, region, project, {"name": "default"}, default=True)
        return self.state["vpcs"][vpc_id]

    def _vpc_for(self, region: str, project: str, vpc_id: str | None) -> dict:
        if vpc_id:
            vpc = self.get("vpcs", "vpc", vpc_id.rsplit("/", 1)[-1])
            if vpc["region"] != region:
                raise scw_not_found("vpc", vpc_id)
            return vpc
        vpc = self.default_vpc(region, project)
        if vpc is None:
            raise invalid_argument(
                "vpc_id", "required", "this project has no default VPC in this region: create a VPC and give its id"
            )
        return vpc

    @staticmethod
    def _new_vpc(vpc_id: str, region: str, project: str, body: dict, *, default: bool = False) -> dict:
        return {
            "id": vpc_id,
            "name": body.get("name") or f"vpc-{vpc_id[:8]}",
            "region": region,
            "project_id": project,
            "tags": body.get("tags") or [],
            "is_default": default,
            "routing_enabled": True,
            "created_at": now(),
            "updated_at": now(),
        }

    def create_vpc(self, region: str, body: dict) -> dict:
        project = self._project(body, "project_id")
        self.default_vpc(region, project)  # a project that has one got it at creation, before any other
        vpc = self._new_vpc(str(uuid.uuid4()), region, project, body)
        self.state["vpcs"][vpc["id"]] = vpc
        return vpc

    def vpcs(self, region: str) -> list[dict]:
        self.default_vpc(region, self.creds["SCW_DEFAULT_PROJECT_ID"])
        return [v for v in self.state["vpcs"].values() if v["region"] == region]

    def delete_vpc(self, vpc: dict) -> None:
        if any(p["vpc_id"] == vpc["id"] for p in self.state["private_networks"].values()):
            raise in_use("the VPC still holds private networks")
        del self.state["vpcs"][vpc["id"]]

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
            "address6": self._address6(pn),
            "ip_id": str(uuid.uuid4()),
            "ip6_id": str(uuid.uuid4()),
            "creation_date": now(),
            "tags": body.get("tags") or [],
        }
        self.state["private_nics"][nic["id"]] = nic
        return nic

    def _address6(self, pn: dict) -> str | None:
        """A free address in the network's IPv6 /64 (random interface id, as SLAAC-style IPAM gives)."""
        if not pn.get("subnet6"):  # a network from a lab state written before dual stack
            return None
        net = ipaddress.IPv6Network(pn["subnet6"])
        used = {n.get("address6") for n in self.state["private_nics"].values()}
        while True:
            address = str(net[int.from_bytes(uuid.uuid4().bytes[:8]) or 1])
            if address not in used:
                return address

    def delete_volume(self, volume: dict) -> None:
        if volume.get("server_id") in self.state["servers"]:
            raise in_use("the volume is attached to a server")
        del self.state["volumes"][volume["id"]]

    def check_quota(self, name: str, current: int) -> None:
        """403 quotas_exceeded, naming the quota, when one more would go over it (Lab.set_options(quotas=...))."""
        limit = self.cloud.options()["quotas"].get(name)
        if limit is not None and current + 1 > int(limit):
            raise scw_error(
                403,
                "quotas_exceeded",
                "quota(s) exceeded for this resource",
                details=[{"resource": name, "quota": int(limit), "current": current}],
            )

    def apply_faults(self, name: str, commercial_type: str, zone: str) -> None:
        for rule in self.cloud.faults():
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
            self.get("security_groups", "instance_security_group", sg_id, zone)
        ip_ids = list(body.get("public_ips") or []) + ([body["public_ip"]] if body.get("public_ip") else [])
        for ip_id in ip_ids:
            ip = self.get("ips", "instance_ip", ip_id, zone)
            if ip.get("server_id"):
                raise scw_error(409, "conflict", f"ip {ip_id} is already attached to a server")
        self.check_quota("instances", len(self.state["servers"]))
        per_type = "instances_" + commercial_type.lower().replace("-", "_")
        self.check_quota(
            per_type, sum(s["commercial_type"] == commercial_type.upper() for s in self.state["servers"].values())
        )
        with_lock_released(self.lock, lambda: self.apply_faults(name, commercial_type, zone))
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
        self._root_volume(server)
        for ip_id in ip_ids:
            self.state["ips"][ip_id]["server_id"] = server["id"]
        return server

    def _root_volume(self, server: dict) -> dict:
        """Local SSD for types that have local storage; a block volume (that outlives the server) for the others."""
        block = views.block_only(server["commercial_type"])
        volume = {
            "id": str(uuid.uuid4()),
            "name": f"{server['name']}-root" if block else server["image"],
            "zone": server["zone"],
            "project": server["project"],
            "volume_type": "sbs_volume" if block else "l_ssd",
            "size": 10_000_000_000 if block else 20_000_000_000,
            "server_id": server["id"],
            "index": 0,
            "creation_date": now(),
            "modification_date": now(),
        }
        self.state["volumes"][volume["id"]] = volume
        return volume

    def update_server(self, server: dict, body: dict) -> None:
        for key in ("name", "tags"):
            if body.get(key) is not None:
                server[key] = body[key]
        if "security_group" in body and body["security_group"]:
            sg_id = body["security_group"]["id"] if isinstance(body["security_group"], dict) else body["security_group"]
            sg = self.get("security_groups", "instance_security_group", sg_id, server["zone"])
            server["security_group_id"] = sg_id
            if server.get("host") and self.net is not None:
                with self.net_lock:
                    self.net.update_firewall(server["id"], self.firewall(sg))
        if body.get("commercial_type") and body["commercial_type"] != server["commercial_type"]:
            if server["state"] != "stopped":
                raise scw_error(400, "invalid_request_error", "the server must be stopped to change its type")
            server["commercial_type"] = body["commercial_type"]
        server["modification_date"] = now()

    def delete_server(self, server: dict, terminate: bool = False) -> None:
        power.stop_host(self, server)
        for ip in self.state["ips"].values():
            if ip.get("server_id") == server["id"]:
                ip["server_id"] = None
        for nic_id in [n["id"] for n in self.state["private_nics"].values() if n["server_id"] == server["id"]]:
            del self.state["private_nics"][nic_id]
        for volume in list(self.state["volumes"].values()):
            if volume.get("server_id") == server["id"]:
                if volume["volume_type"] == "l_ssd":  # local storage goes with the server
                    del self.state["volumes"][volume["id"]]
                else:  # a block volume stays, detached, and keeps billing
                    volume["server_id"] = None
                    volume["detached_at"] = now()
        del self.state["servers"][server["id"]]
