"""Waiting for a node's SSH (core/ssh.wait_and_connect) reads the API within a budget: the published fingerprints
are polled every `poll_every` until they appear and never again while only sshd is retried."""

from __future__ import annotations

import socket

import pytest

from swarmwiz.core import ssh
from swarmwiz.core.errors import RemoteError

PUBLISHED = "256 SHA256:" + "A" * 43 + " root@node (ED25519)"


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released): connecting there is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def reads_until_timeout(answer: str, **options) -> int:
    reads = 0

    async def published() -> str:
        nonlocal reads
        reads += 1
        return answer

    with pytest.raises(RemoteError) as err:
        await ssh.wait_and_connect("127.0.0.1", published, port=closed_port(), **options)
    assert "timed out" in err.value.message
    return reads


async def test_fingerprints_are_polled_every_poll_every_not_every_interval():
    budgeted = await reads_until_timeout("", timeout=1.0, interval=0.02, poll_every=0.25)
    eager = await reads_until_timeout("", timeout=1.0, interval=0.02)
    assert 3 <= budgeted <= 7, budgeted  # 1 s / 0.25 s, with +-20 % jitter
    assert eager >= 20, eager  # without a budget: every interval


async def test_published_fingerprints_are_read_once_while_sshd_is_retried():
    assert await reads_until_timeout(PUBLISHED, timeout=0.6, interval=0.02, poll_every=0.01) == 1
