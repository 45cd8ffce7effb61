"""What the cloud holds of one cluster, read through the SDKs; ownership is proved here, on the client.

An object belongs to a cluster only when it carries both the cluster's name and the workspace's owner id:
Scaleway tags `swarmwiz-cluster=NAME` and `swarmwiz-owner=OWNER_ID`, a Cloudflare record comment
`swarmwiz:NAME:OWNER_ID:NODEKEY`, the IAM SSH key name `swarmwiz-NAME-OWNER_ID`. Server-side filters only narrow
what is fetched: whatever the server returned is checked again here (a server may ignore a filter; the lab did).
Nothing in this module deletes (see `cleanup`).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from swarmwiz.core.api.clients import ApiClients, cf_all
from swarmwiz.core.errors import ApiNotFound

log = logging.getLogger("swarmwiz.api")

CLUSTER_TAG = "swarmwiz-cluster="
OWNER_TAG = "swarmwiz-owner="


def cluster_tags(cluster: str, owner_id: str) -> list[str]:
    """The two tags that make a Scaleway object the cluster's own."""
    return [f"{CLUSTER_TAG}{cluster}", f"{OWNER_TAG}{owner_id}"]


def owns_tags(tags: Iterable[str] | None, cluster: str, owner_id: str | None) -> bool:
    return bool(owner_id) and set(cluster_tags(cluster, owner_id or "")) <= set(tags or ())


def owns_comment(comment: str | None, cluster: str, owner_id: str | None) -> bool:
    """`swarmwiz:NAME:OWNER_ID:NODEKEY` with exactly this name and owner id (a prefix match would take `demo2`)."""
    parts = (comment or "").split(":")
    return bool(owner_id) and len(parts) >= 4 and parts[:3] == ["swarmwiz", cluster, owner_id]


def ssh_key_name(cluster: str, owner_id: str) -> str:
    return f"swarmwiz-{cluster}-{owner_id}"


def names_cluster(tags: Iterable[str] | None, comment: str | None, cluster: str) -> bool:
    """Carries the cluster's name (tag or comment), whatever the owner: ours, another workspace's, or pre-owner."""
    parts = (comment or "").split(":")
    return f"{CLUSTER_TAG}{cluster}" in set(tags or ()) or (len(parts) >= 3 and parts[:2] == ["swarmwiz", cluster])


@dataclass(frozen=True)
class CloudObject:
    kind: str
    name: str
    id: str
    zone: str = ""
    parent: str = ""  # the Cloudflare zone id of a DNS record
    owner_id: str = ""  # set by `Inventory.cluster_objects` only when the object carries this owner id (proved)

    def describe(self) -> str:
        where = f" in {self.zone}" if self.zone else ""
        return f"{self.kind} {self.name} ({self.id}){where}"


@dataclass(frozen=True)
class DnsRecord:
    name: str
    type: str
    content: str
    id: str = ""
    comment: str = ""
    zone_id: str = ""


@dataclass(frozen=True)
class ClusterObjects:
    """What `Inventory.cluster_objects` found: `owned` (provably this workspace's: the only deletable ones) and
    `foreign` (they carry the cluster's name but not this owner id: another workspace's, or made before owner ids).
    `notes` say why nothing is deletable, or what could not be checked."""

    owned: list[CloudObject] = field(default_factory=list)
    foreign: list[CloudObject] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    owner_id: str | None = None

    @property
    def deletable(self) -> list[CloudObject]:
        return self.owned if self.owner_id else []


class Inventory:
    """Read-only queries: zones, DNS records, the catalogue, and a cluster's objects (ownership checked here)."""

    def __init__(self, api: ApiClients) -> None:
        self.api = api

    # -- Cloudflare ----------------------------------------------------------------------------------------------
    def zone_id(self, domain: str) -> str | None:
        """The id of the Cloudflare zone called `domain`, None when the token does not see it."""
        with self.api.cf_errors(f"listing the zone {domain}"):
            for zone in cf_all(self.api.cloudflare().zones.list(name=domain)):
                if zone.name == domain:  # the name filter is narrowing only: checked again here
                    return zone.id
        return None

    def dns_records(self, domain: str) -> list[DnsRecord]:
        """Every record of the zone `domain` (all pages); [] when the zone is not visible."""
        zone = self.zone_id(domain)
        if not zone:
            return []
        with self.api.cf_errors(f"listing the DNS records of {domain}"):
            return [
                DnsRecord(r.name, r.type, r.content or "", r.id, r.comment or "", zone)
                for r in cf_all(self.api.cloudflare().dns.records.list(zone_id=zone, per_page=100))
            ]

    # -- Scaleway catalogue -----------------------------------------------------------------------------------------
    def server_types(self, zone: str) -> dict:
        """{type: ServerType} offered in `zone`, every page."""
        return self._paged_map(lambda page: self.api.instance().list_servers_types(zone=zone, page=page, per_page=100))

    def server_availability(self, zone: str) -> dict[str, str]:
        """{type: "available"|"scarce"|"shortage"} in `zone`, every page."""
        raw = self._paged_map(
            lambda page: self.api.instance().get_server_types_availability(zone=zone, page=page, per_page=100)
        )
        return {name: str(getattr(v, "availability", None) or "unknown") for name, v in raw.items()}

    @staticmethod
    def _paged_map(fetch) -> dict:
        """Merge the `servers` maps of every page (the SDK's `*_all` helpers take lists, these answers are maps)."""
        merged: dict = {}
        page = 1
        while True:
            answer = fetch(page)
            merged.update(answer.servers or {})
            if not answer.servers or len(merged) >= int(answer.total_count or 0):
                return merged
            page += 1

    # -- a cluster's objects --------------------------------------------------------------------------------------
    def cluster_objects(
        self, cluster: str, owner_id: str | None, region: str, zones: Iterable[str], domain: str
    ) -> ClusterObjects:
        """Every object naming `cluster`, split into owned (it carries `owner_id` too) and foreign.

        With `owner_id` None (a workspace made before owner ids) nothing is owned, and `notes` says why.
        """
        found: list[tuple[CloudObject, bool]] = []  # (object, provably owned)
        notes: list[str] = []

        def tagged(obj: CloudObject, tags: Iterable[str] | None) -> None:
            if names_cluster(tags, None, cluster):
                found.append((obj, owns_tags(tags, cluster, owner_id)))

        project = self.api.project or None
        narrow = [f"{CLUSTER_TAG}{cluster}"]  # a server-side filter narrows the answer; it proves nothing
        instance = self.api.instance()
        for zone in zones:
            for s in instance.list_servers_all(zone=zone, project=project, tags=narrow):
                tagged(CloudObject("server", s.name, s.id, zone), s.tags)
            for ip in instance.list_ips_all(zone=zone, project=project, tags=narrow):
                tagged(CloudObject("ip", ip.address, ip.id, zone), ip.tags)
            for sg in instance.list_security_groups_all(zone=zone, project=project, tags=narrow):
                tagged(CloudObject("security group", sg.name, sg.id, zone), sg.tags)
            for kind, volumes in self._volumes(zone, project, narrow, notes):
                for v in volumes:
                    tagged(CloudObject(kind, v.name, v.id, zone), v.tags)
        for pn in self.api.vpc().list_private_networks_all(region=region, project_id=project, tags=narrow):
            tagged(CloudObject("private network", pn.name, pn.id, region), pn.tags)
        key_names = re.compile(rf"swarmwiz-{re.escape(cluster)}(-[0-9a-f]{{12}})?")  # legacy, or with an owner id
        for key in self.api.iam().list_ssh_keys_all(project_id=project):
            if key_names.fullmatch(key.name or ""):
                owned = bool(owner_id) and key.name == ssh_key_name(cluster, owner_id or "")
                found.append((CloudObject("ssh key", key.name, key.id), owned))
        for r in self.dns_records(domain):
            if names_cluster(None, r.comment, cluster):
                record = CloudObject("dns record", f"{r.name} {r.type} {r.content}", r.id, parent=r.zone_id)
                found.append((record, owns_comment(r.comment, cluster, owner_id)))
        if owner_id is None:
            notes.insert(
                0,
                f"The workspace of {cluster} has no owner id (it predates them), so no object in the cloud can be "
                "proved to be its own; swarmwiz deletes none of them.",
            )
        return ClusterObjects(
            owned=[dataclasses.replace(o, owner_id=owner_id or "") for o, mine in found if mine],
            foreign=[o for o, mine in found if not mine],
            notes=notes,
            owner_id=owner_id,
        )

    def _volumes(self, zone: str, project: str | None, tags: list[str], notes: list[str]):
        """Instance volumes, and Block Storage volumes (boot volumes of types without local storage outlive a
        terminate). An API that does not serve a listing (the lab has no volumes) is noted, not fatal."""
        from scaleway.block.v1alpha1 import BlockV1Alpha1API

        listings = (
            ("volume", lambda: self.api.instance().list_volumes_all(zone=zone, project=project, tags=tags)),
            (
                "block volume",
                lambda: self.api.scaleway(BlockV1Alpha1API).list_volumes_all(zone=zone, project_id=project, tags=tags),
            ),
        )
        for kind, listing in listings:
            try:
                yield kind, listing()
            except ApiNotFound:
                notes.append(f"{kind}s in {zone} were not checked: the Scaleway API there does not list them.")
