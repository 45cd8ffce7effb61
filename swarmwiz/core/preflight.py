"""Pre-flight checks run before anything is created: the key's permission sets, the project's quotas, and the DNS
names swarmwiz will write (each refusal is one sentence naming what is missing and the way out)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from swarmwiz.core.api.inventory import DnsRecord, owns_comment, owns_tags
from swarmwiz.core.errors import ApiError, ApiUnreachable, InputError
from swarmwiz.core.workspace import OWNER_RE

if TYPE_CHECKING:
    from swarmwiz.core.api.clients import ApiClients
    from swarmwiz.core.spec import ClusterSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Need:
    """One permission set a deploy needs, the cheap read that proves the key has (at least read) access, and why."""

    permission_set: str
    why: str
    probe: Callable[[ApiClients, str, str, str], object]


def _servers(api: ApiClients, project: str, zone: str, region: str) -> object:
    return api.instance().list_servers(zone=zone, project=project, per_page=1)


def _private_networks(api: ApiClients, project: str, zone: str, region: str) -> object:
    return api.vpc().list_private_networks(region=region, project_id=project, page_size=1)


def _ipam(api: ApiClients, project: str, zone: str, region: str) -> object:
    from scaleway.ipam.v1 import IpamV1API

    return api.scaleway(IpamV1API).list_i_ps(region=region, project_id=project, page_size=1)


def _ssh_keys(api: ApiClients, project: str, zone: str, region: str) -> object:
    return api.iam().list_ssh_keys(project_id=project, page_size=1)


# The names are Scaleway's IAM permission sets; a key holding AllProductsFullAccess passes every probe.
NEEDS = (
    Need("InstancesFullAccess", "needed to create the servers, their IPs and security group", _servers),
    Need("VPCFullAccess", "needed to create the cluster's private network", _private_networks),
    Need("IPAMReadOnly", "needed to read the nodes' private addresses", _ipam),
    Need("SSHKeysFullAccess", "needed to register the cluster's SSH key", _ssh_keys),
)


def missing_permissions(api: ApiClients, project: str, zone: str, region: str) -> list[Need]:
    """The permission sets the key lacks, each proved by a 403 on a cheap read (other failures raise)."""
    missing = []
    for need in NEEDS:
        try:
            need.probe(api, project, zone, region)
        except ApiUnreachable:
            raise
        except ApiError as exc:
            if exc.status != 403:
                raise
            missing.append(need)
    return missing


def permissions_sentence(missing: list[Need]) -> str:
    parts = [f"{n.permission_set} ({n.why})" for n in missing]
    listing = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    sets = "this permission set" if len(parts) == 1 else "these permission sets"
    return (
        f"The Scaleway API key lacks {listing}: add {sets} to the key's IAM policy for the project; nothing was "
        "created."
    )


# -- quotas -------------------------------------------------------------------------------------------------------
def type_quotum(commercial_type: str) -> str:
    """The IAM quotum of one server type: DEV1-S -> instances_dev1_s."""
    return "instances_" + commercial_type.lower().replace("-", "_")


def check_quotas(api: ApiClients, spec: ClusterSpec, owner_id: str | None, organization_id: str | None) -> list[str]:
    """Refuse (InputError) when the cluster would go over a quota; returns warnings (quotas not readable)."""

    try:
        organization = organization_id or _organization(api)
        quotas = _quotas(api, organization)
    except ApiUnreachable:
        raise
    except ApiError as exc:
        if exc.status not in (401, 403):
            raise
        return [
            "The Scaleway project's quotas could not be read (the key has no organisation-level IAM read); the "
            "servers and IPs the cluster needs were not checked against them."
        ]
    from swarmwiz.core.catalog import bundled

    servers, ips = [], []
    # Quotas count the whole region's servers, not only the cluster's zones.
    for zone in sorted(set(spec.zones) | set(bundled().zones_of(spec.region))):
        servers += api.instance().list_servers_all(zone=zone)
        ips += api.instance().list_ips_all(zone=zone)
    ours = [s for s in servers if owner_id and owns_tags(s.tags, spec.name, owner_id)]
    ours_ips = [i for i in ips if owner_id and owns_tags(i.tags, spec.name, owner_id)]
    wanted = Counter({spec.managers.type.upper(): 0, spec.workers.type.upper(): 0})
    wanted[spec.managers.type.upper()] += spec.managers.count
    wanted[spec.workers.type.upper()] += spec.workers.count
    have_ours = Counter(s.commercial_type.upper() for s in ours)
    have_all = Counter(s.commercial_type.upper() for s in servers)
    checks = [
        (
            "instances",
            "servers",
            len(servers),
            max(0, spec.node_count - len(ours)),
        ),
        (
            "ip_routed_ipv4",
            "routed IPv4 addresses",
            sum(str(i.type_) == "routed_ipv4" for i in ips),
            max(0, spec.node_count - len(ours_ips)),
        ),
    ]
    for kind, count in wanted.items():
        checks.append((type_quotum(kind), f"{kind} servers", have_all[kind], max(0, count - have_ours[kind])))
    for name, what, current, more in checks:
        limit = quotas.get(name)
        if limit is not None and more and current + more > limit:
            raise InputError(
                f"The Scaleway quota {name} allows {limit} {what} and the project has {current}: this cluster needs "
                f"{more} more, {current + more - limit} over the quota; ask Scaleway to raise it (console: "
                "Organization, Quotas) or make the cluster smaller; nothing was created."
            )
    return []


def _organization(api: ApiClients) -> str:
    from scaleway.account.v3 import AccountV3ProjectAPI

    return api.scaleway(AccountV3ProjectAPI).get_project(project_id=api.project).organization_id


def _quotas(api: ApiClients, organization: str) -> dict[str, int]:
    """{quotum name: limit}; unlimited quota are left out."""
    result = {}
    for quotum in api.iam().list_quota_all(organization_id=organization):
        if quotum.limit is not None and not quotum.unlimited:
            result[quotum.name] = int(quotum.limit)
    return result


# -- DNS ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DnsPlan:
    """The records in the way at the names the cluster will write (all to be replaced, by the user's choice)."""

    names: list[str]
    in_the_way: list[DnsRecord] = field(default_factory=list)


def dns_names(spec: ClusterSpec) -> list[str]:
    return [f"*.{spec.dns_name}"] + ([spec.dns_name] if spec.apex else [])


def other_workspace(record: DnsRecord) -> tuple[str, str] | None:
    """(cluster name, owner id) when the record is a swarmwiz cluster's with an owner id (`swarmwiz:NAME:OWNER:NODE`):
    it belongs to whichever workspace holds that owner id, never to anyone else to delete."""
    parts = (record.comment or "").split(":")
    if len(parts) >= 4 and parts[0] == "swarmwiz" and OWNER_RE.fullmatch(parts[2]):
        return parts[1], parts[2]
    return None


def check_dns(records: list[DnsRecord], spec: ClusterSpec, owner_id: str | None) -> DnsPlan:
    """Records at the cluster's names that are not its own: refused (InputError) unless dns.replace_existing;
    another swarmwiz workspace's records are refused even then (they are that cluster's, live)."""
    names = dns_names(spec)
    in_the_way = [r for r in records if r.name.lower() in names and not owns_comment(r.comment, spec.name, owner_id)]
    claimed = [(r, other) for r in in_the_way if (other := other_workspace(r))]
    if claimed:
        record, (cluster, owner) = claimed[0]
        raise InputError(
            f"dns: {record.name} ({record.type} -> {record.content}) belongs to swarmwiz cluster {cluster!r} of "
            f"another workspace (owner id {owner}), which swarmwiz never replaces: set dns.subdomain (e.g. "
            f'"{spec.name}" for *.{spec.name}.{spec.domain}) to give this cluster names of its own, or destroy that '
            "cluster from its own workspace; nothing was created",
            field="dns.subdomain",
        )
    if in_the_way and not spec.replace_existing:
        first = in_the_way[0]
        more = f" (and {len(in_the_way) - 1} more records there)" if len(in_the_way) > 1 else ""
        raise InputError(
            f"dns: the zone already has the record {first.type} {first.name} -> {first.content}{more}, which is not "
            f'this cluster\'s; swarmwiz will not share {first.name} with it: set dns.subdomain (e.g. "apps" for '
            f"*.apps.{spec.domain}), or replace it with dns.replace_existing = true (or deploy --replace-dns); "
            "nothing was created",
            field="dns.subdomain",
        )
    return DnsPlan(names, in_the_way)


def describe_record(record: DnsRecord) -> str:
    return f"{record.type} {record.name} -> {record.content}"


def delete_records(api: ApiClients, records: list[DnsRecord]) -> None:
    cf = api.cloudflare()
    for record in records:
        with api.cf_errors(f"deleting the DNS record {describe_record(record)}"):
            cf.dns.records.delete(record.id, zone_id=record.zone_id)
