"""A real Secret Service for the keyring tests: gnome-keyring in a private D-Bus session, stopped after each test."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PASSWORD = b"swarmwiz-test-keyring"
SECRETS_NAME = "org.freedesktop.secrets"
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@dataclass
class SessionBus:
    """A private dbus-daemon and, optionally, gnome-keyring on it; `env` reaches them (and a private HOME)."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)
    procs: list[subprocess.Popen] = field(default_factory=list)

    def start_bus(self) -> None:
        for sub in ("home", "data", "config", "runtime"):
            (self.root / sub).mkdir(mode=0o700, exist_ok=True)
        self.env = {
            "HOME": str(self.root / "home"),
            "XDG_DATA_HOME": str(self.root / "data"),
            "XDG_CONFIG_HOME": str(self.root / "config"),
            "XDG_RUNTIME_DIR": str(self.root / "runtime"),
        }
        # Our own bus config: no service directories, so nothing is bus-activated behind the test's back
        # (the session default would activate the installed gnome-keyring on first use).
        config = self.root / "bus.conf"
        config.write_text(BUS_CONFIG.format(dir=self.root))
        bus = subprocess.Popen(
            ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address=1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=self._child_env(),
            start_new_session=True,
        )
        self.procs.append(bus)
        address = bus.stdout.readline().decode().strip()
        assert address.startswith("unix:"), f"dbus-daemon printed no address (exit {bus.poll()})"
        self.env["DBUS_SESSION_BUS_ADDRESS"] = address

    def start_keyring(self, unlock: bool = True) -> None:
        argv = ["gnome-keyring-daemon", "--foreground", "--components=secrets"] + (["--unlock"] if unlock else [])
        daemon = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=self._child_env(),
            start_new_session=True,
        )
        self.procs.append(daemon)
        if unlock:
            daemon.stdin.write(PASSWORD)
        daemon.stdin.close()
        deadline = time.monotonic() + 10
        while not self.has_owner(SECRETS_NAME):
            assert daemon.poll() is None, f"gnome-keyring-daemon exited with {daemon.returncode}"
            assert time.monotonic() < deadline, "gnome-keyring-daemon did not take org.freedesktop.secrets in 10 s"
            time.sleep(0.02)

    def has_owner(self, name: str) -> bool:
        out = subprocess.run(
            [
                "dbus-send",
                "--session",
                "--dest=org.freedesktop.DBus",
                "--type=method_call",
                "--print-reply",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                f"string:{name}",
            ],
            env=self._child_env(),
            capture_output=True,
            text=True,
            timeout=10,
        )
        return "boolean true" in out.stdout

    def _child_env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if k not in ("DBUS_SESSION_BUS_ADDRESS", "PYTHON_KEYRING_BACKEND")}
        return base | self.env

    def stop(self) -> None:
        """Stop every process group started here (the daemons and anything the bus activated), newest first."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)
            # Anything a daemon spawned shares its process group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            if proc.stdout:
                proc.stdout.close()


def _group_alive(pgid: int) -> bool:
    """Whether a live (non-zombie) process is still in group `pgid`."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _session(tmp_path: Path, monkeypatch, *, keyring: bool, unlock: bool = True):
    import keyring as keyring_lib

    bus = SessionBus(tmp_path / "dbus")
    bus.root.mkdir()
    try:
        bus.start_bus()
        if keyring:
            bus.start_keyring(unlock=unlock)
        for key, value in bus.env.items():
            monkeypatch.setenv(key, value)
        # In-process tests name the Secret Service backend: keyring caches backend viability per process.
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.SecretService.Keyring")
        monkeypatch.setattr(keyring_lib.core, "_keyring_backend", None)
        yield bus
    finally:
        bus.stop()
        leaked = [p.pid for p in bus.procs if _group_alive(p.pid)]
        assert not leaked, f"processes left behind in groups {leaked}"


@pytest.fixture
def secret_service(tmp_path, monkeypatch):
    """An unlocked gnome-keyring on a private session bus; the test's env points at it."""
    yield from _session(tmp_path, monkeypatch, keyring=True)


@pytest.fixture
def locked_secret_service(tmp_path, monkeypatch):
    """gnome-keyring started without --unlock: opening the collection needs a prompt nobody can answer."""
    yield from _session(tmp_path, monkeypatch, keyring=True, unlock=False)


@pytest.fixture
def bare_bus(tmp_path, monkeypatch):
    """A session bus with no Secret Service on it."""
    yield from _session(tmp_path, monkeypatch, keyring=False)


@pytest.fixture
def child_env():
    """A function giving the current env for a child without credentials or a forced keyring backend."""
    drop = {
        "PYTHON_KEYRING_BACKEND",
        "SCW_ACCESS_KEY",
        "SCW_SECRET_KEY",
        "SCW_DEFAULT_PROJECT_ID",
        "CLOUDFLARE_API_TOKEN",
        "SCW_API_URL",
        "CLOUDFLARE_BASE_URL",
    }

    def make(extra: dict[str, str] | None = None) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k not in drop} | (extra or {})

    return make
