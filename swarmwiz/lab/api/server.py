"""The lab API daemon: a threaded HTTP server on 127.0.0.1 that decodes requests for the router and answers."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from swarmwiz.lab import httpd
from swarmwiz.lab import state as files
from swarmwiz.lab.api.cloud import LabCloud, summarize
from swarmwiz.lab.api.cloudflare import trace
from swarmwiz.lab.api.cloudflare.routes import CloudflareRoutes
from swarmwiz.lab.api.cloudflare.state import Cloudflare
from swarmwiz.lab.api.errors import APIError, RawBody
from swarmwiz.lab.api.router import Router
from swarmwiz.lab.api.scaleway.routes import ScalewayRoutes
from swarmwiz.lab.api.scaleway.state import Scaleway

log = logging.getLogger("swarmwiz.lab.api")

IDLE_SECONDS = float(os.environ.get("SWARMWIZ_LAB_IDLE_SECONDS", 900))


def build_router(cloud: LabCloud) -> Router:
    """The lab's own endpoints, then the Scaleway and Cloudflare halves, on one router."""
    router = Router(cloud)
    cf = Cloudflare(cloud)
    # Lab's own endpoints (loopback only; no secrets in answers).
    router.add("GET", "/lab/v1/health", lambda m, q, b: (200, {"ok": True, "pid": os.getpid()}))
    router.add(
        "GET",
        "/lab/v1/status",
        lambda m, q, b: (200, {**summarize(cloud.state), "dns_zones": sorted(cf.zones.values())}),
    )
    ScalewayRoutes(Scaleway(cloud)).register(router)
    CloudflareRoutes(cf).register(router)
    return router


def _decode(headers: Any, raw: bytes) -> Any:
    """JSON bodies as Python values, anything else as bytes; an empty body is {}."""
    if not raw:
        return {}
    if "json" in (headers.get("Content-Type") or "json"):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def make_handler(router: Router) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:  # the access log holds no secrets: paths only
            log.debug("%s %s", self.address_string(), fmt % args)

        def _serve(self) -> None:
            url = urlsplit(self.path)
            query = {k: ",".join(v) for k, v in parse_qs(url.query).items()}  # repeated values: a,b
            length = int(self.headers.get("Content-Length") or 0)
            body = _decode(self.headers, self.rfile.read(length) if length else b"")
            headers: dict[str, str] = {}
            if self.command == "GET" and url.path == trace.PATH:  # no credentials, as on Cloudflare: who is asking
                caller = trace.caller_address(self.client_address[0], router.cloud.net)
                text = trace.trace_text(caller, self.headers, http_version=self.request_version)
                self._answer(200, RawBody(text.encode(), trace.CONTENT_TYPE), headers)
                return
            try:
                status, out = router.dispatch(self.command, url.path.rstrip("/") or "/", query, self.headers, body)
            except APIError as exc:
                status, out, headers = exc.status, exc.body, exc.headers
            except Exception:
                log.exception("lab API: %s %s failed", self.command, url.path)
                status, out = 500, {"message": "internal error", "type": "internal_error"}
            self._answer(status, out, headers)

        def _answer(self, status: int, out: Any, headers: dict[str, str]) -> None:
            data, ctype = (out.data, out.content_type) if isinstance(out, RawBody) else httpd.json_body(out)
            if isinstance(out, dict) and "total_count" in out:
                headers = {"X-Total-Count": str(out["total_count"]), **headers}
            httpd.send(self, status, data, ctype, headers)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    return Handler


def serve(lab_dir: Path, net: Any, port: int = 0) -> ThreadingHTTPServer:
    """Bind the lab API on 127.0.0.1 (a free port unless given) and return the server, not yet serving."""
    cloud = LabCloud(lab_dir, net)
    server = httpd.serve("127.0.0.1", port, make_handler(build_router(cloud)))
    server.lab = cloud  # type: ignore[attr-defined]
    return server


def _stop_when_idle(server: ThreadingHTTPServer) -> None:
    """Stop the daemon once the lab holds nothing and nobody has called it for IDLE_SECONDS."""
    cloud: LabCloud = server.lab  # type: ignore[attr-defined]
    while True:
        time.sleep(min(IDLE_SECONDS, 30))
        with cloud.lock:
            if cloud.empty() and time.monotonic() - cloud.last_request > IDLE_SECONDS:
                log.info("lab is empty and idle: stopping the API")
                server.shutdown()
                return


def main(argv: list[str] | None = None) -> int:
    """Daemon entry point: `python -m swarmwiz.lab.api --dir LAB_DIR` (started by swarmwiz.lab.Lab)."""
    parser = argparse.ArgumentParser(prog="swarmwiz-lab-api")
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--no-hosts", action="store_true", help="API only: servers get no lab host")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    lab_dir = args.dir.resolve()
    net = None
    if not args.no_hosts:
        from swarmwiz.lab.hosts import LabNet

        net = LabNet(lab_dir)
        net.ensure()
    server = serve(lab_dir, net)
    if net is not None:
        from swarmwiz.lab.api.scaleway.metadata import ScalewaySource

        # The hosts' 169.254.42.42: what each server learns about itself and where it publishes its host keys.
        source = ScalewaySource(server.lab)  # type: ignore[attr-defined]
        log.info("lab metadata API on %s:%d", *net.serve_metadata(source))
    port = server.server_address[1]
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    files.write_json(lab_dir / files.DAEMON_FILE, {"pid": os.getpid(), "port": port, "url": f"http://127.0.0.1:{port}"})
    log.info("lab API listening on 127.0.0.1:%d", port)
    threading.Thread(target=_stop_when_idle, args=(server,), daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        if net is not None:
            net.stop_metadata()
        info = files.read_json(lab_dir / files.DAEMON_FILE, {})
        if info.get("pid") == os.getpid():
            (lab_dir / files.DAEMON_FILE).unlink(missing_ok=True)
    return 0
