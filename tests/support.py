"""Helpers shared by tests in several directories (imported as `support`; tests/ is on sys.path via its conftest)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def api_only_lab(lab_dir: Path) -> Iterator[tuple[str, dict]]:
    """The lab's Scaleway + Cloudflare API without hosts, served from this process on 127.0.0.1.

    Yields (base URL, the lab-issued credentials as env-style names); the server stops on exit.
    """
    from swarmwiz.lab import state as files
    from swarmwiz.lab.api import serve

    with files.locked(lab_dir):
        creds = files.load_credentials(lab_dir)
    server = serve(lab_dir, None)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", creds
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


CLUSTER_TEMPLATE = """\
name = "{name}"
zones = [{zones}]
[managers]
count = {managers}
type = "DEV1-S"
[workers]
count = {workers}
type = "DEV1-M"
[dns]
domain = "example.com"
[ssh]
public_key = "{key}"
allowed_cidrs = ["0.0.0.0/0"]
"""


def cluster_text(public_key: Path | str, *, name="demo", managers=3, workers=2, zones=("fr-par-1", "fr-par-2")) -> str:
    """A cluster.toml over `zones` with DEV1-S managers and DEV1-M workers, for tests."""
    quoted = ", ".join(f'"{z}"' for z in zones)
    return CLUSTER_TEMPLATE.format(name=name, zones=quoted, managers=managers, workers=workers, key=public_key)


def run_events(gen: Generator) -> tuple[list, Any]:
    """Drain a pipeline generator; returns (its events, its return value)."""
    from swarmwiz.core.events import drain

    seen: list = []
    result = drain(gen, seen.append)
    return seen, result


async def until(
    pilot, condition, what: str, timeout: float = 30, *, every: float = 0.02, check: Callable | None = None
) -> None:
    """Pause the app (`every` seconds at a time) until `condition()` holds, at most `timeout` seconds, then once more
    so that what it set off is drawn. `check(app)`, when given, runs on each turn and may fail the wait early."""
    deadline = time.monotonic() + timeout
    while not condition():
        if check is not None:
            check(pilot.app)
        assert time.monotonic() < deadline, f"timed out waiting for {what} (screen: {pilot.app.screen})"
        await pilot.pause(every)
    await pilot.pause()


def leave_a_stray_server(pipeline, name: str) -> None:
    """A server in fr-par-2 as a run killed before Terraform saved it leaves one: tagged with the pipeline's cluster
    and its workspace's owner id, made through the (lab's) Instance API."""
    import httpx

    env = pipeline._environment()
    cluster = pipeline.workspace.name
    stray = httpx.post(
        f"{env['SCW_API_URL']}/instance/v1/zones/fr-par-2/servers",
        headers={"X-Auth-Token": env["SCW_SECRET_KEY"]},
        json={
            "name": name,
            "commercial_type": "DEV1-S",
            "image": "ubuntu_noble",
            "project": env["SCW_DEFAULT_PROJECT_ID"],
            "tags": ["swarmwiz", f"swarmwiz-cluster={cluster}", f"swarmwiz-owner={pipeline.workspace.owner_id}"],
        },
        timeout=10,
    )
    assert stray.status_code in (200, 201), stray.text


def new_server(api, name: str, commercial_type: str = "DEV1-S", zone: str = "fr-par-1", **extra):
    """A stopped Ubuntu server made through the Scaleway SDK's Instance API `api` (e.g. `public_ips=[ip.id]`)."""
    return api._create_server(
        zone=zone, commercial_type=commercial_type, image="ubuntu_noble", name=name, protected=False, **extra
    ).server
