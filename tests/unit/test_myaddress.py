"""This machine's public address from a Cloudflare trace answer, and the whole-internet check of ssh.allowed_cidrs."""

from __future__ import annotations

import time

import pytest

from swarmwiz.core.api import Endpoints
from swarmwiz.flows.myaddress import parse_trace, public_cidr, trace_url, whole_internet, whole_internet_warning

# The shape of a real answer (addresses from the documentation ranges).
REAL_V4 = (
    "fl=902f45\nh=www.cloudflare.com\nip=203.0.113.7\nts=1764547200.123\nvisit_scheme=https\n"
    "uag=python-httpx/0.28.1\ncolo=CDG\nsliver=none\nhttp=http/2\nloc=FR\ntls=TLSv1.3\nsni=plaintext\n"
    "warp=off\ngateway=off\nrbi=off\nkex=X25519\n"
)


def test_an_ipv4_answer_gives_a_slash_32():
    assert parse_trace(REAL_V4) == "203.0.113.7/32"


def test_an_ipv6_answer_gives_a_slash_128_in_canonical_form():
    assert parse_trace(REAL_V4.replace("ip=203.0.113.7", "ip=2001:DB8:0:0::7")) == "2001:db8::7/128"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "<html><body>403 Forbidden</body></html>",
        REAL_V4.replace("ip=203.0.113.7", "ip=203.0.113.999"),
        REAL_V4.replace("ip=203.0.113.7", "ip="),
        REAL_V4.replace("ip=", "vip="),
        "ip=203.0.113.7\n" + "x" * 10_000,  # far too long to be a trace
    ],
)
def test_garbage_gives_none(text):
    assert parse_trace(text) is None


def test_the_trace_is_asked_on_the_cloudflare_api_host():
    assert trace_url("https://api.cloudflare.com/client/v4") == "https://api.cloudflare.com/cdn-cgi/trace"
    assert trace_url("http://127.0.0.1:4321/client/v4") == "http://127.0.0.1:4321/cdn-cgi/trace"


def test_a_refused_connection_gives_none_at_once():
    started = time.monotonic()
    # The discard port on loopback: refused at once, over IPv4 and then over any family.
    assert public_cidr(Endpoints(cloudflare="http://127.0.0.1:9/client/v4")) is None
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("cidrs", "wide"),
    [
        (["0.0.0.0/0"], True),
        (["203.0.113.7/32", "::/0"], True),
        ([" 0.0.0.0/0 "], True),
        (["203.0.113.7/32"], False),
        (["10.0.0.0/8", "2001:db8::/32"], False),
        (["not a network"], False),
        ([], False),
    ],
)
def test_whole_internet(cidrs, wide):
    assert whole_internet(cidrs) is wide
    warning = whole_internet_warning(cidrs)
    assert (warning is not None) is wide
    if wide:
        assert warning.startswith("ssh.allowed_cidrs includes ") and "the whole internet can try to log in" in warning
        assert "\n" not in warning
