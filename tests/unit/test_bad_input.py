"""The bad-input battery: invalid specs and command lines get exit 2, one clear line per problem naming the field,
no traceback, and nothing created under SWARMWIZ_HOME."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from swarmwiz.cli import main

GOOD = """\
name = "demo"
zones = ["fr-par-1", "fr-par-2"]
[managers]
count = 3
type = "DEV1-S"
[workers]
count = 2
type = "DEV1-M"
[dns]
domain = "example.com"
[ssh]
public_key = "{key}"
allowed_cidrs = ["0.0.0.0/0"]
"""

# (description, replacement applied to GOOD, field named in the error)
SPEC_CASES = [
    ("uppercase name", ('name = "demo"', 'name = "Demo"'), "name"),
    ("shell metacharacters in name", ('name = "demo"', 'name = "demo; rm -rf ~"'), "name"),
    ("command substitution in name", ('name = "demo"', 'name = "$(reboot)"'), "name"),
    ("unicode name", ('name = "demo"', 'name = "démo"'), "name"),
    ("very long name", ('name = "demo"', 'name = "' + "a" * 10_000 + '"'), "name"),
    ("newline in name", ('name = "demo"', 'name = "de\\nmo"'), "name"),
    ("unknown zone", ('"fr-par-2"]', '"mars-1"]'), "zones"),
    ("zones over two regions", ('"fr-par-2"]', '"nl-ams-1"]'), "zones"),
    ("even manager count", ("count = 3", "count = 4"), "managers.count"),
    ("zero managers", ("count = 3", "count = 0"), "managers.count"),
    ("string manager count", ("count = 3", 'count = "3"'), "managers.count"),
    ("negative workers", ("count = 2", "count = -2"), "workers.count"),
    ("unknown instance type", ('type = "DEV1-M"', 'type = "MEGA-9000"'), "workers.type"),
    ("type injection", ('type = "DEV1-M"', 'type = "DEV1-M\\" ; }"'), "workers.type"),
    ("domain with spaces", ('domain = "example.com"', 'domain = "exa mple.com"'), "dns.domain"),
    ("domain with shell", ('domain = "example.com"', 'domain = "`id`.com"'), "dns.domain"),
    ("HCL interpolation in domain", ('domain = "example.com"', 'domain = "${file(\\"/etc/passwd\\")}"'), "dns.domain"),
    ("single label domain", ('domain = "example.com"', 'domain = "com"'), "dns.domain"),
    ("bad CIDR", ('allowed_cidrs = ["0.0.0.0/0"]', 'allowed_cidrs = ["1.2.3.4/99"]'), "ssh.allowed_cidrs"),
    (
        "CIDR with junk",
        ('allowed_cidrs = ["0.0.0.0/0"]', 'allowed_cidrs = ["0.0.0.0/0 && curl x"]'),
        "ssh.allowed_cidrs",
    ),
    ("missing key file", ("{key}", "/does/not/exist.pub"), "ssh.public_key"),
    ("typo in a table name", ("[workers]", "[worker]"), "'worker'"),
    ("typo in a key", ('domain = "example.com"', 'domian = "example.com"'), "dns.'domian'"),
    ("broken TOML", ("[managers]", "[managers"), "cluster.toml"),
]


@pytest.fixture
def spec_file(tmp_path, ssh_keypair):
    def make(old: str, new: str):
        text = GOOD.replace("{key}", str(ssh_keypair[1])) if old != "{key}" else GOOD
        text = (
            text.replace(old.replace("{key}", str(ssh_keypair[1])), new, 1)
            if old != "{key}"
            else text.replace("{key}", new)
        )
        path = tmp_path / "cluster.toml"
        path.write_text(text)
        return path

    return make


@pytest.mark.parametrize(("what", "change", "field"), SPEC_CASES, ids=[c[0] for c in SPEC_CASES])
@pytest.mark.parametrize("command", ["plan", "deploy"])
def test_invalid_spec(spec_file, capsys, swarmwiz_home, what, change, field, command):
    path = spec_file(*change)
    argv = [command, "-c", str(path), "--lab"] + (["--yes"] if command == "deploy" else [])
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert lines, what
    assert all(line.startswith("swarmwiz: error: ") for line in lines), err
    assert any(line.removeprefix("swarmwiz: error: ").startswith(field) for line in lines), err
    assert all(len(line) < 400 for line in lines)
    assert "Traceback" not in err
    assert not any(swarmwiz_home.rglob("*")), "something was created"


COMMAND_LINES = [
    ["status", "Bad Name"],
    ["status", "../../etc"],
    ["destroy", "$(reboot)", "--yes"],
    ["status", "x" * 5000],
    ["deploy", "-c"],
    ["plan", "-c", "/nonexistent/cluster.toml"],
    ["credentials", "frobnicate"],
    ["lab", "nuke"],
    ["--no-such-flag"],
]


@pytest.mark.parametrize("argv", COMMAND_LINES, ids=lambda a: " ".join(a)[:40])
def test_invalid_command_line(argv, swarmwiz_home):
    out = subprocess.run(
        [sys.executable, "-m", "swarmwiz", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SWARMWIZ_HOME": str(swarmwiz_home)},
    )
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("swarmwiz: error:"), out.stderr
    assert len(lines[0]) < 400 and "Traceback" not in out.stderr
    assert not any(swarmwiz_home.rglob("*"))
