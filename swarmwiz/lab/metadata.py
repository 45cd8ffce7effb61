"""Scaleway's instance metadata API for lab hosts: what a server learns about itself at 169.254.42.42, and where
it writes its own user data (the SSH host key fingerprints its image publishes).

The real service, as its clients use it:
- cloud-init `cloudinit/sources/DataSourceScaleway.py`: 169.254.42.42 (IPv4) and fd00:42::42 (IPv6); it reads
  `/conf?format=json` from any port, and `/user_data/cloud-init` from a privileged source port ("only a privileged
  user on the system can access" user data), retrying on the next port when one is taken.
- scaleway-sdk-go `api/instance/v1/instance_metadata_sdk.go`: GET `/conf?format=json` (plain client); list
  `/user_data?format=json` ({"user_data": [keys]}), GET, PATCH (Content-Type text/plain) and DELETE
  `/user_data/<key>`, each from a random source port below 1024.
- Scaleway's user data help (scaleway-cli `instance user-data`): "From a running instance, by using the metadata
  API at http://169.254.42.42/user_data. To enhance security, we only allow user data viewing and editing as root";
  its images' `scw-generate-ssh-keys` stores the host key fingerprints under the key `ssh-host-fingerprints`.
The service answers only about the server that asks, which it knows by the request's source address.

In the lab the service is an HTTP server on the lab's public gateway address, on a free port. Each host's own
namespace sends 169.254.42.42:80 there (an nft DNAT rule in the host, so nothing on this machine takes the
metadata address); the source address and port survive the DNAT, so the server sees who asks and from which port.
Not modelled: the IPv6 address, vendor data, and hosts without a public IP (they have no route to the service).
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from swarmwiz.lab import httpd

log = logging.getLogger(__name__)

METADATA_ADDRESS = "169.254.42.42"
METADATA_PORT = 80
NAT_TABLE = "swarmwiz_metadata"
# Only root can bind these: the service's proof that the caller is root on the server.
PRIVILEGED_PORTS = range(1, 1024)
MAX_USER_DATA = 127998  # bytes, as the Instance API's own limit on a user data value
_MAX_BODY = MAX_USER_DATA + 1


@dataclass
class Instance:
    """What the metadata service knows of one server: its `/conf` (JSON form) and its live user data, a mapping
    that the Instance API serves too (a write here is what the API then answers)."""

    conf: dict
    user_data: dict[str, str]


class Source(Protocol):
    """Where the service looks servers up: `instance(address)` holds the source's lock for the `with` block and
    yields the server at that public address (None when none is), saving its user data if the block changed it."""

    def instance(self, address: str) -> contextlib.AbstractContextManager[Instance | None]: ...


class StaticSource:
    """A fixed set of servers by public address: for lab hosts run without the lab API (host tests)."""

    def __init__(self, instances: dict[str, Instance] | None = None) -> None:
        self.instances = dict(instances or {})
        self.lock = threading.Lock()

    @contextlib.contextmanager
    def instance(self, address: str) -> Iterator[Instance | None]:
        with self.lock:
            yield self.instances.get(address)


def conf_text(conf: dict) -> str:
    """`/conf` in its shell form: one `KEY=value` a line, nested keys joined by `_`, a list as its length (`TAGS=2`)
    then one `TAGS_0=...` per item, values shell-quoted so that a script can source the answer; plus the flat
    names older scripts read (PUBLIC_IP_ADDRESS, ZONE)."""
    lines: list[str] = []

    def put(key: str, value: Any) -> None:
        if isinstance(value, dict):
            for name, item in value.items():
                put(f"{key}_{name}".upper() if key else name.upper(), item)
        elif isinstance(value, list):
            lines.append(f"{key}={len(value)}")
            for index, item in enumerate(value):
                put(f"{key}_{index}", item)
        elif value is None:
            lines.append(f"{key}=")
        else:
            text = str(value).lower() if isinstance(value, bool) else str(value)
            lines.append(f"{key}={shlex.quote(text) if text else ''}")

    put("", conf)
    extra = {
        "PUBLIC_IP_ADDRESS": (conf.get("public_ip") or {}).get("address") or "",
        "ZONE": (conf.get("location") or {}).get("zone_id") or "",
    }
    for key, value in extra.items():
        lines.append(f"{key}={shlex.quote(value) if value else ''}")
    return "\n".join(lines) + "\n"


def make_handler(source: Source) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "lab-metadata"

        def log_message(self, fmt: str, *args: Any) -> None:  # paths and callers only: no user data here
            log.debug("metadata %s:%s %s", self.client_address[0], self.client_address[1], fmt % args)

        def _serve(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_BODY:
                self._send(413, {"type": "invalid_request_error", "message": "user data is too large"})
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else b""
            address, port = self.client_address[0], int(self.client_address[1])
            try:
                status, out = route(source, self.command, url.path, query, body, address=address, port=port)
            except Exception:
                log.exception("metadata: %s %s from %s failed", self.command, url.path, address)
                status, out = 500, {"type": "internal_error", "message": "internal error"}
            self._send(status, out)

        def _send(self, status: int, out: Any) -> None:
            if isinstance(out, str):
                data, ctype = out.encode(), httpd.TEXT
            else:
                data, ctype = httpd.json_body(out, empty_type=httpd.TEXT)
            httpd.send(self, status, data, ctype)

        do_GET = do_PATCH = do_PUT = do_DELETE = do_POST = _serve

    return Handler


def _error(status: int, kind: str, message: str) -> tuple[int, dict]:
    return status, {"type": kind, "message": message}


def route(
    source: Source, method: str, path: str, query: dict, body: bytes, *, address: str, port: int
) -> tuple[int, Any]:
    """One request to the service from `address`:`port`: (status, JSON value, text or None)."""
    path = path.rstrip("/") or "/"
    as_json = query.get("format") == "json"
    with source.instance(address) as instance:
        if instance is None:
            # Only a server's own address reaches the real service; anything else learns nothing.
            return _error(403, "permissions_denied", f"{address} is not the address of a server")
        if path in ("/", "/conf"):
            if method != "GET":
                return _error(405, "method_not_allowed", "method not allowed")
            return 200, (instance.conf if as_json else conf_text(instance.conf))
        if path != "/user_data" and not path.startswith("/user_data/"):
            return _error(404, "not_found", "resource is not found")
        if port not in PRIVILEGED_PORTS:
            return _error(
                403,
                "permissions_denied",
                "user data is only available to root: connect from a source port below 1024",
            )
        if path == "/user_data":
            if method != "GET":
                return _error(405, "method_not_allowed", "method not allowed")
            keys = sorted(instance.user_data)
            return 200, ({"user_data": keys} if as_json else "".join(f"{k}\n" for k in keys))
        key = unquote(path[len("/user_data/") :])
        if not key or "/" in key:
            return _error(404, "not_found", "resource is not found")
        if method == "GET":
            if key not in instance.user_data:
                return _error(404, "not_found", f"user data {key!r} is not set")
            return 200, instance.user_data[key]
        if method in ("PATCH", "PUT"):
            if len(body) > MAX_USER_DATA:
                return _error(400, "invalid_request_error", f"user data is larger than {MAX_USER_DATA} bytes")
            try:
                text = body.decode()
            except UnicodeDecodeError:
                return _error(400, "invalid_request_error", "user data must be UTF-8 text")
            instance.user_data[key] = text
            return 204, None
        if method == "DELETE":
            instance.user_data.pop(key, None)
            return 204, None
        return _error(405, "method_not_allowed", "method not allowed")


class MetadataServer:
    """The service for one lab, on `address` (the lab's public gateway) and a free port, in a daemon thread."""

    def __init__(self, source: Source, address: str) -> None:
        self.httpd = httpd.serve(address, 0, make_handler(source))
        self.endpoint: tuple[str, int] = (address, self.httpd.server_address[1])
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="lab-metadata", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


def nat_ruleset(endpoint: tuple[str, int] | None) -> str:
    """The nft script a host's namespace gets: 169.254.42.42:80 goes to the lab's service at `endpoint`; without
    a service it is refused at once (so a lab host's call never leaves the lab, and fails fast)."""
    lines = [f"table ip {NAT_TABLE}", f"delete table ip {NAT_TABLE}", f"table ip {NAT_TABLE} {{"]
    if endpoint is not None:
        address, port = endpoint
        lines += [
            "  chain output {",
            "    type nat hook output priority -100; policy accept;",
            f"    ip daddr {METADATA_ADDRESS} tcp dport {METADATA_PORT} dnat to {address}:{int(port)}",
            "  }",
        ]
    else:
        lines += [
            "  chain output {",
            "    type filter hook output priority filter; policy accept;",
            f"    ip daddr {METADATA_ADDRESS} meta l4proto tcp reject with tcp reset",
            f"    ip daddr {METADATA_ADDRESS} reject",
            "  }",
        ]
    return "\n".join(lines + ["}"]) + "\n"


def publish_command(key: str, producer: str, *, curl: str = "curl", tries: int = 3) -> str:
    """The shell lines a host's boot runs to write the output of the shell command `producer` as its user data
    `key`, as Scaleway's images do
    (scw-userdata: PATCH from a privileged source port; curl picks a free one in 1-1023). Bounded: `tries`
    attempts 0.2 s apart, each at most 5 s, none after a refused connection; a failure is logged in the boot log and
    the boot goes on."""
    q = shlex.quote
    url = f"http://{METADATA_ADDRESS}/user_data/{key}"
    return "\n".join(
        [
            f"publish_data=$({producer})",
            "tries=0",
            f"until printf '%s\\n' \"$publish_data\" | {q(curl)} -sS --fail --max-time 5 --local-port 1-1023 -X PATCH "
            f"-H 'Content-Type: text/plain' --data-binary @- {q(url)}; do",
            # 7: refused or unreachable, a lab without the service (see nat_ruleset): no retry, the boot goes on
            f"    if [ $? -eq 7 ] || [ $tries -ge {int(tries) - 1} ]; then",
            f"        echo {q(f'publishing user data {key} failed')} >&2",
            "        break",
            "    fi",
            "    tries=$((tries + 1))",
            "    sleep 0.2",
            "done",
        ]
    )
