"""SSH host keys: fingerprints a node publishes (pinned before the first connection) and known_hosts lines."""

from __future__ import annotations

import ipaddress
import re

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


_SHA256 = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")


def fingerprint(public_key_line: str) -> str:
    """The SHA256 fingerprint ("SHA256:...", as `ssh-keygen -l` prints it) of an OpenSSH public key line."""
    return asyncssh.import_public_key(public_line(public_key_line)).get_fingerprint("sha256")


def parse_fingerprints(text: str) -> frozenset[str]:
    """The SHA256 fingerprints in a node's published `ssh-host-fingerprints` user data (`ssh-keygen -l` lines,
    "256 SHA256:... root@host (ED25519)"); MD5 fingerprints and anything else are ignored."""
    return frozenset(_SHA256.findall(text or ""))
