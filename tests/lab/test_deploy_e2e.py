"""End to end in the lab, through the command line as a user runs it: deploy, status, converge, destroy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import cluster_text

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def swarmwiz(*args: str, timeout: float = 300, home: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ}
    if home is not None:
        env["SWARMWIZ_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "swarmwiz", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def write_cluster(directory: Path, public_key: Path, *, name="demo", managers=3, workers=2) -> Path:
    path = directory / f"{name}.toml"
    path.write_text(cluster_text(public_key, name=name, managers=managers, workers=workers))
    return path


def test_deploy_status_converge_destroy(lab, tmp_path, ssh_keypair, swarmwiz_home):
    config = write_cluster(tmp_path, ssh_keypair[1])

    first = swarmwiz("deploy", "-c", str(config), "--lab", "--yes", "--debug")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "Plan: 17 to add, 0 to change, 0 to destroy." in first.stdout
    if shutil.which("docker"):  # the deploy creates the context itself, and its hint no longer asks the user to
        assert "Docker context swarmwiz-demo created (ssh://root@" in first.stdout
        assert "docker context create" not in first.stdout
        inspect = subprocess.run(["docker", "context", "inspect", "swarmwiz-demo"], capture_output=True, text=True)
        assert inspect.returncode == 0 and "ssh://root@" in inspect.stdout
    else:
        assert "docker context create swarmwiz-demo --docker host=ssh://root@" in first.stdout

    # The deploy's run log names every SSH command with its exit status (issue 16).
    (deploy_log,) = (swarmwiz_home / "clusters" / "demo" / "runs").glob("*-deploy.log")
    assert "`docker swarm init --advertise-addr" in deploy_log.read_text() and "exited 0 in" in deploy_log.read_text()

    status = swarmwiz("status", "demo", "--lab", "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    nodes = report["nodes"]
    assert len(nodes) == 5 and all(n["status"] == "Ready" for n in nodes)
    assert len({n["hostname"] for n in nodes}) == 5
    assert [n["manager_status"] for n in nodes].count("Leader") == 1
    managers = [n for n in nodes if n["role"] == "manager"]
    assert {n["zone"] for n in managers} == {"fr-par-1", "fr-par-2"}
    assert all(n["private_ip"].startswith("172.16.") for n in nodes)
    wildcard = sorted(r["content"] for r in report["dns"] if r["name"] == "*.example.com" and r["type"] == "A")
    assert wildcard == sorted(n["public_ip"] for n in managers)

    asked = swarmwiz("deploy", "-c", str(config), "--lab")  # no --yes: plan, then an empty plan needs no answer
    assert asked.returncode == 0, asked.stdout[-4000:] + asked.stderr
    assert "Terraform apply skipped" in asked.stdout

    table = swarmwiz("status", "demo", "--lab")
    assert table.returncode == 0 and "Leader" in table.stdout and "quorum OK" in table.stdout

    again = swarmwiz("deploy", "-c", str(config), "--lab", "--yes")
    assert again.returncode == 0, again.stderr
    assert "Plan: 0 to add, 0 to change, 0 to destroy." in again.stdout
    assert "Terraform apply ok" in again.stdout and "0 resources changed" in again.stdout
    assert "swarm init" not in again.stdout and "joining" not in again.stdout

    # Leak check (issue 6): the credentials used for this deploy appear in no file swarmwiz wrote (workspace,
    # Terraform state, plan file, caches) and in no output, even at debug level. The lab's own directory is the
    # stand-in cloud's database, which issued these credentials, so it is the one place they may live.
    secrets = [v for k, v in lab.credentials().items() if k in ("SCW_SECRET_KEY", "CLOUDFLARE_API_TOKEN")]
    assert all(len(s) >= 20 for s in secrets)
    lab_dir = swarmwiz_home / "lab"
    checked = 0
    for path in swarmwiz_home.rglob("*"):
        if path.is_file() and lab_dir not in path.parents and ".terraform" not in path.parts:
            data = path.read_bytes()
            checked += 1
            for secret in secrets:
                assert secret.encode() not in data, f"a secret leaked into {path}"
    assert checked > 10 and (swarmwiz_home / "clusters" / "demo" / "terraform.tfstate").is_file()
    # No private host key exists outside its node: not in the workspace, the state, the plan or the user data.
    for path in swarmwiz_home.rglob("*"):
        if path.is_file() and lab_dir not in path.parents and ".terraform" not in path.parts:
            assert b"PRIVATE KEY" not in path.read_bytes(), f"a private key in {path}"
    known_hosts = (swarmwiz_home / "clusters" / "demo" / "known_hosts").read_text().splitlines()
    assert len(known_hosts) == 10 and all(" ssh-ed25519 " in line for line in known_hosts)
    for output in (first.stdout, first.stderr, again.stdout, again.stderr):
        for secret in secrets:
            assert secret not in output

    from swarmwiz.core.pipeline import Pipeline
    from swarmwiz.lab.target import LabTarget

    # What the teardown screen shows: each object by kind, its own name, and what it is (zone + IP, record, subnet).
    items = Pipeline.for_name("demo", LabTarget()).inventory()
    servers = {i.name: i for i in items if i.kind == "server"}
    by_host = {n["hostname"]: n for n in report["nodes"]}
    assert set(servers) == set(by_host)
    for name, item in servers.items():
        assert item.detail == f"{by_host[name]['zone']} {by_host[name]['public_ip']}" and item.id
    records = sorted(i.detail for i in items if i.kind == "DNS record" and i.name == "*.example.com")
    assert records == sorted(f"A {n['public_ip']}" for n in by_host.values() if n["role"] == "manager")
    (network,) = [i for i in items if i.kind == "private network"]
    assert network.name == "swarmwiz-demo-swarm" and network.detail.endswith("/22"), network
    assert {i.detail for i in items if i.kind == "public IP"} == {n["public_ip"] for n in by_host.values()}

    gone = swarmwiz("destroy", "demo", "--lab", "--yes")
    assert gone.returncode == 0, gone.stdout[-2000:] + gone.stderr[-2000:]
    assert "private network" in gone.stdout and "swarmwiz-demo-swarm" in gone.stdout
    assert "Checked through the APIs: nothing of cluster demo remains." in gone.stdout
    left = lab.status()
    for kind in ("servers", "ips", "security_groups", "private_networks", "ssh_keys", "dns_records"):
        assert left[kind] == [], (kind, left[kind])

    listed = json.loads(swarmwiz("list", "--json").stdout)
    assert [(c["name"], c["state"]) for c in listed] == [("demo", "destroyed")]


def test_plan_shows_terraform_summary_and_cost(lab, tmp_path, ssh_keypair):
    config = write_cluster(tmp_path, ssh_keypair[1], managers=1, workers=1)
    out = swarmwiz("plan", "-c", str(config), "--lab")
    assert out.returncode == 0, out.stderr
    assert "Plan: 9 to add, 0 to change, 0 to destroy." in out.stdout
    assert "scaleway_instance_server" in out.stdout and "cloudflare_dns_record" in out.stdout
    assert "total (excl. VAT)" in out.stdout
    assert lab.status()["servers"] == []
