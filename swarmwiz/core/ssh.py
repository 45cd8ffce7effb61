"""The one choke point for SSH (asyncssh): pinned host keys, quoted commands, bounded waits."""

from __future__ import annotations

import asyncio
import logging
import random
import shlex
import time
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncssh

from swarmwiz.core.errors import RemoteError
from swarmwiz.core.hostkeys import fingerprint, parse_fingerprints

log = logging.getLogger(__name__)

# The label ("manager-1 (51.15.0.7)") of each open connection, so run() can name the node in its errors.
_LABELS: weakref.WeakKeyDictionary[asyncssh.SSHClientConnection, str] = weakref.WeakKeyDictionary()

Connection = asyncssh.SSHClientConnection


def _label(address: str, node: str | None) -> str:
    return f"{node} ({address})" if node else address


class _PublishedKeyClient(asyncssh.SSHClient):
    """Trusts a server key only if its fingerprint is one the node published (nothing else is trusted)."""

    def __init__(self, fingerprints: frozenset[str]) -> None:
        self.fingerprints = fingerprints

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        return key.get_fingerprint("sha256") in self.fingerprints


def _known_hosts(known_hosts: Path | None, host_key: str | None, address: str, label: str, fingerprints=None):
    """What asyncssh checks the server's key against; there is no way to ask for "no checking"."""
    if fingerprints is not None:
        return ([], [], [])  # empty trust: every key goes to _PublishedKeyClient.validate_host_public_key
    if host_key:
        return ([asyncssh.import_public_key(host_key)], [], [])
    if known_hosts is None:
        raise RemoteError(f"no pinned host key for {label}: pass known_hosts or host_key", title="SSH host key")
    if not Path(known_hosts).is_file():
        raise RemoteError(f"known_hosts file {known_hosts} for {label} does not exist", title="SSH host key")
    return str(known_hosts)


async def connect(
    address: str,
    *,
    known_hosts: Path | None = None,
    host_key: str | None = None,
    client_keys: list[Path] | None = None,
    username: str = "root",
    connect_timeout: float = 10,
    node: str | None = None,
    port: int = 22,
    fingerprints: frozenset[str] | None = None,
) -> Connection:
    """Open an SSH connection whose host key must match `host_key`, the entry for `address` in `known_hosts`,
    or (given `fingerprints`) one of the SHA256 fingerprints the node published.

    A different key is refused with a RemoteError naming the node; so is an address with no pinned key.
    """
    label = _label(address, node)
    trusted = _known_hosts(known_hosts, host_key, address, label, fingerprints)
    if fingerprints is not None and not fingerprints:
        raise RemoteError(f"{label} published no host key fingerprint to pin", title="SSH host key")
    try:
        conn = await asyncssh.connect(
            address,
            port=port,
            known_hosts=trusted,
            client_factory=(lambda: _PublishedKeyClient(fingerprints)) if fingerprints is not None else None,
            client_keys=[str(k) for k in client_keys] if client_keys is not None else (),
            username=username,
            connect_timeout=connect_timeout,
            config=[],  # a user's ~/.ssh/config must not redirect a node's address elsewhere
        )
    except asyncssh.HostKeyNotVerifiable as exc:
        raise RemoteError(
            f"the SSH host key of {label} does not match the pinned key "
            f"({_pinned_by(host_key, known_hosts, fingerprints)}); refusing to connect. The server was replaced "
            f"or someone is intercepting the connection ({exc.reason})",
            title="SSH host key changed",
        ) from None
    except asyncssh.KeyImportError as exc:
        # An encrypted private key: swarmwiz cannot ask for its passphrase (and retrying will not help).
        raise RemoteError(
            f"the SSH client key for {label} cannot be loaded ({exc}); load it into the SSH agent (ssh-add) or use "
            "a key without a passphrase (ssh-keygen -t ed25519 -N '' -f ~/.ssh/swarmwiz, then ssh.public_key = "
            '"~/.ssh/swarmwiz.pub")',
            title="SSH key unusable",
        ) from None
    except asyncssh.PermissionDenied:
        raise RemoteError(
            f"SSH login as {username} to {label} was refused: the client key is not authorized",
            title="SSH login refused",
        ) from None
    except (TimeoutError, OSError, asyncssh.Error) as exc:
        raise RemoteError(f"cannot reach {label} over SSH: {_describe(exc)}", title="Node unreachable") from None
    _LABELS[conn] = label
    log.debug("%s: connected as %s", label, username)
    return conn


def _pinned_by(host_key: str | None, known_hosts: Path | None, fingerprints: frozenset[str] | None) -> str:
    if fingerprints is not None:
        return "the fingerprints it published in its user data"
    return "given key" if host_key else str(known_hosts)


async def pin_host_key(
    address: str,
    fingerprints: frozenset[str],
    *,
    client_keys: list[Path] | None = None,
    username: str = "root",
    connect_timeout: float = 10,
    node: str | None = None,
    port: int = 22,
) -> str:
    """Connect once, trusting only a host key whose fingerprint the node published (read over the
    authenticated Instance API), and return that key's public line, to pin in known_hosts for every later
    connection. A key with another fingerprint is refused (RemoteError "SSH host key changed")."""
    conn = await connect(
        address,
        fingerprints=frozenset(fingerprints),
        client_keys=client_keys,
        username=username,
        connect_timeout=connect_timeout,
        node=node,
        port=port,
    )
    try:
        return _key_line(conn, _label(address, node))
    finally:
        conn.close()
        await conn.wait_closed()


def _key_line(conn: Connection, label: str) -> str:
    """The public line ("ssh-ed25519 AAAA...") of the host key the server presented on `conn`."""
    key = conn.get_server_host_key()
    if key is None:
        raise RemoteError(f"{label} presented no host key to pin", title="SSH host key")
    return key.export_public_key("openssh").decode().split("\n")[0].strip()


async def wait_and_pin(address: str, published: Callable[[], Awaitable[str]], **options: Any) -> str:
    """Wait until the node has published its host key fingerprints (`published()` reads its
    `ssh-host-fingerprints` user data over the authenticated API; "" while there are none) and its sshd
    answers with a key that matches them; return that key's public line to pin in known_hosts.

    A key pinned by an earlier run (`pinned`) is kept while the node still publishes its fingerprint. If
    the node publishes other fingerprints, the server was replaced (or someone is in between): that is refused
    with an explicit RemoteError, never silently trusted again. Bounded by `timeout`, retried every `interval`.
    `options` are wait_and_connect's; the connection is closed again.
    """
    key, conn = await wait_and_connect(address, published, **options)
    conn.close()
    await conn.wait_closed()
    return key


UNPUBLISHED = "No host key published"
"""The title of a wait that ended before the node published its host key fingerprints (never connected)."""


async def wait_and_connect(
    address: str,
    published: Callable[[], Awaitable[str]],
    *,
    pinned: str | None = None,
    client_keys: list[Path] | None = None,
    username: str = "root",
    node: str | None = None,
    timeout: float = 300,
    interval: float = 1.0,
    poll_every: float | None = None,
    port: int = 22,
) -> tuple[str, Connection]:
    """`wait_and_pin` that keeps the connection it pinned the key through: returns (key line, open connection),
    so a deploy runs the node's whole bootstrap on that one connection instead of logging in again.

    The published fingerprints are read from the API every `poll_every` seconds (default `interval`, with
    jitter so that many nodes do not ask at once) until they appear, then never again: only sshd is retried,
    every `interval`. A hundred nodes waiting at once thus stay within the API's request budget."""
    label = _label(address, node)
    deadline = time.monotonic() + timeout
    last = "no fingerprints published yet"
    fingerprints: frozenset[str] = frozenset()
    while True:
        wait = interval
        if not fingerprints:
            fingerprints = parse_fingerprints(await published())
            if not fingerprints:
                wait = (poll_every or interval) * random.uniform(0.8, 1.2)
        if fingerprints and pinned and fingerprint(pinned) not in fingerprints:
            raise RemoteError(
                f"{label} now publishes other host key fingerprints than the key pinned for it earlier: the server "
                "was replaced (or someone is intercepting). If you replaced it, remove its lines from the "
                "cluster's known_hosts and run again",
                title="SSH host key changed",
            )
        if fingerprints:
            try:
                conn = await connect(
                    address,
                    fingerprints=frozenset(fingerprints),
                    client_keys=client_keys,
                    username=username,
                    connect_timeout=max(1.0, min(10.0, deadline - time.monotonic())),
                    node=node,
                    port=port,
                )
            except RemoteError as exc:
                if exc.title == "SSH host key changed":
                    raise
                last = exc.message
            else:
                try:
                    return _key_line(conn, label), conn
                except BaseException:
                    conn.close()
                    raise
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RemoteError(
                f"timed out after {timeout:g}s waiting for SSH on {label} with the host key whose fingerprint it "
                f"publishes; last: {last}",
                # Without fingerprints nothing was tried on the network: the advice differs (see nodeflow)
                title="Node unreachable" if fingerprints else UNPUBLISHED,
            )
        await asyncio.sleep(min(wait, remaining))


async def run(
    conn: Connection,
    argv: list[str],
    *,
    input: str | None = None,
    timeout: float | None = 120,
    check: bool = True,
    redact: tuple[str, ...] = (),
    display: list[str] | None = None,
) -> str:
    """Run `argv` on the node (each word quoted with shlex.join) and return its stdout.

    Secrets go through `input` (stdin), never argv: asyncssh logs command lines. A non-zero exit raises
    RemoteError with the status and the tail of stderr; `redact` strings never appear in that message, and
    `display` (if given) is the command shown there instead of `argv` (say, without a wrapper script).
    """
    label = _LABELS.get(conn, "remote node")
    command = shlex.join(argv)
    argv = display or argv
    started = time.monotonic()
    try:
        result = await asyncio.wait_for(conn.run(command, input=input, check=False), timeout)
    except TimeoutError:
        log.warning("%s: `%s` timed out after %gs", label, _short(argv, redact), timeout)
        raise RemoteError(f"{label}: timed out after {timeout:g}s waiting for `{_short(argv, redact)}`") from None
    except (OSError, asyncssh.Error) as exc:
        log.warning("%s: `%s` failed: %s", label, _short(argv, redact), _describe(exc))
        raise RemoteError(f"{label}: `{_short(argv, redact)}` failed: {_describe(exc)}") from None
    # Command and exit status only: stdout may hold a join token, and stdin always does.
    log.info(
        "%s: `%s` exited %s in %.2fs", label, _short(argv, redact),
        result.exit_status if result.exit_status is not None else f"by signal {result.exit_signal}",
        time.monotonic() - started,
    )  # fmt: skip
    if check and result.exit_status != 0:
        stderr = str(result.stderr or "").strip()
        tail = _scrub(stderr[-500:], redact) or "(no error output)"
        status = result.exit_status if result.exit_status is not None else f"signal {result.exit_signal}"
        raise RemoteError(f"{label}: `{_short(argv, redact)}` exited with {status}: {tail}")
    return str(result.stdout or "")


async def wait_for_ssh(
    address: str,
    *,
    known_hosts: Path | None = None,
    host_key: str | None = None,
    client_keys: list[Path] | None = None,
    username: str = "root",
    node: str | None = None,
    name: str | None = None,
    timeout: float = 180,
    interval: float = 1.0,
    port: int = 22,
) -> None:
    """Retry until sshd on `address` answers with the pinned key and accepts the login (then disconnect).

    `node` (or its alias `name`) labels the node in messages. A changed host key fails at once (waiting
    cannot fix it); anything else is retried until `timeout`, then RemoteError says what was waited for.
    """
    node = node or name
    label = _label(address, node)
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RemoteError(
                f"timed out after {timeout:g}s waiting for SSH on {label}; last error: {last}",
                title="Node unreachable",
            )
        try:
            conn = await connect(
                address,
                known_hosts=known_hosts,
                host_key=host_key,
                client_keys=client_keys,
                username=username,
                connect_timeout=max(1.0, min(10.0, remaining)),
                node=node,
                port=port,
            )
        except RemoteError as exc:
            if exc.title in ("SSH host key changed", "SSH key unusable") or "no pinned host key" in exc.message:
                raise
            last = exc.message
            log.debug("%s: not answering SSH yet: %s", label, last)
        else:
            conn.close()
            await conn.wait_closed()
            return
        await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))


def _short(argv: list[str], redact: tuple[str, ...]) -> str:
    text = shlex.join(argv)
    text = text if len(text) <= 120 else text[:117] + "..."
    return _scrub(text, redact)


def _scrub(text: str, redact: tuple[str, ...]) -> str:
    for secret in redact:
        if secret:
            text = text.replace(secret, "***")
    return text


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "connection timed out"
    if isinstance(exc, asyncssh.DisconnectError):
        return exc.reason or type(exc).__name__
    return str(exc) or type(exc).__name__
