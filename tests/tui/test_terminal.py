"""The wizard in a real terminal (tmux): it starts, shows the first screen, and ctrl+q quits."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

SWARMWIZ = Path(sys.executable).parent / "swarmwiz"

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/setup.sh)")


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_starts_shows_welcome_and_quits_with_ctrl_q(tmp_path, swarmwiz_home):
    socket = f"swarmwiz-test-{uuid.uuid4().hex[:8]}"  # a private tmux server: never touches anyone's sessions
    tmux = ["tmux", "-L", socket, "-f", "/dev/null"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCW_", "CLOUDFLARE_", "TMUX"))}
    env["SWARMWIZ_HOME"] = str(swarmwiz_home)
    marker = tmp_path / "exit-code"
    command = f"{SWARMWIZ}; echo $? > {marker}"  # not --lab: that would start a lab
    subprocess.run([*tmux, "new-session", "-d", "-x", "80", "-y", "24", "-s", "wiz", command], env=env, check=True)

    def screen() -> str:
        out = subprocess.run([*tmux, "capture-pane", "-p", "-t", "wiz"], capture_output=True, text=True)
        return out.stdout

    try:
        text = wait_for(lambda: "Help" in (s := screen()) and s, 30, "the welcome screen with its footer")
        assert "swarmwiz" in text and "Welcome" in text and "Clusters known here" in text
        assert "New cluster" in text and "Quit" in text
        assert "LAB" not in text
        subprocess.run([*tmux, "send-keys", "-t", "wiz", "C-q"], check=True)
        wait_for(marker.exists, 15, "swarmwiz to exit after ctrl+q")
        assert marker.read_text().strip() == "0"
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


def test_plain_mode_asks_line_by_line_and_quits(tmp_path, swarmwiz_home):
    socket = f"swarmwiz-test-{uuid.uuid4().hex[:8]}"
    tmux = ["tmux", "-L", socket, "-f", "/dev/null"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCW_", "CLOUDFLARE_", "TMUX"))}
    env["SWARMWIZ_HOME"] = str(swarmwiz_home)
    marker = tmp_path / "exit-code"
    command = f"{SWARMWIZ} --plain; echo $? > {marker}"
    subprocess.run([*tmux, "new-session", "-d", "-x", "80", "-y", "24", "-s", "plain", command], env=env, check=True)

    def screen() -> str:
        return subprocess.run([*tmux, "capture-pane", "-p", "-t", "plain"], capture_output=True, text=True).stdout

    try:
        text = wait_for(lambda: "Quit" in (s := screen()) and s, 30, "the first question")
        assert "What do you want to do?" in text and "Create a new cluster" in text
        subprocess.run([*tmux, "send-keys", "-t", "plain", "Down"], check=True)
        wait_for(lambda: "» Quit" in screen(), 10, "the Quit choice to be highlighted")
        subprocess.run([*tmux, "send-keys", "-t", "plain", "Enter"], check=True)
        wait_for(marker.exists, 15, "swarmwiz --plain to exit")
        assert marker.read_text().strip() == "0"
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


def test_first_steps_with_only_enter_arrows_and_typing(tmp_path, swarmwiz_home):
    """In a real 80x24 terminal: welcome -> credentials -> name -> types -> counts -> domain -> SSH, pressing only
    Enter, arrows and letters (no Tab, no mouse). The APIs point at a closed loopback port, so nothing leaves the
    machine: the catalogue falls back to the bundled one and the domain list to typing."""
    socket = f"swarmwiz-test-{uuid.uuid4().hex[:8]}"
    tmux = ["tmux", "-L", socket, "-f", "/dev/null"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCW_", "CLOUDFLARE_", "TMUX"))}
    env |= {
        "SWARMWIZ_HOME": str(swarmwiz_home),
        "HOME": str(tmp_path),  # no ~/.ssh keys of the person running the tests
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
        # Well-formed credentials from the environment (so the step is pre-filled, nothing goes to a keyring)
        "SCW_ACCESS_KEY": "SCW" + "A" * 17,
        "SCW_SECRET_KEY": "11111111-2222-4333-8444-555555555555",
        "SCW_DEFAULT_PROJECT_ID": "66666666-7777-4888-9999-aaaaaaaaaaaa",
        "CLOUDFLARE_API_TOKEN": "t" * 40,
        "SCW_API_URL": "http://127.0.0.1:9",  # the discard port: refused at once, never the real API
        "CLOUDFLARE_BASE_URL": "http://127.0.0.1:9/client/v4",
    }
    marker = tmp_path / "exit-code"
    command = f"{SWARMWIZ}; echo $? > {marker}"
    subprocess.run([*tmux, "new-session", "-d", "-x", "80", "-y", "24", "-s", "wiz", command], env=env, check=True)

    screens: list[str] = []

    def screen() -> str:
        screens.append(
            subprocess.run([*tmux, "capture-pane", "-p", "-t", "wiz"], capture_output=True, text=True).stdout
        )
        return screens[-1]

    def see(text: str, timeout: float, what: str) -> str:
        try:
            return wait_for(lambda: text in (s := screen()) and s, timeout, what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the screen:\n{screen()}") from None

    def keys(*names: str) -> None:
        for name in names:  # one at a time, as a person types: each key lands on what the last one showed
            subprocess.run([*tmux, "send-keys", "-t", "wiz", name], check=True)
            time.sleep(0.2)

    try:
        see("Press Enter (or n)", 30, "the welcome screen with its (empty) list of clusters")
        keys("Enter")  # New cluster has the focus when no cluster is known
        see("from the environment", 30, "the credentials from the environment")
        keys("Enter", "Enter", "Enter", "Enter")  # through the four fields; Enter in the last one goes on
        see("Name and place", 30, "the name step")
        keys("d", "e", "m", "o", "Enter")
        see("Source:", 30, "the types step with its catalogue")
        keys("Down", "Enter")  # the highlighted type for managers and workers, and on
        see("Node counts", 30, "the counts step")
        keys("Right", "Enter")  # 3 -> 5 managers; Enter moves on to the workers
        see("5 managers", 10, "five managers chosen")
        keys("Enter")  # the workers field with its default: on
        see("Domain", 30, "the domain step")
        see("type the domain below", 30, "the zone listing to fail over to typing")
        keys(*"example.com", "Enter")
        text = see("SSH access", 30, "the SSH step")
        assert "No public keys" in text  # HOME is empty: it offers to generate one
        # The API calls to the closed port log retry warnings; they once landed over the welcome screen.
        assert not [s for s in screens if "WARNING" in s]
        keys("C-q")
        wait_for(marker.exists, 15, "swarmwiz to exit after ctrl+q")
        assert marker.read_text().strip() == "0"
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
