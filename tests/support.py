"""Helpers shared by tests in several directories (imported as `support`; tests/ is on sys.path via its conftest)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path


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
