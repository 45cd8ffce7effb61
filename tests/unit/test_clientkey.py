"""The client key: a plain private key file is used as is; a passphrase-protected one through the SSH agent that
holds it, and refused in one sentence when no agent holds it."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess

import pytest

from swarmwiz.core.clientkey import client_keys
from swarmwiz.core.errors import InputError


@pytest.fixture
def locked_key(tmp_path):
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519")
    private = tmp_path / "id_locked"
    private.write_bytes(key.export_private_key("pkcs8-pem", passphrase="secret words"))
    private.chmod(0o600)
    return key, private, key.export_public_key().decode().strip()


@pytest.fixture
def agent(tmp_path):
    if not shutil.which("ssh-agent"):
        pytest.skip("ssh-agent is not installed")
    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    for _ in range(100):
        if sock.exists():
            break
        subprocess.run(["sleep", "0.05"])
    try:
        yield str(sock)
    finally:
        proc.terminate()
        proc.wait(10)


def test_plain_private_key_is_used(ssh_keypair):
    private, public = ssh_keypair
    assert client_keys(private, public.read_text().strip()) == [private]


def test_locked_key_without_agent_is_one_sentence(locked_key, monkeypatch):
    _key, private, public = locked_key
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    with pytest.raises(InputError) as err:
        client_keys(private, public)
    assert err.value.field == "ssh.public_key" and "no SSH agent" in err.value.message
    assert "secret" not in err.value.message


def test_locked_key_uses_the_agent_that_holds_it(locked_key, agent, monkeypatch):
    import asyncssh

    key, private, public = locked_key
    monkeypatch.setenv("SSH_AUTH_SOCK", agent)
    with pytest.raises(InputError, match="does not hold it"):
        client_keys(private, public)

    async def add() -> None:
        client = await asyncssh.connect_agent(agent)
        await client.add_keys([key])
        client.close()
        await client.wait_closed()

    asyncio.run(add())
    os.utime(private, ns=(10**9, 10**9))  # a new mtime: the decision is cached per file version and agent
    assert client_keys(private, public) is None  # None: asyncssh logs in with the agent's keys
