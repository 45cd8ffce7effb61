"""Cloudflare's `/cdn-cgi/trace` as the lab answers it: who the caller is, as the server sees the connection."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Mapping
from typing import Any

PATH = "/cdn-cgi/trace"
CONTENT_TYPE = "text/plain"


def caller_address(client_ip: str, net: Any = None) -> str:
    """The caller's address as the lab's internet sees it.

    On the real cloud the edge sees the same public address that the nodes will see this machine come from: both are
    on the internet. In the lab the API listens on loopback while the hosts sit on the public bridge, where this
    machine is the bridge's gateway address; so a caller on loopback is shown that address when the lab has hosts
    (`net`, a LabNet), and a /32 suggested from it lets this machine reach the lab's nodes through their security
    groups. An API-only lab (no hosts) shows the address of the connection itself (127.0.0.1 on loopback).
    """
    try:
        loopback = ipaddress.ip_address(client_ip).is_loopback
    except ValueError:
        return client_ip
    if loopback and net is not None:
        try:
            return str(net.public_gateway)
        except Exception:  # the network is not set up (yet): the connection's own address is all there is
            return client_ip
    return client_ip


def trace_text(client_ip: str, headers: Mapping[str, str], *, http_version: str = "HTTP/1.1") -> str:
    """The trace answer for a caller at `client_ip`, in the real format: one `key=value` a line, in this order.

    Format as answered by https://www.cloudflare.com/cdn-cgi/trace (any Cloudflare-served host has it; the keys
    are discussed at https://community.cloudflare.com/t/what-does-the-fl-field-in-cdn-cgi-trace-represent/150595):
    fl (the front-line server instance), h (the Host asked for), ip (the caller's address as the edge sees it),
    ts (Unix time with milliseconds), visit_scheme, uag (the User-Agent), colo (the data centre's IATA code),
    sliver, http, loc (the caller's country; XX when unknown), tls and sni (`off` over plain HTTP), warp, gateway,
    rbi. The lab serves plain HTTP, so TLS is off; `ip` comes from `caller_address`.
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
