"""The sentence for nodes whose SSH never answered gives the advice that fits why: a node that never published its
host key fingerprints is not a firewall problem (seen in a time-scale-1 lab benchmark under load, where three hosts'
publish to the metadata API gave up and the error said to check ssh.allowed_cidrs)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from swarmwiz.core import ssh
from swarmwiz.core.errors import RemoteError
from swarmwiz.core.nodeflow import not_answering

PIPELINE = SimpleNamespace(spec=SimpleNamespace(allowed_cidrs=("192.0.2.0/24",)))
NODES = ["m1", "m2", "m3"]


def wait(published: str) -> RemoteError:
    """What wait_and_connect raises for a node that publishes `published` and whose sshd never answers."""

    async def fingerprints() -> str:
        return published

    async def main() -> None:
        # Without fingerprints nothing connects; with them, loopback's discard port refuses at once
        await ssh.wait_and_connect("127.0.0.1", fingerprints, timeout=0.3, interval=0.1, port=9)

    with pytest.raises(RemoteError) as err:
        asyncio.run(main())
    return err.value


def test_a_node_that_never_published_its_fingerprints_is_not_sent_to_the_firewall():
    unpublished = wait("")
    assert unpublished.title == ssh.UNPUBLISHED and "no fingerprints published yet" in unpublished.message
    said = not_answering(PIPELINE, NODES, [unpublished]).message
    assert said.startswith("1 of 3 nodes did not answer SSH (")
    assert "published no host key fingerprints" in said and "Scaleway's console" in said
    assert "allowed_cidrs" not in said


def test_a_node_whose_sshd_does_not_answer_points_at_the_allowed_addresses():
    published = "256 SHA256:" + "A" * 43 + " root@m1 (ED25519)"
    refused = wait(published)
    assert refused.title == "Node unreachable"
    said = not_answering(PIPELINE, NODES, [refused]).message
    assert "Check that ssh.allowed_cidrs (192.0.2.0/24) includes this machine's address, then run deploy" in said
    assert "fingerprints in its user data" not in said


def test_both_causes_get_both_pieces_of_advice():
    both = not_answering(PIPELINE, NODES, [wait(""), RemoteError("no route", title="Node unreachable")]).message
    assert "2 of 3 nodes" in both and "or replace it; check that ssh.allowed_cidrs (192.0.2.0/24)" in both
