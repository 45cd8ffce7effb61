"""The bad-input battery: invalid specs and command lines get exit 2, one clear line per problem naming the field,
no traceback, and nothing created under SWARMWIZ_HOME."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import cluster_text

from swarmwiz.cli import main

GOOD = cluster_text("{key}")  # the key is filled in per test

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
    # `match` with `$` accepts a trailing newline; every pattern is a fullmatch now
    ("trailing newline in name", ('name = "demo"', 'name = "demo\\n"'), "name"),
    ("trailing newline in image", ('name = "demo"', 'name = "demo"\nimage = "ubuntu_noble\\n"'), "image"),
    ("image with a space", ('name = "demo"', 'name = "demo"\nimage = "ubuntu noble"'), "image"),
    ("image with a path", ('name = "demo"', 'name = "demo"\nimage = "../../etc/passwd"'), "image"),
    ("image not a string", ('name = "demo"', 'name = "demo"\nimage = 7'), "image"),
    ("escape sequence in name", ('name = "demo"', 'name = "\\u001b[2Jdemo"'), "name"),
    ("empty name", ('name = "demo"', 'name = ""'), "name"),
    ("name starting with a digit", ('name = "demo"', 'name = "1demo"'), "name"),
    ("name is a number", ('name = "demo"', "name = 42"), "name"),
    # private networks: RFC 1918 only
    ("link-local subnet", ("[dns]", '[network]\nprivate_subnet = "169.254.0.0/16"\n[dns]'), "network.private_subnet"),
    ("loopback subnet", ("[dns]", '[network]\nprivate_subnet = "127.0.0.0/16"\n[dns]'), "network.private_subnet"),
    ("0.0.0.0 subnet", ("[dns]", '[network]\nprivate_subnet = "0.0.0.0/16"\n[dns]'), "network.private_subnet"),
    ("public subnet", ("[dns]", '[network]\nprivate_subnet = "8.8.8.0/24"\n[dns]'), "network.private_subnet"),
    ("CGNAT subnet", ("[dns]", '[network]\nprivate_subnet = "100.64.0.0/16"\n[dns]'), "network.private_subnet"),
    ("IPv6 subnet", ("[dns]", '[network]\nprivate_subnet = "fd00::/64"\n[dns]'), "network.private_subnet"),
    ("subnet host bits", ("[dns]", '[network]\nprivate_subnet = "10.0.0.1/16"\n[dns]'), "network.private_subnet"),
    ("subnet too large", ("[dns]", '[network]\nprivate_subnet = "10.0.0.0/8"\n[dns]'), "network.private_subnet"),
    ("subnet too small", ("[dns]", '[network]\nprivate_subnet = "10.0.0.0/30"\n[dns]'), "network.private_subnet"),
    ("subnet not a string", ("[dns]", "[network]\nprivate_subnet = 10\n[dns]"), "network.private_subnet"),
    ("subnet with newline", ("[dns]", '[network]\nprivate_subnet = "10.1.0.0/16\\n"\n[dns]'), "network.private_subnet"),
    ("network not a table", ('name = "demo"', 'name = "demo"\nnetwork = "10.0.0.0/16"'), "network"),
    # structure and types
    (
        "zones nested 5000 deep",
        ('zones = ["fr-par-1", "fr-par-2"]', "zones = " + "[" * 5000 + "]" * 5000),
        "cluster.toml",
    ),
    ("zones not a list", ('zones = ["fr-par-1", "fr-par-2"]', 'zones = "fr-par-1"'), "zones"),
    ("no zones", ('zones = ["fr-par-1", "fr-par-2"]', "zones = []"), "zones"),
    ("zone listed twice", ('"fr-par-2"]', '"fr-par-1"]'), "zones"),
    ("zone not a string", ('zones = ["fr-par-1", "fr-par-2"]', 'zones = ["fr-par-1", 2]'), "zones"),
    ("four zones", ('"fr-par-2"]', '"fr-par-2", "nl-ams-1", "nl-ams-2"]'), "zones"),
    ("zone with newline", ('"fr-par-2"]', '"fr-par-2\\n"]'), "zones"),
    ("missing name", ('name = "demo"\n', ""), "name"),
    ("too many workers", ("count = 2", "count = 101"), "workers.count"),
    ("fractional workers", ("count = 2", "count = 2.5"), "workers.count"),
    ("boolean manager count", ("count = 3", "count = true"), "managers.count"),
    ("retired instance type", ('type = "DEV1-M"', 'type = "START1-S"'), "workers.type"),
    ("apex not a boolean", ('domain = "example.com"', 'domain = "example.com"\napex = "yes"'), "dns.apex"),
    ("domain with newline", ('domain = "example.com"', 'domain = "example.com\\nevil.com"'), "dns.domain"),
    ("domain too long", ('domain = "example.com"', 'domain = "' + "a" * 250 + '.com"'), "dns.domain"),
    ("domain not a string", ('domain = "example.com"', "domain = 1"), "dns.domain"),
    ("no allowed CIDRs", ('allowed_cidrs = ["0.0.0.0/0"]', "allowed_cidrs = []"), "ssh.allowed_cidrs"),
    ("CIDRs not a list", ('allowed_cidrs = ["0.0.0.0/0"]', 'allowed_cidrs = "0.0.0.0/0"'), "ssh.allowed_cidrs"),
    ("CIDR host bits", ('allowed_cidrs = ["0.0.0.0/0"]', 'allowed_cidrs = ["10.0.0.1/8"]'), "ssh.allowed_cidrs"),
    ("key path not a string", ('public_key = "{key}"', "public_key = 5"), "ssh.public_key"),
    ("key path with escapes", ("{key}", "/tmp/\\u001b[31mred\\u0007.pub"), "ssh.public_key"),
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


def assert_one_sentence(err: str, field: str, home) -> None:
    """One line per problem, one of them naming `field` first; no traceback, no raw control character, and
    nothing under SWARMWIZ_HOME. (A typo in a table name is two problems: the unknown table, the missing one.)"""
    lines = err.strip().splitlines()
    assert 1 <= len(lines) <= 3, err
    assert all(line.startswith("swarmwiz: error: ") for line in lines), err
    assert any(line.startswith(f"swarmwiz: error: {field}") for line in lines), err
    assert len(lines[0]) < 400 and "Traceback" not in err
    assert not any(ord(c) < 32 and c != "\n" for c in err), repr(err)
    assert "\x1b" not in err and "\x07" not in err
    assert not any(home.rglob("*")), "something was created"


@pytest.mark.parametrize(("what", "change", "field"), SPEC_CASES, ids=[c[0] for c in SPEC_CASES])
@pytest.mark.parametrize("command", ["plan", "deploy"])
def test_invalid_spec(spec_file, capsys, swarmwiz_home, what, change, field, command):
    path = spec_file(*change)
    argv = [command, "-c", str(path), "--lab"] + (["--yes"] if command == "deploy" else [])
    assert main(argv) == 2
    assert_one_sentence(capsys.readouterr().err, field, swarmwiz_home)


def _key_line(ssh_keypair) -> str:
    return ssh_keypair[1].read_text().strip()


def _fifo(path):
    os.mkfifo(path)
    return path


# (description, writes the key file at the path given (or returns another path), ...)
KEY_CASES = [
    ("blob not base64", lambda p, k: p.write_text("ssh-ed25519 !!!not-base64!!! me\n")),
    ("blob base64 but not a key", lambda p, k: p.write_text("ssh-ed25519 aGVsbG8gd29ybGQ= me\n")),
    ("blob truncated", lambda p, k: p.write_text(k.rsplit(" ", 1)[0][:-8] + "\n")),
    ("type does not match blob", lambda p, k: p.write_text("ssh-rsa " + k.split()[1] + "\n")),
    ("unknown key type", lambda p, k: p.write_text("ssh-dss " + k.split()[1] + "\n")),
    ("two keys in one file", lambda p, k: p.write_text(k + "\n" + k + "\n")),
    ("empty key file", lambda p, k: p.write_text("")),
    ("private key given", lambda p, k: p.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n")),
    ("binary key file", lambda p, k: p.write_bytes(b"\xff\xfe\x00\x80" * 10)),
    ("huge key file", lambda p, k: p.write_text(k + " " + "x" * 200_000 + "\n")),
    ("key is a directory", lambda p, k: p.mkdir()),
    ("key is /dev/zero", lambda p, k: Path("/dev/zero")),
    ("key is a FIFO", lambda p, k: _fifo(p)),
    ("key is a dangling symlink", lambda p, k: p.symlink_to(p.parent / "gone.pub")),
]


@pytest.mark.parametrize(("what", "make"), KEY_CASES, ids=[c[0] for c in KEY_CASES])
def test_invalid_key_file(tmp_path, ssh_keypair, swarmwiz_home, what, make):
    target = tmp_path / "bad.pub"
    made = make(target, _key_line(ssh_keypair))
    key = (
        made if isinstance(made, Path) and made != target and not made.exists() or made == Path("/dev/zero") else target
    )
    config = tmp_path / "cluster.toml"
    config.write_text(GOOD.replace("{key}", str(key)))
    # a subprocess with a timeout: a FIFO used to hang the read forever
    out = subprocess.run(
        [sys.executable, "-m", "swarmwiz", "deploy", "-c", str(config), "--lab", "--yes"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SWARMWIZ_HOME": str(swarmwiz_home), "SSH_AUTH_SOCK": ""},
    )
    assert out.returncode == 2, out.stderr
    assert_one_sentence(out.stderr, "ssh.public_key", swarmwiz_home)


CONFIG_CASES = [
    ("config is /dev/zero", lambda p: Path("/dev/zero")),
    ("config is a FIFO", lambda p: _fifo(p)),
    ("config is a directory", lambda p: (p.mkdir(), p)[1]),
    ("config is huge", lambda p: (p.write_text("# " + "x" * (2 << 20)), p)[1]),
    ("config is not UTF-8", lambda p: (p.write_bytes(b'name = "\xff\xfe"\n'), p)[1]),
    ("config path has escapes", lambda p: p.parent / "\x1b]0;owned\x07\x1b[2J.toml"),
    ("config does not exist", lambda p: p.parent / "missing.toml"),
]


@pytest.mark.parametrize(("what", "make"), CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
@pytest.mark.parametrize("command", ["plan", "deploy"])
def test_invalid_config_file(tmp_path, swarmwiz_home, what, make, command):
    config = make(tmp_path / "cluster.toml")
    argv = [command, "-c", str(config), "--lab"] + (["--yes"] if command == "deploy" else ["--offline"])
    out = subprocess.run(
        [sys.executable, "-m", "swarmwiz", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SWARMWIZ_HOME": str(swarmwiz_home)},
    )
    assert out.returncode == 2, out.stderr
    assert_one_sentence(out.stderr, "--config", swarmwiz_home)


def test_passphrase_key_without_agent_is_refused_before_anything_exists(tmp_path, swarmwiz_home, monkeypatch):
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519")
    (tmp_path / "id_locked").write_bytes(key.export_private_key("pkcs8-pem", passphrase="secret words"))
    (tmp_path / "id_locked.pub").write_bytes(key.export_public_key())
    config = tmp_path / "cluster.toml"
    config.write_text(GOOD.replace("{key}", str(tmp_path / "id_locked.pub")))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    out = subprocess.run(
        [sys.executable, "-m", "swarmwiz", "deploy", "-c", str(config), "--lab", "--yes"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"} | {"SWARMWIZ_HOME": str(swarmwiz_home)},
    )
    assert out.returncode == 2, out.stderr
    assert "passphrase-protected" in out.stderr and "ssh-add" in out.stderr
    assert_one_sentence(out.stderr, "ssh.public_key", swarmwiz_home)


def test_swarmwiz_home_is_a_file_is_one_sentence(tmp_path, cluster_toml):
    home = tmp_path / "home-file"
    home.write_text("not a directory")
    out = subprocess.run(
        [sys.executable, "-m", "swarmwiz", "plan", "-c", str(cluster_toml), "--offline"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SWARMWIZ_HOME": str(home)},
    )
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("swarmwiz: error:") and "Traceback" not in out.stderr
    assert str(home) in lines[0]


@pytest.fixture
def tiny_disk(tmp_path):
    """A 256 KiB tmpfs (root only): writes fail with ENOSPC once it is full."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_while_writing_is_one_sentence_exit_1(tiny_disk, cluster_toml):
    filler = tiny_disk / "filler"
    with open(filler, "wb") as fh, contextlib.suppress(OSError):
        fh.write(b"x" * (400 << 10))
    out = subprocess.run(
        [sys.executable, "-m", "swarmwiz", "plan", "-c", str(cluster_toml), "--offline"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SWARMWIZ_HOME": str(tiny_disk / "home")},
    )
    assert out.returncode == 1, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0] and "Traceback" not in out.stderr, out.stderr


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
    ["status", "demo\n"],
    ["destroy", "\x1b[2Jdemo", "--yes"],
    ["status", "\x1b]0;owned\x07"],
    ["deploy", "-c", "/dev/null", "--yes"],
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
    assert "\x1b" not in out.stderr and "\x07" not in out.stderr
    assert not any(swarmwiz_home.rglob("*"))
