"""Server power: poweron, poweroff, reboot and terminate, and the lab host each running server gets.

Every change of a server's power state goes through `action` here, so its timing lives in one place.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import TYPE_CHECKING

from swarmwiz.lab import boot
from swarmwiz.lab.api.cloud import now, with_lock_released
from swarmwiz.lab.api.errors import scw_error, scw_invalid

if TYPE_CHECKING:
    from swarmwiz.lab.api.scaleway.state import Scaleway

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


def settle(server: dict) -> dict:
    """Move a starting server on to `running` once its boot timeline says so (read before every answer)."""
    if server["state"] == "starting" and time.time() >= server.get("running_at", 0):
        server["state"], server["state_detail"] = "running", "booting kernel"
    return server


def server_action(sw: Scaleway, server: dict, action: str) -> dict:
    """Apply a power action (the real API answers 202 with a task)."""
    settle(server)
    if action == "poweron":
        if server["state"] not in ("running", "starting"):
            # stopped -> starting -> running on the recorded timeline (swarmwiz.lab.boot); the host boots meanwhile
            hostname = start_host(sw, server)
            delay = boot.boot_timeline(hostname).scaled(boot.time_scale()).running
            server["state"], server["state_detail"] = "starting", "allocating node"
            server["running_at"] = time.time() + delay
            settle(server)
    elif action in ("poweroff", "stop_in_place"):
        stop_host(sw, server)
        server["state"] = "stopped"
    elif action == "reboot":
        pass
    elif action == "terminate":
        terminate(sw, server)
    else:
        raise scw_invalid("action", f"{action!r} is not supported by the lab")
    server["modification_date"] = now()
    return {
        "task": {
            "id": str(uuid.uuid4()),
            "description": f"server_{action}",
            "status": "success",
            "href_from": f"/servers/{server['id']}/action",
            "href_result": f"/servers/{server['id']}",
            "progress": 100,
            "started_at": now(),
            "terminated_at": now(),
            "zone": server["zone"],
        }
    }


ALLOWED_ACTIONS = {
    "running": ["poweroff", "terminate", "reboot", "stop_in_place", "backup"],
    "stopped": ["poweron", "backup"],
    "stopping": [],
    "starting": ["stop_in_place", "backup"],  # as recorded
}


def terminate(sw: Scaleway, server: dict) -> None:
    """Delete a server and its local volumes (block volumes stay). As the real API (lab option async_terminate, on by
    default): only a running server may be terminated, it goes to `stopping` and disappears a little later."""
    options = sw.cloud.options()
    if not options["async_terminate"]:
        sw.delete_server(server, terminate=True)
        return
    if server["state"] != "running":
        raise scw_error(
            400,
            "invalid_request_error",
            f"action terminate is not allowed while the server is {server['state']} (allowed: "
            f"{', '.join(ALLOWED_ACTIONS.get(server['state'], []))})",
        )
    server["state"], server["state_detail"] = "stopping", "terminating"

    def finish() -> None:
        with sw.lock:
            if sw.state["servers"].get(server["id"]) is server:
                sw.delete_server(server, terminate=True)
                sw.cloud.save()

    timer = threading.Timer(float(options["terminate_seconds"]), finish)
    timer.daemon = True
    timer.start()


def start_host(sw: Scaleway, server: dict) -> str:
    """Turn the server's cloud-init into a lab host (its hostname, authorized keys and host key), which then
    boots on its own timeline; returns the hostname (whose timeline the API's server state follows too)."""
    doc, skipped = parse_cloud_init(server["user_data"].get("cloud-init"))
    server["cloud_init_skipped"] = skipped
    hostname = str(doc.get("hostname") or server["name"])
    if sw.net is None:
        return hostname
    from swarmwiz.lab.hosts import HostSpec

    keys = [k.strip() for k in doc.get("ssh_authorized_keys") or [] if isinstance(k, str)]
    keys += [
        k["public_key"] for k in sw.state["ssh_keys"].values() if not k.get("disabled") and k["public_key"] not in keys
    ]  # project keys, as Scaleway injects
    host_keys = doc.get("ssh_keys") or {}
    ips = [ip["address"] for ip in sw.state["ips"].values() if ip.get("server_id") == server["id"]]
    nics = [
        (n["pn_id"], n["address"], n["prefixlen"])
        for n in sw.state["private_nics"].values()
        if n["server_id"] == server["id"]
    ]
    spec = HostSpec(
        host_id=server["id"],
        hostname=hostname,
        public_ip=ips[0] if ips else None,
        private_nics=nics,
        authorized_keys=keys,
        host_key_private=host_keys.get("ed25519_private"),
        host_key_public=host_keys.get("ed25519_public"),
        firewall=sw.firewall(sw.state["security_groups"].get(server.get("security_group_id") or "")),
    )
    # Creating the host's namespace and NICs takes a moment: do it without the API lock so that Terraform's
    # parallel creates run in parallel here too (LabNet is safe to use from many threads).
    net = sw.net

    def start() -> None:
        net.ensure()
        net.create_host(spec)

    with_lock_released(sw.lock, start)
    server["host"] = True
    return hostname


def stop_host(sw: Scaleway, server: dict) -> None:
    if server.get("host") and sw.net is not None:
        server["host"] = False
        with_lock_released(sw.lock, lambda: sw.net.delete_host(server["id"]))
    server["host"] = False
