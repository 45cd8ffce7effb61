"""Scaleway routes: the paths and methods of the IAM, Account, Instance, VPC and IPAM APIs the lab serves."""

from __future__ import annotations

import json
from typing import Any

from swarmwiz.lab.api.cloud import Filters, filtered, now, paginate, uuid_ok, values
from swarmwiz.lab.api.errors import RawBody, in_use, scw_error, scw_invalid, scw_not_found
from swarmwiz.lab.api.router import Router
from swarmwiz.lab.api.scaleway import iam, power, views
from swarmwiz.lab.api.scaleway.state import Scaleway

ZONE = r"(?P<zone>[a-z]{2}-[a-z]{3}-[1-9])"
REGION = r"(?P<region>[a-z]{2}-[a-z]{3})"
ID = r"(?P<id>[^/]+)"
INSTANCE = f"/instance/v1/zones/{ZONE}"
SERVER = INSTANCE + "/servers/" + ID
VPC = f"/vpc/v2/regions/{REGION}"

# The list parameters of the real APIs (scaleway SDK 2.12) and how each compares with a field of the answer.
_INSTANCE: Filters = {
    "project": ("project", "eq"),
    "organization": ("organization", "eq"),
    "name": ("name", "contains"),
    "tags": ("tags", "all"),
}
FILTERS: dict[str, Filters] = {
    "servers": {
        **_INSTANCE,
        "commercial_type": ("commercial_type", "eq"),
        "state": ("state", "eq"),
        "servers": ("id", "in"),
    },
    "ips": {**_INSTANCE, "type": ("type", "eq")},
    "security_groups": {**_INSTANCE, "project_default": ("project_default", "bool")},
    "private_networks": {
        "project_id": ("project_id", "eq"),
        "organization_id": ("organization_id", "eq"),
        "name": ("name", "contains"),
        "tags": ("tags", "any"),
        "vpc_id": ("vpc_id", "eq"),
        "private_network_ids": ("id", "in"),
        "dhcp_enabled": ("dhcp_enabled", "bool"),
    },
    "vpcs": {
        "project_id": ("project_id", "eq"),
        "organization_id": ("organization_id", "eq"),
        "name": ("name", "contains"),
        "tags": ("tags", "any"),
        "is_default": ("is_default", "bool"),
        "routing_enabled": ("routing_enabled", "bool"),
    },
    "block": {
        "project_id": ("project_id", "eq"),
        "name": ("name", "contains"),
        "tags": ("tags", "any"),
    },
    "ssh_keys": {
        "project_id": ("project_id", "eq"),
        "organization_id": ("organization_id", "eq"),
        "name": ("name", "contains"),
        "disabled": ("disabled", "bool"),
    },
    "projects": {
        "organization_id": ("organization_id", "eq"),
        "name": ("name", "contains"),
        "project_ids": ("id", "in"),
    },
}


class ScalewayRoutes:
    """Handlers for the Scaleway half; `register` adds them to a router, grouped by API."""

    def __init__(self, sw: Scaleway) -> None:
        self.sw = sw
        self.cloud = sw.cloud

    def register(self, router: Router) -> None:
        self._iam(router.add)
        self._ips(router.add)
        self._security_groups(router.add)
        self._servers(router.add)
        self._vpc(router.add)
        self._volumes(router.add)

    def _iam(self, add: Any) -> None:
        sw, cloud = self.sw, self.cloud
        add("GET", "/iam/v1alpha1/api-keys/(?P<ak>[^/]+)", lambda m, q, b: (200, views.api_key_view(cloud, m["ak"])))
        add("GET", "/iam/v1alpha1/users/" + ID, lambda m, q, b: (200, iam.user_view(cloud, m["id"])))
        add("GET", "/iam/v1alpha1/applications/" + ID, lambda m, q, b: (200, iam.application_view(cloud, m["id"])))
        add("GET", "/iam/v1alpha1/groups", lambda m, q, b: (200, iam.list_groups(cloud, q)))
        add("GET", "/iam/v1alpha1/policies", lambda m, q, b: (200, iam.list_policies(cloud, q)))
        add("GET", "/iam/v1alpha1/rules", lambda m, q, b: (200, iam.list_rules(cloud, q)))
        add("GET", "/account/v3/projects/" + ID, self.get_project)
        add("GET", "/iam/v1alpha1/quota", lambda m, q, b: (200, views.quota(cloud, q)))
        add("GET", "/iam/v1alpha1/quota/(?P<name>[^/]+)", self.get_quotum)
        add(
            "GET",
            "/account/v3/projects",
            lambda m, q, b: (200, self.list_projects(q)),
        )
        add("POST", "/iam/v1alpha1/ssh-keys", lambda m, q, b: (200, views.ssh_key_view(cloud, sw.create_ssh_key(b))))
        add("GET", "/iam/v1alpha1/ssh-keys", self.list_ssh_keys)
        add(
            "GET",
            "/iam/v1alpha1/ssh-keys/" + ID,
            lambda m, q, b: (200, views.ssh_key_view(cloud, sw.get("ssh_keys", "ssh_key", m["id"]))),
        )
        add("PATCH", "/iam/v1alpha1/ssh-keys/" + ID, self.update_ssh_key)
        add("DELETE", "/iam/v1alpha1/ssh-keys/" + ID, self.delete("ssh_keys", "ssh_key"))

    def _ips(self, add: Any) -> None:
        sw, cloud = self.sw, self.cloud
        add("GET", INSTANCE + "/products/servers", self.products(availability=False))
        add("GET", INSTANCE + "/products/servers/availability", self.products(availability=True))
        add("POST", INSTANCE + "/ips", lambda m, q, b: (201, {"ip": views.ip_view(cloud, sw.create_ip(m["zone"], b))}))
        add("GET", INSTANCE + "/ips", self.lister("ips", "ips", views.ip_view))
        add(
            "GET",
            INSTANCE + "/ips/" + ID,
            lambda m, q, b: (200, {"ip": views.ip_view(cloud, self.zonal("ips", "instance_ip", m))}),
        )
        add("PATCH", INSTANCE + "/ips/" + ID, self.update_ip)
        add("DELETE", INSTANCE + "/ips/" + ID, self.delete_ip)

    def _security_groups(self, add: Any) -> None:
        sw, cloud = self.sw, self.cloud
        groups = INSTANCE + "/security_groups"
        add("POST", groups, lambda m, q, b: (201, {"security_group": views.sg_view(cloud, sw.create_sg(m["zone"], b))}))
        add("GET", groups, self.lister("security_groups", "security_groups", views.sg_view))
        add(
            "GET",
            groups + "/" + ID,
            lambda m, q, b: (
                200,
                {"security_group": views.sg_view(cloud, self.zonal("security_groups", "instance_security_group", m))},
            ),
        )
        add("PATCH", groups + "/" + ID, self.update_sg)
        add("DELETE", groups + "/" + ID, self.delete_sg)
        add("GET", groups + "/" + ID + "/rules", self.list_rules)
        add("PUT", groups + "/" + ID + "/rules", self.set_rules)
        add("POST", groups + "/" + ID + "/rules", self.add_rule)
        add("DELETE", groups + "/" + ID + "/rules/(?P<rule>[^/]+)", self.delete_rule)

    def _servers(self, add: Any) -> None:
        sw, cloud = self.sw, self.cloud
        add(
            "POST",
            INSTANCE + "/servers",
            lambda m, q, b: (201, {"server": views.server_view(cloud, sw.create_server(m["zone"], b))}),
        )
        add("GET", INSTANCE + "/servers", self.list_servers)
        add(
            "GET",
            SERVER,
            lambda m, q, b: (200, {"server": views.server_view(cloud, self.zonal("servers", "instance_server", m))}),
        )
        add("PATCH", SERVER, self.update_server)
        add("DELETE", SERVER, self.delete_server)
        add(
            "POST",
            SERVER + "/action",
            lambda m, q, b: (
                202,
                power.server_action(sw, self.zonal("servers", "instance_server", m), b.get("action", "")),
            ),
        )
        add(
            "GET",
            SERVER + "/user_data",
            lambda m, q, b: (200, {"user_data": sorted(self.zonal("servers", "instance_server", m)["user_data"])}),
        )
        add("GET", SERVER + "/user_data/(?P<key>[^/]+)", self.get_user_data)
        add("PATCH", SERVER + "/user_data/(?P<key>[^/]+)", self.set_user_data)
        add("DELETE", SERVER + "/user_data/(?P<key>[^/]+)", self.delete_user_data)
        add("POST", SERVER + "/private_nics", self.create_nic)
        add("GET", SERVER + "/private_nics", self.list_nics)
        add("GET", SERVER + "/private_nics/(?P<nic>[^/]+)", self.get_nic)
        add("DELETE", SERVER + "/private_nics/(?P<nic>[^/]+)", self.delete_nic)

    def _volumes(self, add: Any) -> None:
        """Instance volumes (local SSD) and Block Storage volumes (boot volumes of types without local storage)."""
        sw, cloud = self.sw, self.cloud
        block = "/block/v1alpha1/zones/" + ZONE + "/volumes"
        for base, family, one in ((INSTANCE + "/volumes", "l_ssd", True), (block, "sbs_volume", False)):
            add("GET", base, self.volume_lister(family))
            add("GET", base + "/" + ID, self.volume_getter(family, wrap=one))
            add("DELETE", base + "/" + ID, lambda m, q, b, f=family: (204, sw.delete_volume(self.volume(m, f))))
        del cloud

    def volume(self, m: dict, family: str) -> dict:
        volume = self.sw.get("volumes", "volume" if family == "l_ssd" else "block_volume", m["id"], m["zone"])
        if volume["volume_type"] != family:
            raise scw_not_found("volume", m["id"])
        return volume

    def volume_view(self, family: str, volume: dict) -> dict:
        if family == "l_ssd":
            return views.volume_view(self.cloud, volume)
        return views.block_volume_view(self.cloud, volume)

    def volume_getter(self, family: str, *, wrap: bool) -> Any:
        def handler(m: dict, q: dict, b: Any) -> tuple[int, dict]:
            view = self.volume_view(family, self.volume(m, family))
            return 200, {"volume": view} if wrap else view

        return handler

    def volume_lister(self, family: str) -> Any:
        filters = {**_INSTANCE, "volume_type": ("volume_type", "eq")} if family == "l_ssd" else FILTERS["block"]

        def handler(m: dict, q: dict, b: Any) -> tuple[int, dict]:
            items = [
                self.volume_view(family, v)
                for v in self.sw.state["volumes"].values()
                if v["zone"] == m["zone"] and v["volume_type"] == family
            ]
            if q.get("product_resource_id"):
                items = [
                    v for v in items if q["product_resource_id"] in {r["product_resource_id"] for r in v["references"]}
                ]
            page, total = paginate(filtered(items, q, filters), q)
            return 200, {"volumes": page, "total_count": total}

        return handler

    def _vpc(self, add: Any) -> None:
        sw, cloud = self.sw, self.cloud
        add(
            "POST", VPC + "/private-networks", lambda m, q, b: (200, views.pn_view(cloud, sw.create_pn(m["region"], b)))
        )
        add("GET", VPC + "/private-networks", self.list_pns)
        add("GET", f"{VPC}/private-networks/{ID}", lambda m, q, b: (200, views.pn_view(cloud, self.regional(m))))
        add("PATCH", f"{VPC}/private-networks/{ID}", self.update_pn)
        add("DELETE", f"{VPC}/private-networks/{ID}", self.delete_pn)
        add("POST", VPC + "/vpcs", lambda m, q, b: (200, views.vpc_view(cloud, sw.create_vpc(m["region"], b))))
        add("GET", VPC + "/vpcs", self.list_vpcs)
        add("GET", f"{VPC}/vpcs/{ID}", lambda m, q, b: (200, views.vpc_view(cloud, self.vpc(m))))
        add("PATCH", f"{VPC}/vpcs/{ID}", self.update_vpc)
        add("DELETE", f"{VPC}/vpcs/{ID}", lambda m, q, b: (204, sw.delete_vpc(self.vpc(m))))
        add("GET", f"/ipam/v1/regions/{REGION}/ips", lambda m, q, b: (200, views.ipam_ips(cloud, q)))

    # -- handlers --
    def zonal(self, kind: str, resource: str, m: dict) -> dict:
        if kind == "ips" and not uuid_ok(m["id"]):  # the Instance API also finds an IP by its address
            found = [ip for ip in self.sw.state["ips"].values() if ip["address"] == m["id"] and ip["zone"] == m["zone"]]
            if found:
                return found[0]
        return self.sw.get(kind, resource, m["id"], m["zone"])

    def regional(self, m: dict) -> dict:
        pn = self.sw.get("private_networks", "private_network", m["id"])
        if pn["region"] != m["region"]:
            raise scw_not_found("private_network", m["id"])
        return pn

    def lister(self, kind: str, key: str, view: Any) -> Any:
        def handler(m: dict, q: dict, b: Any) -> tuple[int, dict]:
            items = [view(self.cloud, x) for x in self.sw.state[kind].values() if x.get("zone") == m["zone"]]
            page, total = paginate(filtered(items, q, FILTERS[kind]), q)
            return 200, {key: page, "total_count": total}

        return handler

    def delete(self, kind: str, resource: str) -> Any:
        def handler(m: dict, q: dict, b: Any) -> tuple[int, None]:
            self.sw.get(kind, resource, m["id"])
            del self.sw.state[kind][m["id"]]
            return 204, None

        return handler

    def products(self, *, availability: bool) -> Any:
        def handler(m: dict, q: dict, b: Any) -> tuple[int, dict]:
            if not any(m["zone"] in r["zones"] for r in self.sw.catalog["regions"].values()):
                raise scw_error(404, "unknown_resource", f"zone {m['zone']} is unknown")
            out, total = views.server_types(self.cloud, m["zone"], q, availability=availability)
            return 200, out

        return handler

    def get_project(self, m: dict, q: dict, b: Any) -> tuple[int, dict]:
        if m["id"] != self.sw.creds["SCW_DEFAULT_PROJECT_ID"]:
            # Any other id may be another organisation's project: 403, as for a key scoped to its own project
            # (the real API answers 404 for a deleted project of the caller's own organisation).
            raise scw_error(
                403,
                "permissions_denied",
                "insufficient permissions",
                details=[{"resource": "project", "action": "read"}],
            )
        return 200, views.project_view(self.cloud)

    def get_quotum(self, m: dict, q: dict, b: Any) -> tuple[int, dict]:
        known = (
            set(views.QUOTA_NAMES)
            | set(self.cloud.options()["quotas"])
            | {"instances_" + t.lower().replace("-", "_") for t in self.sw.catalog["instance_types"]}
        )
        if m["name"] not in known:
            raise scw_not_found("quotum", m["name"])
        return 200, views.quotum_view(self.cloud, m["name"])

    def list_projects(self, q: dict) -> dict:
        page, total = paginate(filtered([views.project_view(self.cloud)], q, FILTERS["projects"]), q)
        return {"projects": page, "total_count": total}

    def list_ssh_keys(self, m: dict, q: dict, b: Any) -> tuple[int, dict]:
        keys = [views.ssh_key_view(self.cloud, k) for k in self.sw.state["ssh_keys"].values()]
        page, total = paginate(filtered(keys, q, FILTERS["ssh_keys"]), q)
        return 200, {"ssh_keys": page, "total_count": total}

    def update_ssh_key(self, m: dict, q: dict, b: dict) -> tuple[int, dict]:
        key = self.sw.get("ssh_keys", "ssh_key", m["id"])
        for field in ("name", "disabled"):
            if b.get(field) is not None:
                key[field] = b[field]
        key["updated_at"] = now()
        return 200, views.ssh_key_view(self.cloud, key)

    def update_ip(self, m: dict, q: dict, b: dict) -> tuple[int, dict]:
        ip = self.zonal("ips", "instance_ip", m)
        if b.get("tags") is not None:
            ip["tags"] = b["tags"]
        if "server" in b:
            if b["server"]:
                self.sw.get("servers", "instance_server", b["server"], m["zone"])
            ip["server_id"] = b["server"] or None
        return 200, {"ip": views.ip_view(self.cloud, ip)}

    def delete_ip(self, m: dict, q: dict, b: Any) -> tuple[int, None]:
        ip = self.zonal("ips", "instance_ip", m)
        if ip.get("server_id") in self.sw.state["servers"]:
            raise in_use("the IP is attached to a server; detach it first")
        del self.sw.state["ips"][ip["id"]]
        return 204, None

    def update_sg(self, m: dict, q: dict, b: dict) -> tuple[int, dict]:
        sg = self.zonal("security_groups", "instance_security_group", m)
        self.sw.update_sg(sg, b)
        return 200, {"security_group": views.sg_view(self.cloud, sg)}

    def delete_sg(self, m: dict, q: dict, b: Any) -> tuple[int, None]:
        sg = self.zonal("security_groups", "instance_security_group", m)
        if any(s.get("security_group_id") == sg["id"] for s in self.sw.state["servers"].values()):
            raise in_use("group is in use. you cannot delete it.")
        del self.sw.state["security_groups"][sg["id"]]
        return 204, None

    def list_rules(self, m: dict, q: dict, b: Any) -> tuple[int, dict]:
        sg = self.zonal("security_groups", "instance_security_group", m)
        page, total = paginate(sg["rules"], q)
        return 200, {"rules": page, "total_count": total}

    def set_rules(self, m: dict, q: dict, b: dict) -> tuple[int, dict]:
        sg = self.zonal("security_groups", "instance_security_group", m)
        return 200, {"rules": self.sw.set_rules(sg, b.get("rules") or [])}

    def add_rule(self, m: dict, q: dict, b: dict) -> tuple[int, dict]:
        sg = self.zonal("security_groups", "instance_security_group", m)
        rules = [*sg["rules"], b]
        return 201, {"rule": self.sw.set_rules(sg, rules)[-1]}

    def delete_rule(self, m: dict, q: dict, b: Any) -> tuple[int, None]:
        sg = self.zonal("security_groups", "instance_security_group", m)
        if not any(r["id"] == m["rule"] for r in sg["rules"]):
            raise scw_not_found("security_group_rule", m["rule"])
        self.sw.set_rules(sg, [r for r in sg["rules"] if r["id"] != m["rule"]])
        return 204, None

    def list_servers(self, m: dict, q: dict, b: Any) -> tuple[int, dict]:
        items = [views.server_view(self.cloud, s) for s in self.sw.state["servers"].values() if s["zone"] == m["zone"]]
        items = filtered(items, q, FILTERS["servers"])
        networks = set(values(q, "private_network") + values(q, "private_networks"))
        if networks:
            items = [s for s in items if networks & {n["private_network_id"] for n in s["private_nics"]}]
        if q.get("with_ip"):
            items = [s for s in items if any(ip["address"] == q["with_ip"] for ip in s["public_ips"])]
        if q.get("without_ip", "").lower() == "true":
            items = [s for s in items if not s["public_ips"]]
        if q.get("private_nic_mac_address"):
            items = [s for s in items if q["private_nic_mac_address"] in {n["mac_address"] for n in s["private_nics"]}]
        page, total = paginate(items, q)
        return 200, {"servers": page, "total_count": total}

    def update_server(self, m: dict, q: dict, b: dict) -> tuple[int, dict]:
        server = self.zonal("servers", "instance_server", m)
        self.sw.update_server(server, b)
        return 200, {"server": views.server_view(self.cloud, server)}

    def delete_server(self, m: dict, q: dict, b: Any) -> tuple[int, None]:
        self.sw.delete_server(self.zonal("servers", "instance_server", m))
        return 204, None

    def get_user_data(self, m: dict, q: dict, b: Any) -> tuple[int, Any]:
        # What the server's host wrote through the metadata API is there too (swarmwiz.lab.metadata).
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
        return 201, {"private_nic": views.nic_view(self.cloud, self.sw.create_nic(server, b))}

    def list_nics(self, m: dict, q: dict, b: Any) -> tuple[int, dict]:
        server = self.zonal("servers", "instance_server", m)
        nics = [
            views.nic_view(self.cloud, n)
            for n in self.sw.state["private_nics"].values()
            if n["server_id"] == server["id"]
        ]
        return 200, {"private_nics": nics, "total_count": len(nics)}

    def _nic(self, m: dict) -> dict:
        server = self.zonal("servers", "instance_server", m)
        nic = self.sw.state["private_nics"].get(m["nic"])
        if nic is None or nic["server_id"] != server["id"]:
            raise scw_not_found("instance_private_nic", m["nic"])
        return nic

    def get_nic(self, m: dict, q: dict, b: Any) -> tuple[int, dict]:
        return 200, {"private_nic": views.nic_view(self.cloud, self._nic(m))}

    def delete_nic(self, m: dict, q: dict, b: Any) -> tuple[int, None]:
        server = self.zonal("servers", "instance_server", m)
        nic = self.sw.state["private_nics"].get(m["nic"])
        if nic is None or nic["server_id"] != server["id"]:
            raise scw_not_found("instance_private_nic", m["nic"])
        del self.sw.state["private_nics"][m["nic"]]
        return 204, None

    def vpc(self, m: dict) -> dict:
        vpc = self.sw.get("vpcs", "vpc", m["id"])
        if vpc["region"] != m["region"]:
            raise scw_not_found("vpc", m["id"])
        return vpc

    def list_vpcs(self, m: dict, q: dict, b: Any) -> tuple[int, dict]:
        items = [views.vpc_view(self.cloud, v) for v in self.sw.vpcs(m["region"])]
        page, total = paginate(filtered(items, q, FILTERS["vpcs"]), q)
        return 200, {"vpcs": page, "total_count": total}

    def update_vpc(self, m: dict, q: dict, b: dict) -> tuple[int, dict]:
        vpc = self.vpc(m)
        for field in ("name", "tags"):
            if b.get(field) is not None:
                vpc[field] = b[field]
        vpc["updated_at"] = now()
        return 200, views.vpc_view(self.cloud, vpc)

    def list_pns(self, m: dict, q: dict, b: Any) -> tuple[int, dict]:
        items = [
            views.pn_view(self.cloud, p)
            for p in self.sw.state["private_networks"].values()
            if p["region"] == m["region"]
        ]
        page, total = paginate(filtered(items, q, FILTERS["private_networks"]), q)
        return 200, {"private_networks": page, "total_count": total}

    def update_pn(self, m: dict, q: dict, b: dict) -> tuple[int, dict]:
        pn = self.regional(m)
        for field in ("name", "tags"):
            if b.get(field) is not None:
                pn[field] = b[field]
        pn["updated_at"] = now()
        return 200, views.pn_view(self.cloud, pn)

    def delete_pn(self, m: dict, q: dict, b: Any) -> tuple[int, None]:
        pn = self.regional(m)
        if any(n["pn_id"] == pn["id"] for n in self.sw.state["private_nics"].values()):
            raise in_use("private network is in use")
        del self.sw.state["private_networks"][pn["id"]]
        return 204, None
