"""Cloudflare's `/cdn-cgi/trace` as the lab answers it: who the caller is, as the server sees the connection."""

from __future__ import annotations

import time
from collections.abc import Mapping

PATH = "/cdn-cgi/trace"
CONTENT_TYPE = "text/plain"


def trace_text(client_ip: str, headers: Mapping[str, str], *, http_version: str = "HTTP/1.1") -> str:
    """The trace answer for a caller at `client_ip`, in the real format: one `key=value` a line, in this order.

    Format as answered by https://www.cloudflare.com/cdn-cgi/trace (any Cloudflare-served host has it; the keys
    are discussed at https://community.cloudflare.com/t/what-does-the-fl-field-in-cdn-cgi-trace-represent/150595):
    fl (the front-line server instance), h (the Host asked for), ip (the caller's address as the edge sees it),
    ts (Unix time with milliseconds), visit_scheme, uag (the User-Agent), colo (the data centre's IATA code),
    sliver, http, loc (the caller's country; XX when unknown), tls and sni (`off` over plain HTTP), warp, gateway,
    rbi. The lab serves plain HTTP on loopback, so the caller is 127.0.0.1 and TLS is off.
    """
    fields = {
        "fl": "1lab1",
        "h": headers.get("Host", "") or "",
        "ip": client_ip,
        "ts": f"{time.time():.3f}",
        "visit_scheme": "http",
        "uag": headers.get("User-Agent", "") or "",
        "colo": "CDG",  # the lab stands in for fr-par; Paris' data centre
        "sliver": "none",
        "http": http_version.lower(),
        "loc": "XX",
        "tls": "off",
        "sni": "off",
        "warp": "off",
        "gateway": "off",
        "rbi": "off",
    }
    # A header value cannot hold a newline, but keep every field on its one line whatever a caller sends.
    return "".join(f"{key}={' '.join(str(value).splitlines())}\n" for key, value in fields.items())
