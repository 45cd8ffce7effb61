"""The lab cloud's servers as the metadata API sees them: each running host learns about its own server and
writes its own user data, which the Instance API then serves (see swarmwiz.lab.metadata)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from swarmwiz.lab.api.cloud import LabCloud
from swarmwiz.lab.api.scaleway import views
from swarmwiz.lab.metadata import Instance

# The keys of the real `/conf?format=json` (scaleway-sdk-go `instance.Metadata`) that the lab's server view has.
_CONF_KEYS = (
    "id",
    "name",
    "hostname",
    "organization",
    "project",
    "commercial_type",
    "public_ip",
    "private_ip",
    "ipv6",
    "location",
    "tags",
    "state_detail",
    "private_nics",
)


class ScalewaySource:
    """Finds the server whose lab host asks, by its public address, in the lab cloud's state."""

    def __init__(self, cloud: LabCloud) -> None:
        self.cloud = cloud

    @contextlib.contextmanager
    def instance(self, address: str) -> Iterator[Instance | None]:
        with self.cloud.lock:
            server = self._server_at(address)
            if server is None:
                yield None
                return
            before = dict(server["user_data"])
            yield Instance(conf=self._conf(server), user_data=server["user_data"])
            if server["user_data"] != before:
                self.cloud.save()

    def _server_at(self, address: str) -> dict | None:
        # Only a server whose host runs can call: its public IP routes to it only while it is attached.
        state = self.cloud.state
        for ip in state["ips"].values():
            if ip.get("address") == address and ip.get("server_id"):
                server = state["servers"].get(ip["server_id"])
                if server is not None and server.get("host"):
                    return server
        return None

    def _conf(self, server: dict) -> dict:
        view = views.server_view(self.cloud, server)
        conf = {key: view.get(key) for key in _CONF_KEYS}
        conf["public_ips_v4"] = [ip for ip in view["public_ips"] if ip.get("family") == "inet"]
        conf["public_ips_v6"] = [ip for ip in view["public_ips"] if ip.get("family") == "inet6"]
        conf["image"] = {"id": view["image"]["id"], "name": view["image"]["name"]}
        conf["ssh_public_keys"] = [
            {"key": k["public_key"], "fingerprint": k.get("fingerprint", ""), "id": k.get("id", "")}
            for k in self.cloud.state["ssh_keys"].values()
            if not k.get("disabled")
        ]  # the project's keys, as Scaleway injects them
        conf["timezone"] = "UTC"
        return conf
