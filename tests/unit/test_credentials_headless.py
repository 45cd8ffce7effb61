"""`swarmwiz credentials set` where it cannot prompt (no terminal) or cannot store (no OS keyring): each refusal says
what works there. Run as the console script in a child process, with keyring's own `fail` backend for "no keyring"
and a small in-process backend for "a keyring"."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

GOOD = {
    "SCW_ACCESS_KEY": "SCW1234567890ABCDEFG",
    "SCW_SECRET_KEY": "7f3c2a9e-5b1d-4c8e-9a6f-0d2e4b6c8a10",
    "SCW_DEFAULT_PROJECT_ID": "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9",
    "CLOUDFLARE_API_TOKEN": "cfTOKEN_abcdefghijklmnopqrstuvwxyz0123456789",
}
EACH_RUN = "in the environment of each swarmwiz run instead, as CI does"
MEMORY_BACKEND = '''
from keyring.backend import KeyringBackend


class Memory(KeyringBackend):
    """A keyring that works for one process: enough for `credentials set` to store its four entries."""

    priority = 1
    entries = {}

    def get_password(self, service, name):
        return self.entries.get((service, name))

    def set_password(self, service, name, value):
        self.entries[(service, name)] = value

    def delete_password(self, service, name):
        self.entries.pop((service, name), None)
'''


@pytest.fixture
def keyring_env(tmp_path):
    """The environment of a child swarmwiz: `keyring` picks the OS keyring ("none" or "memory"), no credentials."""

    def make(keyring: str, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in GOOD and k != "DBUS_SESSION_BUS_ADDRESS"}
        if keyring == "none":
            env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
        else:
            (tmp_path / "memory_keyring.py").write_text(MEMORY_BACKEND)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
            env["PYTHON_KEYRING_BACKEND"] = "memory_keyring.Memory"
        return env | extra

    return make


def credentials_set(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "swarmwiz", "credentials", "set", *args],
        stdin=subprocess.DEVNULL,  # no terminal
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_without_a_terminal_or_a_keyring_it_says_to_set_the_variables_for_each_run(keyring_env):
    done = credentials_set(keyring_env("none"))
    assert done.returncode == 2, done.stderr
    said = done.stderr.strip()
    assert len(said.splitlines()) == 1, said
    assert "use `credentials set --from-env`" not in said  # that needs a keyring too
    assert "`--from-env` stores in the OS keyring, which cannot be used here" in said
    assert f"set SCW_ACCESS_KEY, SCW_SECRET_KEY, SCW_DEFAULT_PROJECT_ID and CLOUDFLARE_API_TOKEN {EACH_RUN}" in said


def test_from_env_without_a_keyring_says_to_keep_the_variables_set(keyring_env):
    done = credentials_set(keyring_env("none", **GOOD), "--from-env")
    assert done.returncode == 1, done.stderr
    said = done.stderr.strip()
    assert len(said.splitlines()) == 1 and "Stored" not in done.stdout, done.stdout + said
    assert "stores these variables in the OS keyring, which cannot be used here" in said
    assert f"keep them set {EACH_RUN}" in said
    assert not any(value in done.stdout + said for value in GOOD.values())


def test_without_a_terminal_but_with_a_keyring_it_points_to_from_env(keyring_env):
    done = credentials_set(keyring_env("memory"))
    assert done.returncode == 2 and "without one use `credentials set --from-env`" in done.stderr, done.stderr
    assert EACH_RUN not in done.stderr
    stored = credentials_set(keyring_env("memory", **GOOD), "--from-env")
    assert stored.returncode == 0 and 'Stored 4 entries under "swarmwiz"' in stored.stdout, stored.stderr
