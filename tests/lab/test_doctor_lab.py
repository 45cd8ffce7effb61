"""`swarmwiz doctor` against the lab's APIs: credentials live, reachability with latency, clock; and `doctor --lab`."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]


def run_doctor(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "swarmwiz", "doctor", *args], capture_output=True, text=True, env=env, timeout=180
    )


def user_env(tmp_path: Path, *, with_key: bool = True) -> dict[str, str]:
    """A user's environment: a fresh HOME (with an unencrypted ed25519 key pair), no D-Bus session."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    if with_key:
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / ".ssh" / "id_ed25519")], check=True
        )
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "SWARMWIZ_HOME": os.environ["SWARMWIZ_HOME"],
        "PYTHONPATH": str(ROOT),
        "LANG": "C.UTF-8",
    }


def by_check(report: dict) -> dict[str, dict]:
    return {c["check"]: c for c in report["checks"]}


def test_doctor_against_the_lab_apis(api_lab, tmp_path):
    if not shutil.which("ssh-keygen"):
        pytest.skip("no ssh-keygen")
    env = {
        **user_env(tmp_path),
        **{k: v for k, v in api_lab.creds.items() if isinstance(v, str) and k.isupper()},
        "SCW_API_URL": api_lab.url,
        "CLOUDFLARE_BASE_URL": api_lab.cloudflare_url,
    }
    out = run_doctor("--json", "--domain", "example.com", env=env)
    report = json.loads(out.stdout)
    checks = by_check(report)
    assert out.returncode == 0, json.dumps(report, indent=1)
    for attr in ("scw_access_key", "scw_secret_key", "scw_project_id", "cloudflare_token"):
        assert checks[f"credential:{attr}"]["status"] == "ok", checks[f"credential:{attr}"]
        assert "(from env)" in checks[f"credential:{attr}"]["detail"]
    # No keyring here, but the environment holds all four: a warning, not a failure.
    assert checks["keyring"]["status"] == "warn"
    for api in ("api:scaleway", "api:cloudflare"):
        assert checks[api]["status"] == "ok" and checks[api]["data"]["latency_ms"] > 0
    assert checks["api:scaleway"]["data"]["url"] == api_lab.url
    assert checks["clock"]["status"] == "ok" and abs(checks["clock"]["data"]["skew_s"]) < 3
    for secret in (api_lab.creds["SCW_SECRET_KEY"], api_lab.creds["CLOUDFLARE_API_TOKEN"]):
        assert secret not in out.stdout + out.stderr

    # A rejected secret key and an unreachable Cloudflare API: one failing line each, exit 1.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens once the socket is closed
    wrong = {
        **env,
        "SCW_SECRET_KEY": "11111111-2222-3333-4444-555555555555",
        "CLOUDFLARE_BASE_URL": f"http://127.0.0.1:{closed}/client/v4",
    }
    bad = run_doctor(env=wrong)
    assert bad.returncode == 1
    lines = bad.stdout.splitlines()
    secret_line = next(line for line in lines if "Scaleway secret key" in line)
    assert secret_line.startswith("FAIL") and "rejected" in secret_line and "credentials set" in secret_line
    api_line = next(line for line in lines if "Cloudflare API " in line and "token" not in line)
    assert api_line.startswith("FAIL") and "unreachable" in api_line and "->" in api_line
    assert next(line for line in lines if line.split()[1:3] == ["Scaleway", "API"]).startswith("ok")


def test_doctor_lab_checks_its_parts_and_credentials(lab, tmp_path):
    if not shutil.which("ssh-keygen"):
        pytest.skip("no ssh-keygen")
    out = run_doctor("--lab", "--json", env=user_env(tmp_path))
    checks = by_check(json.loads(out.stdout))
    assert checks["lab"]["status"] == "ok", checks["lab"]
    assert checks["keyring"]["status"] == "skip"
    assert all(checks[f"credential:{a}"]["status"] == "ok" for a in ("scw_secret_key", "cloudflare_token"))
    assert checks["api:scaleway"]["status"] == "ok"
    assert out.returncode == 0, out.stdout
