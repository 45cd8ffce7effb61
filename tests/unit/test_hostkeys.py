"""Host keys generated locally and pinned in known_hosts lines."""

from __future__ import annotations

import asyncssh
import pytest

from swarmwiz.core.hostkeys import generate_host_key, known_hosts_line, public_line


def test_generated_key_pair_matches():
    private, public = generate_host_key()
    assert private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert public.startswith("ssh-ed25519 ") and len(public.split()) == 2
    key = asyncssh.import_private_key(private)
    assert public_line(key.export_public_key("openssh").decode()) == public
    assert generate_host_key()[1] != public  # fresh every time


def test_known_hosts_line_is_parsed_by_asyncssh_for_that_address_only():
    _, public = generate_host_key()
    line = known_hosts_line("51.15.0.7", public + " comment@host")
    assert line == f"51.15.0.7 {public}"
    known = asyncssh.import_known_hosts(line + "\n")
    trusted, _, _, _, _, _, _ = known.match("51.15.0.7", "51.15.0.7", 22)
    assert {k.export_public_key("openssh").decode().split()[1] for k in trusted} == {public.split()[1]}
    assert known.match("51.15.0.8", "51.15.0.8", 22)[0] == []


def test_known_hosts_line_brackets_a_non_default_port():
    _, public = generate_host_key()
    assert known_hosts_line("10.0.0.1", public, port=2222).startswith("[10.0.0.1]:2222 ssh-ed25519 ")


@pytest.mark.parametrize("bad", ["", "ssh-ed25519", "ssh-ed25519 not-base64!!", "hello world"])
def test_garbage_public_keys_are_rejected(bad):
    with pytest.raises((ValueError, asyncssh.KeyImportError)):
        known_hosts_line("10.0.0.1", bad)
