"""This machine's public address as Cloudflare sees it, suggested for ssh.allowed_cidrs, and the warning words for a
range that lets the whole internet reach port 22 (one wording for every frontend)."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from swarmwiz.core.api import Endpoints

log = logging.getLogger(__name__)

# Every host Cloudflare serves answers this path with who the caller is (one `key=value` a line, `ip=` among them).
# swarmwiz already talks to Cloudflare's API, so asking the API's own host adds no third party.
TRACE_PATH = "/cdn-cgi/trace"
TIMEOUT_S = 3.0  # a suggestion is not worth a longer wait; the wizard never waits for it anyway
MAX_ANSWER = 4096  # a real trace is ~250 bytes; anything much longer is not one

OWN_ADDRESS = "This computer's public address, as Cloudflare sees it: {cidr}"
WHOLE_INTERNET_WARNING = "the whole internet can try to log in"
WHOLE_INTERNET_ADVICE = "allow only your own address (like 203.0.113.7/32) unless you must connect from anywhere"


def trace_url(cloudflare_base: str) -> str:
    """The trace URL on the host of the Cloudflare API base (`https://api.cloudflare.com/client/v4` or the lab's)."""
    parts = urlsplit(cloudflare_base)
    return f"{parts.scheme}://{parts.netloc}{TRACE_PATH}"


def parse_trace(text: str) -> str | None:
    """The caller's address as a one-address network (`203.0.113.7/32`, `2001:db8::7/128`) from a trace answer;
    None when the answer holds no valid `ip=` line."""
    if not isinstance(text, str) or len(text) > MAX_ANSWER:
        return None
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "ip":
            try:
                address = ipaddress.ip_address(value.strip())
            except ValueError:
                return None
            return f"{address}/{address.max_prefixlen}"
    return None


def public_cidr(endpoints: Endpoints, *, timeout: float = TIMEOUT_S) -> str | None:
    """This machine's public address as a /32 (or /128) from the trace of the Cloudflare host in `endpoints`.

    The nodes have public IPv4 addresses, so the address to allow is the one this machine reaches them from: the
    question goes over IPv4 first, and over any family only when IPv4 could not connect at all (an IPv6-only
    network). Each attempt waits at most `timeout` seconds. Returns None on any failure: a suggestion never stops
    the wizard.
    """
    import httpx

    url = trace_url(endpoints.cloudflare)
    for local_address in ("0.0.0.0", None):  # 0.0.0.0 binds the socket to IPv4
        try:
            transport = httpx.HTTPTransport(local_address=local_address, retries=0)
            with httpx.Client(transport=transport, timeout=timeout, follow_redirects=False) as client:
                answer = client.get(url, headers={"Accept": "text/plain"})
        except httpx.ConnectError as exc:
            log.info("public address: %s could not connect (%s)", url, type(exc).__name__)
            continue
        except Exception as exc:  # a timeout or a broken answer: no suggestion, and no second wait
            log.info("public address: %s failed (%s)", url, type(exc).__name__)
            return None
        if answer.status_code != 200:
            log.info("public address: %s answered %d", url, answer.status_code)
            return None
        return parse_trace(answer.text)
    return None


def whole_internet(cidrs: Iterable[str]) -> bool:
    """True when one of `cidrs` is every address of its family (0.0.0.0/0 or ::/0); text that is no network is
    left to the spec's own checks."""
    for cidr in cidrs:
        try:
            if ipaddress.ip_network(str(cidr).strip(), strict=False).prefixlen == 0:
                return True
        except ValueError:
            continue
    return False


def whole_internet_warning(cidrs: Iterable[str], own: str | None = None) -> str | None:
    """One sentence for a range open to the whole internet, naming the field (and `own`, this machine's address,
    when known); None when the ranges are narrower."""
    cidrs = [str(c).strip() for c in cidrs]
    if not whole_internet(cidrs):
        return None
    wide = ", ".join(c for c in cidrs if whole_internet([c]))
    advice = f"this computer's public address is {own}" if own else WHOLE_INTERNET_ADVICE
    return f"ssh.allowed_cidrs includes {wide}: {WHOLE_INTERNET_WARNING} over SSH; {advice}."
