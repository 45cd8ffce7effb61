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
