"""Pre-flight checks run before anything is created: the credentials, the key's permission sets, the project's
quotas, and the DNS names swarmwiz will write (each refusal is one sentence naming what is missing and the way out).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from swarmwiz.core import events as ev
from swarmwiz.core.api.inventory import DnsRecord, owns_comment, owns_tags
from swarmwiz.core.errors import ApiError, ApiUnreachable, CredentialError, InputError
from swarmwiz.core.workspace import OWNER_RE

if TYPE_CHECKING:
    from swarmwiz.core.api.clients import ApiClients
    from swarmwiz.core.api.inventory import Inventory
    from swarmwiz.core.spec import ClusterSpec
    from swarmwiz.core.target import Target

log = logging.getLogger(__name__)


def run(
    spec: ClusterSpec,
    target: Target,
    *,
    environment: Callable[[], Mapping[str, str]],
    cloud: Callable[[], Inventory],
    owner_id: str | None,
    replace_dns: Callable[[list[DnsRecord]], bool] | None = None,
) -> Generator[ev.Event, None, None]:
    """The credentials phase: credentials (with the key's permission sets, its write rights read once from IAM), the
    domain, quotas and DNS names, before anything exists; warnings arrive as Notices, refusals as exceptions.

    `environment` prepares the target and gives the run's environment; `cloud` the run's API client.
    `replace_dns` approves deleting records in the way (dns.replace_existing); None: only list them (plan).
    """
    from swarmwiz.core.credentials import validate_live

    yield ev.PhaseStarted(ev.Phase.CREDENTIALS)
    env = environment()
    # The write rights are checked below, where their warnings become notices: IAM is read once per pre-flight.
    validate_live(target.credentials(), target.endpoints(), domain=spec.domain, write_rights=False)
    if not cloud().zone_id(spec.domain):
        raise InputError(
            f"dns.domain: {spec.domain} is not a zone of the Cloudflare account; add it in Cloudflare first "
            "or choose one of the account's zones"
        )
    api = cloud().api  # validate_live already named any permission set the key cannot even read with
    for warning in check_write_rights(api, api.project):
        yield ev.Notice(ev.Phase.CREDENTIALS, warning)
    for warning in check_quotas(api, spec, owner_id, env.get("SCW_DEFAULT_ORGANIZATION_ID")):
        yield ev.Notice(ev.Phase.CREDENTIALS, warning)
    dns = check_dns(cloud().dns_records(spec.domain), spec, owner_id)
    if dns.in_the_way:
        listing = "; ".join(describe_record(r) for r in dns.in_the_way)
        if replace_dns is None:
            yield ev.Notice(ev.Phase.CREDENTIALS, f"dns.replace_existing: deploy will delete {listing}")
        elif not replace_dns(dns.in_the_way):
            raise InputError(
                f"dns: replacing {listing} was not confirmed; nothing was created",
                field="dns.replace_existing",
            )
        else:
            delete_records(api, dns.in_the_way)
            yield ev.Notice(ev.Phase.CREDENTIALS, f"deleted the DNS records in the cluster's way: {listing}")
    yield ev.PhaseFinished(ev.Phase.CREDENTIALS, message=f"credentials valid ({target.label})")


@dataclass(frozen=True)
class Need:
    """One permission set a deploy needs, the cheap read that proves the key has (at least read) access, why, and
    the sets that hold its rights (itself included); `write`: a read cannot prove it, the key's IAM rules must."""

    permission_set: str
    why: str
    probe: Callable[[ApiClients, str, str, str], object]
    granted_by: frozenset[str]
    write: bool


def _servers(api: ApiClients, project: str, zone: str, region: str) -> object:
    return api.instance().list_servers(zone=zone, project=project, per_page=1)


def _private_networks(api: ApiClients, project: str, zone: str, region: str) -> object:
    return api.vpc().list_private_networks(region=region, project_id=project, page_size=1)


def _ipam(api: ApiClients, project: str, zone: str, region: str) -> object:
    from scaleway.ipam.v1 import IpamV1API

    return api.scaleway(IpamV1API).list_i_ps(region=region, project_id=project, page_size=1)


def _ssh_keys(api: ApiClients, project: str, zone: str, region: str) -> object:
    return api.iam().list_ssh_keys(project_id=project, page_size=1)


# The names are Scaleway's IAM permission sets (docs: iam/reference-content/permission-sets): AllProductsFullAccess
# holds every product's rights, AllProductsReadOnly every product's reads; a ReadOnly set never allows a write.
ALL_WRITE, ALL_READ = "AllProductsFullAccess", "AllProductsReadOnly"
NEEDS = (
    Need(
        "InstancesFullAccess",
        "needed to create the servers, their IPs and security group",
        _servers,
        frozenset({"InstancesFullAccess", ALL_WRITE}),
        write=True,
    ),
    Need(
        "VPCFullAccess",
        "needed to create the cluster's private network",
        _private_networks,
        frozenset({"VPCFullAccess", ALL_WRITE}),
        write=True,
    ),
    Need(
        "IPAMReadOnly",
        "needed to read the nodes' private addresses",
        _ipam,
        frozenset({"IPAMReadOnly", "IPAMFullAccess", ALL_WRITE, ALL_READ}),
        write=False,
    ),
    Need(
        "SSHKeysFullAccess",
        "needed to register the cluster's SSH key",
        _ssh_keys,
        frozenset({"SSHKeysFullAccess", "ProjectManager", ALL_WRITE}),
        write=True,
    ),
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


# -- write rights, from the key's IAM policies --------------------------------------------------------------------
@dataclass(frozen=True)
class Grant:
    """One IAM rule as the check needs it: its permission sets and where they apply (the projects it names, or
    the whole organisation: every project in it)."""

    permission_sets: frozenset[str]
    project_ids: frozenset[str] = frozenset()
    organization_wide: bool = False

    def covers(self, project: str) -> bool:
        return self.organization_wide or project in self.project_ids


OWNER = None  # what key_grants answers for an Organization Owner's key: every right, without any policy


def unmet(grants: list[Grant] | None, project: str, needs: tuple[Need, ...] = NEEDS) -> list[Need]:
    """The write needs that no rule covering `project` grants (`grants` None: the Owner, who has every right).
    Read needs are left to the read probes, which prove them exactly."""
    if grants is OWNER:
        return []
    held: set[str] = set()
    for grant in grants:
        if grant.covers(project):
            held |= grant.permission_sets
    return [n for n in needs if n.write and not held & n.granted_by]


def key_grants(api: ApiClients) -> list[Grant] | None:
    """The rules of every policy that applies to the calling key (its user's or application's, and its groups'),
    or OWNER for an Organization Owner's key. ApiError (403 without IAM read) propagates."""
    from scaleway.iam.v1alpha1 import UserType

    iam = api.iam()
    key = iam.get_api_key(access_key=api.credentials.value("scw_access_key"))
    if key.user_id:
        user = iam.get_user(user_id=key.user_id)
        if str(user.type_) == UserType.OWNER.value:
            return OWNER
        organization, principal = user.organization_id, {"user_ids": [key.user_id]}
    elif key.application_id:
        organization = iam.get_application(application_id=key.application_id).organization_id
        principal = {"application_ids": [key.application_id]}
    else:
        return []
    pid = key.user_id or key.application_id
    # Each answer is checked here too: a group or policy counts only when it names this principal.
    groups = [
        g.id
        for g in iam.list_groups_all(organization_id=organization, **principal)
        if pid in (g.user_ids or [])
        or pid in (g.application_ids or [])
        or (g.all_users if key.user_id else g.all_applications)
    ]
    policies = [
        p
        for p in iam.list_policies_all(organization_id=organization, **principal)
        if pid in (p.user_id, p.application_id)
    ]
    if groups:
        policies += [
            p for p in iam.list_policies_all(organization_id=organization, group_ids=groups) if p.group_id in groups
        ]
    grants = []
    for policy in {p.id: p for p in policies}.values():
        for rule in iam.list_rules_all(policy_id=policy.id):
            grants.append(
                Grant(
                    frozenset(rule.permission_set_names or []),
                    frozenset(rule.project_ids or []),
                    organization_wide=bool(rule.organization_id) and rule.organization_id == organization,
                )
            )
    return grants


def check_write_rights(api: ApiClients, project: str) -> list[str]:
    """Refuse (CredentialError, as a failed read probe is; nothing created) a key whose IAM policies do not grant
    a FullAccess set a deploy needs
    (a key holding only InstancesReadOnly passes every read probe, then fails half-way through `terraform apply`);
    returns a warning when the key cannot read IAM, so its write rights are left unverified."""
    try:
        grants = key_grants(api)
    except ApiUnreachable:
        raise
    except ApiError as exc:
        if exc.status not in (401, 403):
            raise
        sets = ", ".join(n.permission_set for n in NEEDS if n.write)
        return [
            "The Scaleway API key's write rights could not be verified (it may not read IAM): the deploy goes on, "
            f"and fails half-way if the key lacks one of {sets}; give the key IAMReadOnly (organisation-wide) to "
            "have them checked before anything is created."
        ]
    if grants is not OWNER and not any(g.covers(project) for g in grants):
        # The read probes passed, so something grants this project that the rules do not show (an Owner whose type
        # was not reported, say): no ground to refuse on.
        return [
            f"The Scaleway API key's IAM policies show no rule for the project {project}, though the key can read "
            "it; its write rights could not be verified, and the deploy goes on."
        ]
    missing = unmet(grants, project)
    if missing:
        raise CredentialError(permissions_sentence(missing))
    return []


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
