"""The cluster's place on the private side: which VPC it joins and which free /22 its private network takes."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from swarmwiz.core.errors import InputError

VPC_NAME = "swarmwiz"
VPC_TAG = "swarmwiz"
PICK_PREFIX = 22
# Searched in this order: the 172.16.0.0/12 block first (the historical default lives there), then 10.0.0.0/8.
POOLS = (ipaddress.IPv4Network("172.16.0.0/12"), ipaddress.IPv4Network("10.0.0.0/8"))


@dataclass(frozen=True)
class NetworkChoice:
    """The VPC (as Terraform takes it: "region/uuid") and the private network's IPv4 subnet.

    `vpc_id` is None only in a preview (plan) of a project that has no usable VPC yet: the deploy creates it."""

    vpc_id: str | None
    private_subnet: str

    @property
    def vpc_to_create(self) -> bool:
        return self.vpc_id is None

    def tfvars(self) -> dict[str, str | None]:
        return {"vpc_id": self.vpc_id, "private_subnet": self.private_subnet}


def free_subnet(taken: list[ipaddress.IPv4Network]) -> str:
    """The first /22 of POOLS that overlaps none of `taken`."""
    for pool in POOLS:
        for candidate in pool.subnets(new_prefix=PICK_PREFIX):
            if not any(candidate.overlaps(net) for net in taken):
                return str(candidate)
    raise InputError("network.private_subnet: no free /22 is left in 172.16.0.0/12 or 10.0.0.0/8 of the VPC")


def _is_ours(pn: Any, cluster: str, owner_id: str | None) -> bool:
    """Whether a private network is this cluster's own (tags checked here: a server-side filter proves nothing)."""
    tags = set(pn.tags or [])
    return bool(owner_id) and {f"swarmwiz-cluster={cluster}", f"swarmwiz-owner={owner_id}"} <= tags


def _vpc(vpc_api: Any, region: str, project: str | None, *, create: bool) -> Any:
    """The project's default VPC, else swarmwiz's own (tagged and named swarmwiz), created once per project+region
    (None when there is neither and `create` is false)."""
    # The project filter is the server's; a VPC of another project is never used, whatever it returned.
    listed = vpc_api.list_vp_cs_all(region=region, project_id=project)
    vpcs = [v for v in listed if not project or v.project_id == project]
    for vpc in vpcs:
        if vpc.is_default:
            return vpc
    for vpc in vpcs:
        if vpc.name == VPC_NAME and VPC_TAG in (vpc.tags or []):
            return vpc
    if not create:
        return None
    return vpc_api.create_vpc(
        region=region, project_id=project, name=VPC_NAME, tags=[VPC_TAG], enable_routing=True, enable_transitivity=False
    )


def choose(
    api: Any,
    region: str,
    cluster: str,
    owner_id: str | None,
    *,
    pinned: str | None,
    stored: dict[str, str | None] | None,
    create: bool = True,
) -> NetworkChoice:
    """The VPC and subnet for this cluster; `pinned` (cluster.toml) wins, then `stored` (an earlier deploy), then
    the first free /22. A pinned subnet that overlaps another private network of the VPC is refused here, before
    anything is created. Creates swarmwiz's VPC when the project has no default VPC and none of ours yet, unless
    `create` is false (a plan creates nothing: the choice then has no vpc_id and every subnet is free)."""
    vpc_api = api.vpc()
    project = api.project or None
    if stored and stored.get("vpc_id") and stored.get("private_subnet") and not pinned:
        return NetworkChoice(stored["vpc_id"], stored["private_subnet"])  # a re-deploy keeps its private network
    vpc = _vpc(vpc_api, region, project, create=create)
    if vpc is None:
        subnet = str(ipaddress.IPv4Network(pinned)) if pinned else (stored or {}).get("private_subnet")
        return NetworkChoice(None, subnet or free_subnet([]))  # a VPC of its own has no other network yet
    vpc_id = f"{region}/{vpc.id}"
    if stored and stored.get("private_subnet") and not pinned:
        # A workspace from before VPC choice: its network sits in the default VPC with the subnet of its tfvars.
        return NetworkChoice(vpc_id, stored["private_subnet"])
    others = []
    for pn in vpc_api.list_private_networks_all(region=region, project_id=project, vpc_id=vpc.id):
        if pn.vpc_id != vpc.id or _is_ours(pn, cluster, owner_id):
            continue
        for subnet in pn.subnets or []:
            net = ipaddress.ip_network(str(subnet.subnet), strict=False)
            if net.version == 4:
                others.append((net, pn.name))
    if pinned:
        net = ipaddress.IPv4Network(pinned)
        for other, name in others:
            if net.overlaps(other):
                raise InputError(
                    f"network.private_subnet: {pinned} overlaps {other} of private network {name!r} in the same "
                    "VPC; choose a range that overlaps no other private network, or leave private_subnet out "
                    "so swarmwiz picks a free /22"
                )
        return NetworkChoice(vpc_id, str(net))
    return NetworkChoice(vpc_id, free_subnet([net for net, _ in others]))
