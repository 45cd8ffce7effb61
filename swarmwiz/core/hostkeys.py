"""SSH host keys generated locally, so a node's key is known (pinned) before the first connection."""

from __future__ import annotations

import ipaddress

import asyncssh


def generate_host_key() -> tuple[str, str]:
    """A fresh ed25519 host key: (private key in OpenSSH format, public line "ssh-ed25519 AAAA...")."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    private = key.export_private_key("openssh").decode()
    public = key.export_public_key("openssh").decode().strip()
    return private, public_line(public)


def public_line(text: str) -> str:
    """The "type base64" part of an OpenSSH public key line (the comment dropped); validates the key."""
    fields = text.split()
    if len(fields) < 2:
        raise ValueError("not an OpenSSH public key line (expected 'type base64 [comment]')")
    asyncssh.import_public_key(f"{fields[0]} {fields[1]}")  # raises KeyImportError on garbage
    return f"{fields[0]} {fields[1]}"


def known_hosts_line(address: str, public_key_line: str, *, port: int = 22) -> str:
    """One known_hosts line pinning `public_key_line` to `address` (bracketed form for a non-default port)."""
    host = str(ipaddress.ip_address(address)) if _is_ip(address) else address
    if port != 22:
        host = f"[{host}]:{port}"
    return f"{host} {public_line(public_key_line)}"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
