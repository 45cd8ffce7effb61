"""`swarmwiz doctor`'s keyring line against a real Secret Service: usable, locked, or absent, each said plainly."""

from __future__ import annotations

import json
import subprocess
import sys

from test_keyring import GOOD, lock_default_collection


def doctor(env: dict[str, str]) -> dict[str, dict]:
    out = subprocess.run(
        [sys.executable, "-m", "swarmwiz", "doctor", "--offline", "--json"],
        env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert "Traceback" not in out.stderr, out.stderr
    return {c["check"]: c for c in json.loads(out.stdout)["checks"]}


def test_a_working_keyring_is_named(secret_service, child_env):
    keyring = doctor(child_env())["keyring"]
    assert keyring["status"] == "ok" and "SecretService" in keyring["detail"], keyring


def test_a_locked_keyring_says_so_and_what_to_do(secret_service, child_env):
    lock_default_collection()
    keyring = doctor(child_env())["keyring"]
    assert keyring["status"] == "fail" and "locked" in keyring["detail"], keyring
    assert "CLOUDFLARE_API_TOKEN" in keyring["fix"]


def test_no_secret_service_on_the_bus(bare_bus, child_env):
    keyring = doctor(child_env())["keyring"]
    assert keyring["status"] == "fail" and "no Secret Service" in keyring["detail"], keyring
    # With all four credentials in the environment the keyring is not needed: a warning, not a failure.
    assert doctor(child_env(GOOD))["keyring"]["status"] == "warn"
