"""Workspace rendering: module copy, tfvars without secrets, host keys, permissions, atomic writes and the lock."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import textwrap

import pytest

from swarmwiz.core.errors import InputError, LockedError
from swarmwiz.core.hostkeys import generate_host_key
from swarmwiz.core.spec import load_spec
from swarmwiz.core.workspace import Workspace, atomic_write, list_workspaces


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_render_writes_module_tfvars_and_spec_but_no_host_key(cluster_toml, swarmwiz_home):
    spec = load_spec(cluster_toml)
    ws = Workspace.for_name(spec.name)
    ws.render(spec, lab=True)
    assert ws.path == swarmwiz_home / "clusters" / "demo"
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "cloud-init.yaml.tftpl", "cluster.toml"):
        assert (ws.path / name).is_file(), name
    tfvars = json.loads(ws.tfvars_path.read_text())
    assert tfvars["cluster_name"] == "demo" and tfvars["worker_count"] == 2
    assert not any(k.lower().endswith(("secret_key", "token", "access_key")) for k in tfvars)
    # each node generates its own host key: none is made here, none reaches the module
    assert not (ws.path / "host_keys").exists() and "host_key" not in (ws.path / "main.tf").read_text()
    assert not any(b"PRIVATE KEY" in p.read_bytes() for p in ws.path.rglob("*") if p.is_file())
    assert load_spec(ws.spec_path) == spec
    assert ws.is_lab and [w.name for w in list_workspaces()] == ["demo"]


def test_permissions_are_private(cluster_toml):
    spec = load_spec(cluster_toml)
    ws = Workspace.for_name(spec.name)
    ws.render(spec)
    assert _mode(ws.path) == 0o700
    for path in ws.path.rglob("*"):
        if path.is_file():
            assert _mode(path) == 0o600, path


def test_known_hosts_pins_each_node_and_reads_the_pins_back(cluster_toml):
    spec = load_spec(cluster_toml)
    ws = Workspace.for_name(spec.name)
    ws.render(spec)
    _, manager_key = generate_host_key()
    _, worker_key = generate_host_key()
    ws.write_known_hosts(
        {"manager-1": (manager_key, ["10.0.0.5", "172.16.8.2"]), "worker-1": (worker_key, ["10.0.0.6", None])}
    )
    lines = ws.known_hosts_path.read_text().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("10.0.0.5 ssh-ed25519 ")
    assert lines[0].split()[2] == manager_key.split()[1]
    assert ws.pinned_host_keys() == {"manager-1": manager_key, "worker-1": worker_key}
    ws.render(spec)  # a re-render keeps the pins
    assert ws.pinned_host_keys()["manager-1"] == manager_key


def test_bad_name_is_input_error():
    with pytest.raises(InputError):
        Workspace.for_name("../../etc")
    with pytest.raises(InputError, match="not known here"):
        Workspace.existing("ghost")


def test_atomic_write_leaves_no_temp_files(tmp_path):
    target = tmp_path / "f.json"
    atomic_write(target, "one")
    atomic_write(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_second_process_is_refused_by_the_lock(cluster_toml, swarmwiz_home):
    ws = Workspace.for_name("demo")
    code = textwrap.dedent(
        """
        import sys
        from swarmwiz.core.workspace import Workspace
        from swarmwiz.core.errors import LockedError
        try:
            with Workspace.for_name("demo").lock("deploy"):
                print("acquired")
        except LockedError as exc:
            print("refused:", exc)
        """
    )
    with ws.lock("deploy"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert out.startswith("refused: cluster 'demo' is busy: swarmwiz pid")
        with pytest.raises(LockedError), Workspace.for_name("demo").lock("plan"):  # same process: refused too
            pass
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "acquired"
