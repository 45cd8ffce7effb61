"""Scaleway answers: the JSON the real API gives for each stored resource (IAM, catalogue, Instance, VPC, IPAM)."""

from __future__ import annotations

import uuid

from swarmwiz.lab.api.cloud import Filters, LabCloud, filtered, paginate, values
from swarmwiz.lab.api.scaleway import iam, power


def api_key_view(cloud: LabCloud, access_key: str) -> dict:
    # The default key is the organisation Owner's (user_id), a minted one an application's (see scaleway.iam).
    owner = iam.principal(cloud, access_key)
    return {
        "access_key": access_key,
        "secret_key": None,
        "description": "swarmwiz lab key" if "user_id" in owner else "swarmwiz lab key (restricted)",
        "default_project_id": cloud.creds["SCW_DEFAULT_PROJECT_ID"],
        "editable": True,
        "deletable": True,
        "managed": False,
        "creation_ip": "127.0.0.1",
        "created_at": cloud.created,
        "updated_at": cloud.created,
        "expires_at": None,
        **owner,
    }


def project_view(cloud: LabCloud) -> dict:
    return {
        "id": cloud.creds["SCW_DEFAULT_PROJECT_ID"],
        "name": "default",
        "organization_id": cloud.organization,
        "status": "active",
        "description": "swarmwiz lab project",
        "created_at": cloud.created,
        "updated_at": cloud.created,
    }


def ssh_key_view(cloud: LabCloud, key: dict) -> dict:
    return {**key, "organization_id": cloud.organization}


def server_types(cloud: LabCloud, zone: str, query: dict, *, availability: bool) -> tuple[dict, int]:
    offered = sorted((name, t) for name, t in cloud.catalog["instance_types"].items() if zone in t["per_zone"])
    page, total = paginate(offered, query)
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
            "gpu_info": {"gpu_manufacturer": "NVIDIA", "gpu_name": name.split("-")[0], "gpu_memory": 0}
            if t.get("gpu")
            else None,
            "mig_profile": None,
            "scratch_storage_max_volumes_count": 0,
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
                "hot_snapshots_local_volume": not block_only(name),
                "placement_groups": True,
                "boot_types": ["local", "rescue"],
                "max_file_systems": 0,
                "private_network": t.get("private_networks_max", 8),
            },
            "scratch_storage_max_size": None,
            "block_bandwidth": None,
        }
    return {"servers": out, "total_count": total}, total


def ip_view(cloud: LabCloud, ip: dict) -> dict:
    server = cloud.state["servers"].get(ip.get("server_id") or "")
    gateway = str(cloud.net.public_gateway) if cloud.net is not None else "198.51.100.1"
    return {
        "id": ip["id"],
        "address": ip["address"],
        "prefix": f"{ip['address']}/32",
        "reverse": None,
        "server": {"id": server["id"], "name": server["name"]} if server else None,
        "organization": cloud.organization,
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


def sg_view(cloud: LabCloud, sg: dict) -> dict:
    servers = [
        {"id": s["id"], "name": s["name"]}
        for s in cloud.state["servers"].values()
        if s.get("security_group_id") == sg["id"]
    ]
    return {
        "id": sg["id"],
        "name": sg["name"],
        "description": sg.get("description") or "",
        "enable_default_security": sg.get("enable_default_security", True),
        "inbound_default_policy": sg["inbound_default_policy"],
        "outbound_default_policy": sg["outbound_default_policy"],
        "organization": cloud.organization,
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


def _vpc_api_fields(cloud: LabCloud, item: dict) -> dict:
    """The fields every resource of the VPC API (private networks, VPCs) carries, in the API's order."""
    return {
        "id": item["id"],
        "name": item["name"],
        "organization_id": cloud.organization,
        "project_id": item["project_id"],
        "region": item["region"],
        "tags": item["tags"],
        "created_at": item["created_at"],
        "updated_at": item["updated_at"],
    }


def pn_view(cloud: LabCloud, pn: dict) -> dict:
    subnets = [
        {
            "id": subnet_id,
            "created_at": pn["created_at"],
            "updated_at": pn["updated_at"],
            "subnet": subnet,
            "project_id": pn["project_id"],
            "private_network_id": pn["id"],
            "region": pn["region"],
            "vpc_id": pn["vpc_id"],
        }
        for subnet_id, subnet in ((pn["subnet_id"], pn["subnet"]), (pn.get("subnet6_id"), pn.get("subnet6")))
        if subnet
    ]
    return {
        **_vpc_api_fields(cloud, pn),
        "subnets": subnets,
        "vpc_id": pn["vpc_id"],
        "dhcp_enabled": True,
        "has_s3_integration": False,
        "default_route_propagation_enabled": False,
    }


def vpc_view(cloud: LabCloud, vpc: dict) -> dict:
    return {
        **_vpc_api_fields(cloud, vpc),
        "is_default": vpc["is_default"],
        "private_network_count": sum(p["vpc_id"] == vpc["id"] for p in cloud.state["private_networks"].values()),
        "routing_enabled": vpc.get("routing_enabled", True),
        "custom_routes_propagation_enabled": True,
        "s3_integration_enabled": False,
        "transitivity_enabled": False,
    }


def nic_view(cloud: LabCloud, nic: dict) -> dict:
    return {
        "id": nic["id"],
        "server_id": nic["server_id"],
        "private_network_id": nic["pn_id"],
        "mac_address": nic["mac"],
        "ipam_ip_ids": [i for i in (nic.get("ip6_id"), nic.get("ip_id")) if i],
        "modification_date": nic["creation_date"],
        "state": "available",
        "tags": nic.get("tags") or [],
        "creation_date": nic["creation_date"],
        "zone": nic["zone"],
    }


def _ipam_entries(cloud: LabCloud, nic: dict) -> list[dict]:
    """The IPAM addresses of one private NIC, newest first: its IPv6 one, then its IPv4 one (as recorded)."""
    pn = cloud.state["private_networks"].get(nic["pn_id"], {})
    server = cloud.state["servers"].get(nic["server_id"], {})
    common = {
        "project_id": pn.get("project_id"),
        "created_at": nic["creation_date"],
        "updated_at": nic["creation_date"],
        "region": pn.get("region"),
        "zone": None,
        "resource": {
            "type": "instance_private_nic",
            "id": nic["id"],
            "mac_address": nic["mac"].upper(),
            "name": server.get("name"),
        },
        "tags": [],
        "reverses": [],
        # Not in the real answer (its source names the subnet only); kept for the private_network_id filter.
        "_vpc_id": pn.get("vpc_id"),
        "_server_id": nic["server_id"],
    }
    v4 = {
        **common,
        "id": nic.get("ip_id") or str(uuid.uuid5(uuid.NAMESPACE_URL, nic["id"])),
        "address": f"{nic['address']}/{nic['prefixlen']}",
        "is_ipv6": False,
        "source": {"subnet_id": pn.get("subnet_id"), "private_network_id": nic["pn_id"]},
    }
    if not nic.get("address6"):
        return [v4]
    v6 = {
        **common,
        "id": nic["ip6_id"],
        "address": f"{nic['address6']}/64",
        "is_ipv6": True,
        "source": {"subnet_id": pn.get("subnet6_id"), "private_network_id": nic["pn_id"]},
    }
    return [v6, v4]


IPAM_FILTERS: Filters = {
    "project_id": ("project_id", "eq"),
    "is_ipv6": ("is_ipv6", "bool"),
    "ip_ids": ("id", "in"),
    "tags": ("tags", "any"),
    "vpc_id": ("_vpc_id", "eq"),
}


def ipam_ips(cloud: LabCloud, query: dict) -> dict:
    """IPAM's list of addresses, with the filters of the real API (resource, network, project, family...)."""
    out = [ip for nic in cloud.state["private_nics"].values() for ip in _ipam_entries(cloud, nic)]
    out = filtered(out, query, IPAM_FILTERS)
    resources = set(values(query, "resource_id") + values(query, "resource_ids"))
    if resources:  # the provider asks with the server's id; the NIC's id works too
        out = [ip for ip in out if resources & {ip["resource"]["id"], ip["_server_id"]}]
    if query.get("private_network_id"):
        out = [ip for ip in out if ip["source"]["private_network_id"] == query["private_network_id"]]
    if query.get("organization_id") and query["organization_id"] != cloud.organization:
        out = []
    types = set(values(query, "resource_type") + values(query, "resource_types"))
    if types:
        out = [ip for ip in out if ip["resource"]["type"] in types]
    if query.get("mac_address"):
        out = [ip for ip in out if ip["resource"]["mac_address"].lower() == query["mac_address"].lower()]
    if query.get("resource_name"):
        out = [ip for ip in out if ip["resource"]["name"] == query["resource_name"]]
    if query.get("attached", "").lower() == "false":
        out = []  # every lab address belongs to a NIC
    out = [{k: v for k, v in ip.items() if not k.startswith("_")} for ip in out]
    page, total = paginate(out, query)
    return {"ips": page, "total_count": total}


# Families without local storage: their root volume is a block volume (sbs_volume) that outlives the server.
BLOCK_ONLY_FAMILIES = ("POP2", "PRO2", "PLAY2", "COPARM1")


def block_only(commercial_type: str) -> bool:
    return commercial_type.upper().startswith(BLOCK_ONLY_FAMILIES)


IMAGE_DATE = "2026-05-12T15:05:46.087080+00:00"


def _location(s: dict) -> dict:
    """Where a running server is placed (stable per server, as the real answer is while it runs)."""
    n = uuid.UUID(s["id"]).int
    return {
        "cluster_id": str(n % 97),
        "hypervisor_id": str(n % 997),
        "node_id": str(n % 89),
        "platform_id": "14",
        "zone_id": s["zone"],
    }


def server_volumes(cloud: LabCloud, s: dict) -> list[dict]:
    """The server's volumes, root first."""
    return sorted(
        (v for v in cloud.state["volumes"].values() if v.get("server_id") == s["id"]), key=lambda v: v["index"]
    )


def volume_view(cloud: LabCloud, v: dict) -> dict:
    server = cloud.state["servers"].get(v.get("server_id") or "")
    return {
        "id": v["id"],
        "name": v["name"],
        "boot": False,
        "creation_date": v["creation_date"],
        "modification_date": v["modification_date"],
        "export_uri": None,
        "organization": cloud.organization,
        "project": v["project"],
        "server": {"id": server["id"], "name": server["name"]} if server else None,
        "size": v["size"],
        "state": "available",
        "tags": [],
        "volume_type": v["volume_type"],
        "zone": v["zone"],
    }


def block_volume_view(cloud: LabCloud, v: dict) -> dict:
    """A Block Storage volume (the boot volume of a type without local storage) as /block/v1alpha1 gives it."""
    server = cloud.state["servers"].get(v.get("server_id") or "")
    references = (
        [
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, v["id"] + server["id"])),
                "product_resource_type": "instance_server",
                "product_resource_id": server["id"],
                "type": "exclusive",
                "status": "attached",
                "created_at": v["creation_date"],
            }
        ]
        if server
        else []
    )
    return {
        "id": v["id"],
        "name": v["name"],
        "type": "sbs_5k",
        "size": v["size"],
        "project_id": v["project"],
        "references": references,
        "created_at": v["creation_date"],
        "updated_at": v["modification_date"],
        "parent_snapshot_id": None,
        "status": "in_use" if server else "available",
        "tags": v.get("tags") or [],
        "zone": v["zone"],
        "specs": {"perf_iops": 5000, "class": "sbs"},
        "last_detached_at": v.get("detached_at"),
    }


def server_view(cloud: LabCloud, s: dict) -> dict:
    from swarmwiz.lab.api.scaleway.power import settle

    settle(s)  # a starting server is running once its boot timeline says so
    ips = [ip_view(cloud, ip) for ip in cloud.state["ips"].values() if ip.get("server_id") == s["id"]]
    nics = [nic_view(cloud, n) for n in cloud.state["private_nics"].values() if n["server_id"] == s["id"]]
    sg = cloud.state["security_groups"].get(s.get("security_group_id") or "")
    image_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"swarmwiz-lab-image:{s['image']}"))
    return {
        "id": s["id"],
        "name": s["name"],
        "organization": cloud.organization,
        "project": s["project"],
        "allowed_actions": power.ALLOWED_ACTIONS.get(s["state"], ["poweron", "backup"]),
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
            "creation_date": IMAGE_DATE,
            "modification_date": IMAGE_DATE,
            "default_bootscript": None,
            "from_server": "",
            "state": "available",
            "zone": s["zone"],
            "root_volume": {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"swarmwiz-lab-image-volume:{s['image']}")),
                "name": s["image"],
                "size": 10_000_000_000,
                "volume_type": "l_ssd",
            },
            "extra_volumes": {},
            "tags": [],
            "public": True,
            "organization": cloud.organization,
            "project": s["project"],
        },
        "protected": False,
        "private_ip": None,
        "public_ip": ips[0] if ips else None,
        "public_ips": ips,
        "mac_address": "de:00:00:00:00:01",
        "modification_date": s["modification_date"],
        "state": s["state"],
        "location": _location(s) if s["state"] == "running" else None,
        "ipv6": None,
        "boot_type": "local",
        "bootscript": None,
        "dns": f"{s['id']}.pub.instances.scw.cloud",
        "extra_networks": [],
        "volumes": {str(i): volume_view(cloud, v) for i, v in enumerate(server_volumes(cloud, s))},
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


QUOTA_NAMES = {
    "instances": "Instances",
    "ip_routed_ipv4": "Routed IPv4 flexible IPs",
}


def quotum_view(cloud: LabCloud, name: str) -> dict:
    """One IAM quotum: its limit from the lab's quotas option, else unlimited."""
    limit = cloud.options()["quotas"].get(name)
    pretty = QUOTA_NAMES.get(name) or name.replace("instances_", "Instances ").replace("_", "-").upper()
    return {
        "name": name,
        "pretty_name": pretty,
        "unit": "resource",
        "description": f"Number of {pretty} in the organization",
        "locality_type": "global",
        "limits": [],
        "limit": int(limit) if limit is not None else None,
        "unlimited": True if limit is None else None,
    }


def quota(cloud: LabCloud, query: dict) -> dict:
    names = sorted(set(QUOTA_NAMES) | set(cloud.options()["quotas"]))
    wanted = set(values(query, "quotum_names"))
    items = [quotum_view(cloud, n) for n in names if not wanted or n in wanted]
    page, total = paginate(items, query)
    return {"quota": page, "total_count": total}
