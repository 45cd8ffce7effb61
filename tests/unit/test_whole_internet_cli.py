"""`plan` with a cluster.toml whose ssh.allowed_cidrs is the whole internet warns on stderr in one line and keeps its
exit code; a narrower range says nothing; a bad input still gets its one error sentence alone."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

WARNING = "swarmwiz: warning: ssh.allowed_cidrs includes {wide}: the whole internet can try to log in over SSH"


def plan_offline(config, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "swarmwiz", "plan", "-c", str(config), "--offline"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def with_cidrs(cluster_toml, cidrs: str):
    text = cluster_toml.read_text()
    assert 'allowed_cidrs = ["0.0.0.0/0"]' in text
    cluster_toml.write_text(text.replace('allowed_cidrs = ["0.0.0.0/0"]', f"allowed_cidrs = {cidrs}"))
    return cluster_toml


@pytest.mark.parametrize(
    ("cidrs", "wide"),
    [('["0.0.0.0/0"]', "0.0.0.0/0"), ('["203.0.113.7/32", "::/0"]', "::/0")],
)
def test_the_whole_internet_is_warned_about_in_one_line(cluster_toml, cidrs, wide):
    out = plan_offline(with_cidrs(cluster_toml, cidrs))
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(WARNING.format(wide=wide)), out.stderr
    assert "total" in out.stdout  # the plan itself is unchanged


def test_a_narrow_range_says_nothing(cluster_toml):
    out = plan_offline(with_cidrs(cluster_toml, '["203.0.113.7/32", "2001:db8::/32"]'))
    assert out.returncode == 0 and out.stderr == "", out.stderr


def test_an_error_stands_alone(cluster_toml, tmp_path):
    home = tmp_path / "home-file"
    home.write_text("not a directory")
    out = plan_offline(cluster_toml, {"SWARMWIZ_HOME": str(home)})
    assert out.returncode == 2
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("swarmwiz: error:"), out.stderr
