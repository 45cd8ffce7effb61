"""The command-line contract: subcommands in --help, --version, exit codes, one-line errors, plan --offline."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from swarmwiz import __version__


def run(*args, env=None, input=None):
    return subprocess.run(
        [sys.executable, "-m", "swarmwiz", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        input=input,
        timeout=60,
    )


def test_help_lists_every_subcommand():
    out = run("--help")
    assert out.returncode == 0
    for cmd in ("deploy", "plan", "status", "destroy", "list", "credentials", "lab"):
        assert f"    {cmd}" in out.stdout, cmd
    assert "SWARMWIZ_HOME" in out.stdout and "exit codes" in out.stdout


@pytest.mark.parametrize("argv", [[], ["--lab", "--plain"], ["--debug"]])
def test_starting_the_wizard_imports_no_subcommand(argv):
    """The wizard's first frame waits for everything imported before it: the subcommands' modules are not needed."""
    code = (
        "import sys, swarmwiz.cli as cli\n"
        "seen = {}\n"
        "def wizard(args, target):\n"
        "    seen.update(vars(args))\n"
        "    return 0\n"
        "cli.run_wizard = wizard\n"
        f"assert cli.main({argv!r}) == 0\n"
        "print(sorted(m for m in sys.modules if m.startswith('swarmwiz.cli.commands.')), seen['plain'], seen['lab'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", str("--plain" in argv), str("--lab" in argv)]


@pytest.mark.parametrize("argv", [[], ["--plain"]])
def test_the_wizard_without_a_terminal_says_so_instead_of_waiting(argv):
    """`swarmwiz </dev/null` (a script, a CI step, a user piping it) used to start the wizard with nobody to answer
    it, busy drawing at 67 % of a core until killed (seen in the non-root quick-start trial)."""
    out = run(*argv)  # stdin and stdout are pipes here
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("swarmwiz: error: the wizard asks its questions in")
    assert "swarmwiz --help" in out.stderr and out.stdout == ""


def test_version():
    out = run("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"swarmwiz {__version__}"


@pytest.mark.parametrize(
    "argv",
    [["deploy"], ["plan"], ["status"], ["frobnicate"], ["list", "--bogus"], ["lab", "explode"], ["destroy"]],
)
def test_usage_errors_exit_2_in_one_line(argv):
    out = run(*argv)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("swarmwiz: error:")
    assert "Traceback" not in out.stderr


def test_bad_spec_exits_2_lists_every_problem_and_writes_nothing(tmp_path, swarmwiz_home):
    bad = tmp_path / "cluster.toml"
    bad.write_text(
        'name = "Bad Name"\nzones = ["fr-par-1", "nl-ams-1"]\n[managers]\ncount = 2\ntype = "DEV1-S"\n'
        '[workers]\ncount = 0\ntype = "DEV1-S"\n[dns]\ndomain = "example.com"\n'
        '[ssh]\npublic_key = "/nope.pub"\nallowed_cidrs = ["0.0.0.0/0"]\n'
    )
    for cmd in ("plan", "deploy"):
        out = run(cmd, "-c", str(bad), "--yes" if cmd == "deploy" else "--offline")
        assert out.returncode == 2, out.stderr
        lines = out.stderr.strip().splitlines()
        assert [ln.split(":")[2].strip() for ln in lines] == ["name", "zones", "managers.count", "ssh.public_key"]
        assert "Traceback" not in out.stderr
    assert not any(swarmwiz_home.iterdir())


def test_plan_offline_renders_workspace_and_prints_cost(cluster_toml, swarmwiz_home):
    out = run("plan", "-c", str(cluster_toml), "--offline")
    assert out.returncode == 0, out.stderr
    assert (swarmwiz_home / "clusters" / "demo" / "terraform.tfvars.json").is_file()
    assert "managers DEV1-S" in out.stdout and "workers DEV1-M" in out.stdout and "routed IPv4" in out.stdout
    assert "bundled snapshot of 2026-" in out.stdout
    total = [ln for ln in out.stdout.splitlines() if ln.startswith("total")][0]
    assert float(total.split()[-1]) > 0


def test_list_shows_known_clusters(cluster_toml):
    assert "No clusters" in run("list").stdout
    run("plan", "-c", str(cluster_toml), "--offline")
    out = run("list", "--json")
    import json

    rows = json.loads(out.stdout)
    assert [r["name"] for r in rows] == ["demo"] and rows[0]["state"] == "rendered"


def test_status_of_unknown_cluster_is_usage_error():
    out = run("status", "ghost")
    assert out.returncode == 2 and "not known here" in out.stderr
