"""The only code that deletes cloud objects: those `Inventory.cluster_objects` proved to be the cluster's own.

Order: servers first (terminate is asynchronous: wait until they are gone, bounded), then what they used: DNS
records, IPs, security groups, volumes (those listed, and those the servers had attached: a block volume outlives
a terminate), private networks, and the SSH key last. Objects still in use (409/412) are retried, bounded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator

from swarmwiz.core.api.clients import ApiClients
from swarmwiz.core.api.inventory import CloudObject
from swarmwiz.core.errors import ApiError, ApiNotFound

log = logging.getLogger("swarmwiz.api")

DELETE_ORDER = ("server", "dns record", "ip", "security group", "volume", "block volume", "private network", "ssh key")
SERVER_GONE_TIMEOUT_S = 300.0
POLL_S = 2.0


class Cleanup:
    """Deletes objects of the cluster whose owner id is `owner_id`; refuses any object not proved to carry it."""

    def __init__(
        self,
        api: ApiClients,
        region: str,
        owner_id: str | None,
        *,
        server_timeout: float = SERVER_GONE_TIMEOUT_S,
        poll: float = POLL_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = api
        self.region = region
        self.owner_id = owner_id
        self.server_timeout = server_timeout
        self.poll = poll
        self._sleep = sleep

    def delete_all(self, objects: Iterable[CloudObject]) -> Iterator[CloudObject]:
        """Delete `objects` (from `Inventory.cluster_objects(...).owned`) in dependency order, yielding each when
        gone. Refuses at once (ApiError, before the first deletion) when any of them is not proved to carry this
        cleanup's owner id."""
        chosen = list(objects)
        strangers = [o for o in chosen if not self.owner_id or o.owner_id != self.owner_id]
        if strangers:
            why = (
                f"they do not carry its owner id {self.owner_id}" if self.owner_id else "its workspace has no owner id"
            )
            raise ApiError(
                f"Refusing to delete {len(strangers)} objects not provably this cluster's own ({why}): "
                + "; ".join(o.describe() for o in strangers)
                + "; nothing was deleted.",
                title="Not deleted",
            )
        return self._delete_in_order(chosen)

    def _delete_in_order(self, chosen: list[CloudObject]) -> Iterator[CloudObject]:
        servers = [o for o in chosen if o.kind == "server"]
        # Volumes attached to an owned server are its own too; a block volume outlives a terminate.
        attached = [v for server in servers for v in self._stop_server(server)]
        for server in servers:
            self._wait_gone(server)
            yield server
        listed = {o.id for o in chosen}
        rest = [o for o in chosen if o.kind != "server"] + [v for v in attached if v.id not in listed]
        order = {kind: i for i, kind in enumerate(DELETE_ORDER)}
        for obj in sorted(rest, key=lambda o: order.get(o.kind, len(order))):
            self._delete(obj)
            yield obj

    # -- servers --------------------------------------------------------------------------------------------------
    def _stop_server(self, obj: CloudObject) -> list[CloudObject]:
        """Terminate a running server (asynchronous), delete a stopped one (terminate needs a running server);
        returns its volumes, which are deleted after it is gone (local ones go with it: their 404 is fine)."""
        instance = self.api.instance()
        try:
            server = instance.get_server(server_id=obj.id, zone=obj.zone).server
            if server is not None and str(server.state) == "running":
                instance.server_action(server_id=obj.id, zone=obj.zone, action="terminate")
            else:
                instance.delete_server(server_id=obj.id, zone=obj.zone)
        except ApiNotFound:
            return []  # already gone
        volumes = (server.volumes or {}).values() if server is not None else []
        return [
            CloudObject(
                "block volume" if str(v.volume_type) == "sbs_volume" else "volume",
                v.name or v.id,
                v.id,
                obj.zone,
                owner_id=obj.owner_id,
            )
            for v in volumes
        ]

    def _wait_gone(self, obj: CloudObject) -> None:
        deadline = time.monotonic() + self.server_timeout
        instance = self.api.instance()
        while True:
            try:
                instance.get_server(server_id=obj.id, zone=obj.zone)
            except ApiNotFound:
                return
            if time.monotonic() >= deadline:
                raise ApiError(
                    f"{obj.describe()} was still there {self.server_timeout:g} s after it was terminated; "
                    "run the command again, or delete it in the Scaleway console."
                )
            log.info("waiting for %s to be gone (terminating; up to %g s)", obj.describe(), self.server_timeout)
            self._sleep(self.poll)

    # -- everything else ----------------------------------------------------------------------------------------------
    def _delete(self, obj: CloudObject) -> None:
        from scaleway.block.v1alpha1 import BlockV1Alpha1API

        instance = self.api.instance()
        deleters = {
            "ip": lambda: instance.delete_ip(ip=obj.id, zone=obj.zone),
            "security group": lambda: instance.delete_security_group(security_group_id=obj.id, zone=obj.zone),
            "volume": lambda: instance.delete_volume(volume_id=obj.id, zone=obj.zone),
            "block volume": lambda: self.api.scaleway(BlockV1Alpha1API).delete_volume(volume_id=obj.id, zone=obj.zone),
            "private network": lambda: self.api.vpc().delete_private_network(
                private_network_id=obj.id, region=self.region
            ),
            "ssh key": lambda: self.api.iam().delete_ssh_key(ssh_key_id=obj.id),
            "dns record": self._delete_record(obj),
        }
        deadline = time.monotonic() + self.server_timeout
        while True:
            try:
                deleters[obj.kind]()
                return
            except ApiNotFound:
                log.info("%s was already gone", obj.describe())
                return
            except ApiError as exc:
                # 409/412: still in use (a volume detaching from its terminated server, an IP being released).
                if exc.status not in (409, 412) or time.monotonic() >= deadline:
                    raise
            log.info("waiting for %s to be free before deleting it (up to %g s)", obj.describe(), self.server_timeout)
            self._sleep(self.poll)

    def _delete_record(self, obj: CloudObject) -> Callable[[], None]:
        def delete() -> None:
            with self.api.cf_errors(f"deleting the DNS record {obj.name}"):
                self.api.cloudflare().dns.records.delete(obj.id, zone_id=obj.parent)

        return delete
