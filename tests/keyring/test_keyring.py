"""The keyring store against a real Secret Service (gnome-keyring), and one clear sentence for each failure mode."""

from __future__ import annotations

import contextlib
import subprocess
import sys

import pytest

from swarmwiz.core.credentials import SERVICE, Credentials, KeyringStore, load_credentials
from swarmwiz.core.errors import CredentialError

pytestmark = pytest.mark.keyring

GOOD = {
    "SCW_ACCESS_KEY": "SCW1234567890ABCDEFG",
    "SCW_SECRET_KEY": "7f3c2a9e-5b1d-4c8e-9a6f-0d2e4b6c8a10",
    "SCW_DEFAULT_PROJECT_ID": "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9",
    "CLOUDFLARE_API_TOKEN": "cfTOKEN_abcdefghijklmnopqrstuvwxyz0123456789",
}
ENTRIES = {"scw_access_key", "scw_secret_key", "scw_project_id", "cloudflare_api_token"}


def stored_items() -> dict[str, str]:
    """{entry: value} of every item under service "swarmwiz", read straight from the Secret Service."""
    import secretstorage

    with contextlib.closing(secretstorage.dbus_init()) as conn:
        items = secretstorage.search_items(conn, {"service": SERVICE})
        return {i.get_attributes()["username"]: i.get_secret().decode() for i in items}


def swarmwiz(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "swarmwiz", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def lock_default_collection() -> None:
    import secretstorage

    with contextlib.closing(secretstorage.dbus_init()) as conn:
        collection = secretstorage.get_default_collection(conn)
        collection.lock()
        assert collection.is_locked()


def test_set_read_delete(secret_service):
    store = KeyringStore()
    creds = Credentials(
        scw_access_key=GOOD["SCW_ACCESS_KEY"],
        scw_secret_key=GOOD["SCW_SECRET_KEY"],
        scw_project_id=GOOD["SCW_DEFAULT_PROJECT_ID"],
        cloudflare_token=GOOD["CLOUDFLARE_API_TOKEN"],
    )
    assert set(store.write(creds)) == ENTRIES
    assert stored_items() == {
        "scw_access_key": GOOD["SCW_ACCESS_KEY"],
        "scw_secret_key": GOOD["SCW_SECRET_KEY"],
        "scw_project_id": GOOD["SCW_DEFAULT_PROJECT_ID"],
        "cloudflare_api_token": GOOD["CLOUDFLARE_API_TOKEN"],
    }
    loaded, sources = load_credentials(env={}, store=KeyringStore())
    assert loaded == creds
    assert set(sources.values()) == {"keyring"}
    assert set(KeyringStore().clear()) == ENTRIES
    assert stored_items() == {}
    assert KeyringStore().clear() == []


def test_env_takes_precedence_and_sources_say_so(secret_service):
    KeyringStore().write(Credentials(scw_access_key="SCWKEYRINGKEYRINGKEY", scw_secret_key=GOOD["SCW_SECRET_KEY"]))
    creds, sources = load_credentials(env={"SCW_ACCESS_KEY": GOOD["SCW_ACCESS_KEY"]})
    assert creds.scw_access_key == GOOD["SCW_ACCESS_KEY"]
    assert sources == {
        "scw_access_key": "env",
        "scw_secret_key": "keyring",
        "scw_project_id": "missing",
        "cloudflare_token": "missing",
    }


def test_locked_collection_says_locked(secret_service):
    KeyringStore().set("scw_access_key", GOOD["SCW_ACCESS_KEY"])
    lock_default_collection()
    with pytest.raises(CredentialError) as info:
        KeyringStore().get("scw_access_key")
    message = str(info.value)
    assert "locked" in message and "SCW_ACCESS_KEY" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_daemon_without_unlock_says_prompt_dismissed(locked_secret_service):
    with pytest.raises(CredentialError) as info:
        KeyringStore().set("scw_secret_key", GOOD["SCW_SECRET_KEY"])
    message = str(info.value)
    assert "prompt" in message and "dismissed" in message
    assert GOOD["SCW_SECRET_KEY"] not in message


def test_cli_without_secret_service_on_the_bus(bare_bus, child_env):
    result = swarmwiz("credentials", "check", env=child_env())
    assert result.returncode == 1
    assert "no Secret Service" in result.stderr and "CLOUDFLARE_API_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_with_bus_address_pointing_at_nothing(tmp_path, child_env):
    env = child_env({"DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path}/no-bus-here"})
    result = swarmwiz("credentials", "set", "--from-env", env=env | GOOD)
    assert result.returncode == 1
    assert "cannot be reached" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert all(v not in result.stderr + result.stdout for v in GOOD.values())


def test_cli_without_any_session_bus(child_env):
    env = {k: v for k, v in child_env().items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    result = swarmwiz("credentials", "delete", "--yes", env=env)
    assert result.returncode == 1
    assert "DBUS_SESSION_BUS_ADDRESS is unset" in result.stderr and "Traceback" not in result.stderr


def test_cli_locked_collection(secret_service, child_env):
    lock_default_collection()
    result = swarmwiz("credentials", "check", env=child_env())
    assert result.returncode == 1
    assert "locked" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_daemon_without_unlock(locked_secret_service, child_env):
    result = swarmwiz("credentials", "set", "--from-env", env=child_env(GOOD))
    assert result.returncode == 1
    assert "dismissed" in result.stderr and "Traceback" not in result.stderr


def test_env_only_needs_no_keyring(child_env, tmp_path):
    """The documented headless path: all four in the environment, no bus at all, no keyring opened."""
    env = {k: v for k, v in child_env(GOOD).items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    # A closed loopback port: the check fails on reachability, not on the keyring.
    env |= {"SCW_API_URL": "http://127.0.0.1:9", "CLOUDFLARE_BASE_URL": "http://127.0.0.1:9/client/v4"}
    result = swarmwiz("credentials", "check", env=env)
    assert result.returncode == 1
    assert result.stdout.count("(env)") == 4 and result.stdout.count("Cannot reach") == 4
    assert "keyring" not in result.stderr


def test_cli_set_check_delete_flow(secret_service, child_env):
    """set --from-env stores four entries; check reads them from the keyring; delete leaves none."""
    result = swarmwiz("credentials", "set", "--from-env", env=child_env(GOOD))
    assert result.returncode == 0, result.stderr
    assert set(stored_items()) == ENTRIES
    assert all(v not in result.stdout + result.stderr for v in GOOD.values())

    unreachable = {"SCW_API_URL": "http://127.0.0.1:9", "CLOUDFLARE_BASE_URL": "http://127.0.0.1:9/client/v4"}
    result = swarmwiz("credentials", "check", env=child_env(unreachable))
    assert result.returncode == 1
    assert result.stdout.count("(keyring)") == 4
    assert GOOD["SCW_SECRET_KEY"] not in result.stdout and GOOD["CLOUDFLARE_API_TOKEN"] not in result.stdout

    result = swarmwiz("credentials", "delete", env=child_env())
    assert result.returncode == 2 and "--yes" in result.stderr
    assert set(stored_items()) == ENTRIES

    result = swarmwiz("credentials", "delete", "--yes", env=child_env())
    assert result.returncode == 0, result.stderr
    assert stored_items() == {}


def test_cli_set_from_env_rejects_malformed_and_stores_nothing(secret_service, child_env):
    result = swarmwiz("credentials", "set", "--from-env", env=child_env(GOOD | {"SCW_SECRET_KEY": "nope-nope"}))
    assert result.returncode == 2
    assert "Scaleway secret key is malformed" in result.stderr and "nope-nope" not in result.stderr
    assert stored_items() == {}


@pytest.mark.lab
def test_cli_flow_against_the_lab_api(secret_service, child_env, tmp_path):
    """Lab credentials stored with set --from-env, checked live from the keyring (all ok), then deleted."""
    import threading

    from swarmwiz.lab import state as files
    from swarmwiz.lab.api import serve

    lab_dir = tmp_path / "lab"
    with files.locked(lab_dir):
        raw = files.load_credentials(lab_dir)
    lab_creds = {k: raw[k] for k in GOOD}
    server = serve(lab_dir, None)  # API only: a loopback HTTP server
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = swarmwiz("credentials", "set", "--from-env", env=child_env(lab_creds))
        assert result.returncode == 0, result.stderr
        assert stored_items() == {
            "scw_access_key": raw["SCW_ACCESS_KEY"],
            "scw_secret_key": raw["SCW_SECRET_KEY"],
            "scw_project_id": raw["SCW_DEFAULT_PROJECT_ID"],
            "cloudflare_api_token": raw["CLOUDFLARE_API_TOKEN"],
        }
        endpoints = {"SCW_API_URL": url, "CLOUDFLARE_BASE_URL": f"{url}/client/v4"}
        result = swarmwiz("credentials", "check", env=child_env(endpoints))
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.count("(keyring)") == 4 and result.stdout.count("ok  ") == 4
        # The environment still wins over the keyring, and says so.
        result = swarmwiz(
            "credentials",
            "check",
            env=child_env(endpoints | {"SCW_SECRET_KEY": "00000000-0000-4000-8000-000000000000"}),
        )
        assert result.returncode == 1
        assert "FAIL  Scaleway secret key   (env)" in result.stdout and "rejected" in result.stdout
        output = result.stdout + result.stderr
        assert raw["SCW_SECRET_KEY"] not in output and raw["CLOUDFLARE_API_TOKEN"] not in output
        result = swarmwiz("credentials", "delete", "--yes", env=child_env())
        assert result.returncode == 0 and "Deleted 4 entries" in result.stdout
        assert stored_items() == {}
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_interactive_set_without_a_keyring_says_so_before_asking(child_env, tmp_path):
    """On a terminal without a keyring, `credentials set` fails before its first prompt, not after four answers
    that have nowhere to go (a pty from util-linux `script`: the prompts only come on a terminal)."""
    import shutil

    assert shutil.which("script"), "util-linux script is needed"
    env = {k: v for k, v in child_env().items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    done = subprocess.run(
        ["script", "-qec", f"{sys.executable} -m swarmwiz credentials set", "/dev/null"],
        input="", capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Scaleway access key" not in done.stdout
    assert "DBUS_SESSION_BUS_ADDRESS is unset" in done.stdout and "nothing was asked or stored" in done.stdout


def test_interactive_set_masks_secrets_in_a_real_terminal(secret_service, tmp_path):
    """`credentials set` in tmux: the secret key and token echo as stars; a malformed answer is refused."""
    import os
    import shutil
    import time

    assert shutil.which("tmux"), "tmux is needed (scripts/setup.sh installs it)"
    sock = f"swarmwiz-test-{os.getpid()}-{tmp_path.name}"
    env_args = [a for k, v in secret_service.env.items() for a in ("-e", f"{k}={v}")]
    env_args += ["-e", f"SWARMWIZ_HOME={os.environ['SWARMWIZ_HOME']}"]
    command = f"{sys.executable} -m swarmwiz credentials set; echo EXIT=$?; sleep 60"

    def tmux(*args: str) -> str:
        return subprocess.run(["tmux", "-L", sock, *args], capture_output=True, text=True, timeout=10).stdout

    def wait_for(text: str) -> str:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pane = tmux("capture-pane", "-p")
            if text in pane:
                return pane
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared; the pane shows:\n{pane}")

    tmux("new-session", "-d", "-x", "150", "-y", "30", *env_args, command)
    try:
        wait_for("Scaleway access key:")
        tmux("send-keys", GOOD["SCW_ACCESS_KEY"], "Enter")
        wait_for("Scaleway secret key:")
        tmux("send-keys", GOOD["SCW_SECRET_KEY"], "Enter")
        wait_for("Scaleway project ID:")
        tmux("send-keys", "1234", "Enter")
        wait_for("Scaleway project ID is malformed")
        tmux("send-keys", *["BSpace"] * 4, GOOD["SCW_DEFAULT_PROJECT_ID"], "Enter")
        wait_for("Cloudflare API token:")
        tmux("send-keys", GOOD["CLOUDFLARE_API_TOKEN"], "Enter")
        pane = wait_for("EXIT=")
    finally:
        tmux("kill-server")
    assert "EXIT=0" in pane and "Stored 4 entries" in pane
    assert GOOD["SCW_SECRET_KEY"] not in pane and GOOD["CLOUDFLARE_API_TOKEN"] not in pane
    assert "*" * len(GOOD["SCW_SECRET_KEY"]) in pane
    assert stored_items()["scw_project_id"] == GOOD["SCW_DEFAULT_PROJECT_ID"]
    assert set(stored_items()) == ENTRIES
