"""The user's SSH client key: the private key file next to the .pub when it opens without a passphrase, else the
SSH agent; checked before anything is created, so a passphrase-protected key never fails a deploy after apply."""

from __future__ import annotations

import asyncio
import functools
import os
from pathlib import Path

from swarmwiz.core.errors import InputError, printable

MAX_PRIVATE_KEY_BYTES = 64 << 10
AGENT_TIMEOUT_S = 10.0


def client_keys(private_key: Path | None, public_key: str) -> list[Path] | None:
    """What to log in with: `[private_key]` when it opens without a passphrase; None (the SSH agent, which asyncssh
    finds through SSH_AUTH_SOCK, and the default keys) when there is no private key file next to the .pub, or when
    it is passphrase-protected and the agent holds it.

    Raises InputError (field ssh.public_key) when the key is passphrase-protected and no agent holds it, or when
    the private key file is unreadable.
    """
    if private_key is None:
        return None
    try:
        stat = private_key.stat()
    except OSError:
        return None
    return _decide(str(private_key), stat.st_mtime_ns, public_key, os.environ.get("SSH_AUTH_SOCK", ""))


@functools.lru_cache(maxsize=8)
def _decide(path: str, _mtime_ns: int, public_key: str, agent_sock: str) -> list[Path] | None:
    # cached per (file, mtime, agent): the pipeline asks before every SSH phase
    import asyncssh

    from swarmwiz.core.spec import read_text_file

    shown = printable(path)
    text = read_text_file(Path(path), MAX_PRIVATE_KEY_BYTES, "private key file", field="ssh.public_key")
    try:
        asyncssh.import_private_key(text)
    except asyncssh.KeyEncryptionError:
        pass  # a wrong (empty) passphrase on some formats
    except asyncssh.KeyImportError as exc:
        if "assphrase" not in str(exc):
            raise InputError(
                f"ssh.public_key: the private key {shown} next to the public key is not a key swarmwiz can read; "
                "fix or move it (the SSH agent is used when there is no private key file)",
                field="ssh.public_key",
            ) from None
    else:
        return [Path(path)]
    # Passphrase-protected: swarmwiz never asks for the passphrase; the agent must hold the key.
    hint = f"add it to an SSH agent first (`ssh-add {shown}`)"
    if not agent_sock:
        raise InputError(
            f"ssh.public_key: the private key {shown} is passphrase-protected and no SSH agent is running "
            f"(SSH_AUTH_SOCK is not set); {hint}",
            field="ssh.public_key",
        )
    held = _agent_holds(agent_sock, public_key)
    if held is None:
        raise InputError(
            f"ssh.public_key: the private key {shown} is passphrase-protected and the SSH agent at "
            f"{printable(agent_sock)} does not answer; {hint}",
            field="ssh.public_key",
        )
    if not held:
        raise InputError(
            f"ssh.public_key: the private key {shown} is passphrase-protected and the SSH agent does not hold it; "
            f"{hint}",
            field="ssh.public_key",
        )
    return None


def _agent_holds(agent_sock: str, public_key: str) -> bool | None:
    """Whether the agent at `agent_sock` holds `public_key`; None when the agent does not answer."""
    import asyncssh

    try:
        wanted = asyncssh.import_public_key(public_key).public_data
    except (ValueError, asyncssh.KeyImportError):
        return None

    async def ask() -> bool:
        agent = await asyncssh.connect_agent(agent_sock)
        try:
            keys = await agent.get_keys()
        finally:
            agent.close()
            await agent.wait_closed()
        return any(k.public_data == wanted for k in keys)

    async def bounded() -> bool:
        return await asyncio.wait_for(ask(), AGENT_TIMEOUT_S)

    try:
        return asyncio.run(bounded())
    except (OSError, TimeoutError, asyncssh.Error, ValueError):
        return None
