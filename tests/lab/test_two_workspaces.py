"""Two workspaces, one cluster name, one lab (issue 12): two machines (two SWARMWIZ_HOME directories) each deploy a
cluster called `demo` into the same project and zone; neither lists, touches or deletes what the other made.

Both clusters carry `swarmwiz-cluster=demo`; only the owner id (one per workspace) tells them apart. The lab's
API is compared object by object (full API answers, modification dates included) before and after each step."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import cluster_text

from swarmwiz.core.api.clients import ApiClients, cf_all
from swarmwiz.core.api.inventory import Inventory

pytestmark = [pytest.mark.lab, pytest.mark.slow]

ZONE = "fr-par-1"
KINDS = ("servers", "ips", "security_groups", "private_networks", "ssh_keys", "dns_records")


@dataclasses.dataclass
class Machine:
    """One user's machine: its own swarmwiz home, Docker config and SSH config; all talk to the one lab."""

    home: Path
    config: Path

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SWARMWIZ_HOME": str(self.home),
            "DOCKER_CONFIG": str(self.home.parent / f"{self.home.name}-docker"),
            "SWARMWIZ_SSH_USER_CONFIG": str(self.home.parent / f"{self.home.name}-ssh" / "config"),
        }

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "swarmwiz", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(),
            stdin=subprocess.DEVNULL,
        )

    def owner_id(self) -> str:
        return json.loads((self.home / "clusters" / "demo" / "swarmwiz.json").read_text())["owner_id"]

    def status(self) -> dict:
        out = self.run("status", "demo", "--lab", "--json")
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        return json.loads(out.stdout)


def _plain(obj) -> dict:
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj.model_dump()


def snapshot(lab) -> dict[str, dict[str, dict]]:
    """Every object of the lab's project, as the APIs answer it: {kind: {id: full object}}, tags and comments
    included (a changed tag, rule count, address or modification date shows as a difference)."""
    with ApiClients.from_env(lab.env()) as api:
        instance, project = api.instance(), api.project or None
        found = {
            "servers": instance.list_servers_all(zone=ZONE, project=project),
            "ips": instance.list_ips_all(zone=ZONE, project=project),
            "security_groups": instance.list_security_groups_all(zone=ZONE, project=project),
            "private_networks": api.vpc().list_private_networks_all(region="fr-par", project_id=project),
            "ssh_keys": api.iam().list_ssh_keys_all(project_id=project),
        }
        shot = {kind: {o.id: _plain(o) for o in objects} for kind, objects in found.items()}
        zone = Inventory(api).zone_id("example.com")
        records = cf_all(api.cloudflare().dns.records.list(zone_id=zone, per_page=100))
        shot["dns_records"] = {r.id: _plain(r) for r in records}
    return shot


def mine(shot: dict, owner: str) -> dict[str, dict[str, dict]]:
    """The objects of `shot` that carry cluster demo's tags / record comment with `owner`."""
    # Read here from the module's own conventions, not with the core's ownership helpers (they are under test).
    tags = {"swarmwiz-cluster=demo", f"swarmwiz-owner={owner}"}
    result: dict[str, dict[str, dict]] = {}
    for kind, objects in shot.items():
        if kind == "dns_records":
            result[kind] = {
                i: o for i, o in objects.items() if (o["comment"] or "").startswith(f"swarmwiz:demo:{owner}:")
            }
        elif kind == "ssh_keys":
            result[kind] = {i: o for i, o in objects.items() if o["name"] == f"swarmwiz-demo-{owner}"}
        else:
            result[kind] = {i: o for i, o in objects.items() if tags <= set(o.get("tags") or ())}
    return result


def assert_kept(before: dict, after: dict, label: str) -> None:
    """Every object of `before` still exists in `after`, identical (nothing deleted, nothing modified)."""
    for kind in KINDS:
        missing = sorted(set(before[kind]) - set(after[kind]))
        assert not missing, f"{label}: {kind} {missing} deleted"
        for oid, obj in before[kind].items():
            assert after[kind][oid] == obj, f"{label}: {kind} {oid} modified:\n{obj}\n{after[kind][oid]}"


def v4(subnet: str) -> ipaddress.IPv4Network | None:
    net = ipaddress.ip_network(subnet, strict=False)
    return net if net.version == 4 else None


def node_ips(status: dict) -> set[str]:
    return {n["public_ip"] for n in status["nodes"]}


def assert_ready(status: dict, count: int) -> None:
    nodes = status["nodes"]
    assert len(nodes) == count and all(n["status"] == "Ready" for n in nodes), nodes
    assert [n["manager_status"] for n in nodes].count("Leader") == 1, nodes


def assert_one_cluster(objects: dict, nodes: int) -> None:
    """`objects` (by kind) are one cluster's: a server and an IP per node, one of each other kind."""
    counts = {k: len(v) for k, v in objects.items()}
    one_each = {"security_groups": 1, "private_networks": 1, "ssh_keys": 1, "dns_records": 1}
    assert counts == {"servers": nodes, "ips": nodes, **one_each}, objects


def test_two_workspaces_with_one_cluster_name_leave_each_other_alone(lab, tmp_path_factory, ssh_keypair, swarmwiz_home):
    one_zone = (ZONE,)
    spec_dir = tmp_path_factory.mktemp("specs")
    a = Machine(swarmwiz_home, spec_dir / "a.toml")
    a.config.write_text(cluster_text(ssh_keypair[1], name="demo", managers=1, workers=1, zones=one_zone))
    b = Machine(tmp_path_factory.mktemp("home-b"), spec_dir / "b.toml")
    b.config.write_text(cluster_text(ssh_keypair[1], name="demo", managers=1, workers=0, zones=one_zone))

    # Machine A deploys demo (1 manager + 1 worker).
    out = a.run("deploy", "-c", str(a.config), "--lab", "--yes")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    # Machine B talks to the same lab: the lab's directory (daemon address, credentials, hosts) is A's.
    (b.home / "lab").symlink_to(lab.dir, target_is_directory=True)
    shot = snapshot(lab)
    server = next(iter(shot["servers"].values()))
    assert {"tags", "modification_date", "public_ips", "state"} <= set(server), sorted(server)  # what is compared
    objects_a = mine(shot, a.owner_id())
    assert_one_cluster(objects_a, nodes=2)
    assert all(mine(shot, a.owner_id())[k] == shot[k] for k in KINDS if k != "dns_records")  # nothing else there

    # B's demo would write *.example.com, which is A's: refused with one sentence, before anything exists.
    out = b.run("deploy", "-c", str(b.config), "--lab", "--yes")
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1, out.stdout[-2000:] + out.stderr[-2000:]
    assert "*.example.com" in lines[0] and "dns.subdomain" in lines[0] and "nothing was created" in lines[0], lines
    assert snapshot(lab) == shot
    assert not (b.home / "clusters" / "demo").exists()
    # Replacing records in the way (--replace-dns) is for records of no swarmwiz workspace: A's live record, which
    # carries A's owner id, is never B's to delete.
    out = b.run("deploy", "-c", str(b.config), "--lab", "--yes", "--replace-dns")
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1, out.stdout[-2000:] + out.stderr[-2000:]
    assert "*.example.com" in lines[0] and "another workspace" in lines[0] and a.owner_id() in lines[0], lines
    assert "dns.subdomain" in lines[0] and "nothing was created" in lines[0], lines
    assert snapshot(lab) == shot
    assert not (b.home / "clusters" / "demo").exists()

    # With its own dns.subdomain, B's demo is a cluster of its own beside A's.
    own_names = b.config.read_text().replace('domain = "example.com"', 'domain = "example.com"\nsubdomain = "b"')
    b.config.write_text(own_names)
    out = b.run("deploy", "-c", str(b.config), "--lab", "--yes")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "not in Terraform's state" not in out.stdout + out.stderr
    assert a.owner_id() != b.owner_id()
    shot = snapshot(lab)
    assert_kept(objects_a, shot, "B's deploy")
    objects_b = mine(shot, b.owner_id())
    assert_one_cluster(objects_b, nodes=1)
    for kind in KINDS:
        assert not set(objects_a[kind]) & set(objects_b[kind]), kind
    # B's private network took a /22 of its own: A's, though it carries swarmwiz-cluster=demo, is not B's to reuse.
    [net_a], [net_b] = (
        [net for pn in objs["private_networks"].values() for s in pn["subnets"] if (net := v4(s["subnet"]))]
        for objs in (objects_a, objects_b)
    )
    assert not net_a.overlaps(net_b), (net_a, net_b)
    # Same cluster name, same server names: both carry swarmwiz-cluster=demo.
    names = sorted(s["name"] for s in shot["servers"].values())
    assert names == ["demo-manager-1", "demo-manager-1", "demo-worker-1"], names
    [record_b] = objects_b["dns_records"].values()
    assert record_b["name"] == "*.b.example.com"

    # Each status shows its own nodes only (same hostnames: told apart by address) and its own records.
    ips_a = {ip["address"] for ip in objects_a["ips"].values()}
    ips_b = {ip["address"] for ip in objects_b["ips"].values()}
    status_a, status_b = a.status(), b.status()
    assert_ready(status_a, 2)
    assert_ready(status_b, 1)
    assert node_ips(status_a) == ips_a and node_ips(status_b) == ips_b
    assert {r["name"] for r in status_a["dns"]} == {"*.example.com"}
    assert {r["name"] for r in status_b["dns"]} == {"*.b.example.com"}

    # A's deploy with B's demo beside it: nothing untracked (without --yes an untracked object would stop it),
    # nothing to change, and B's objects untouched.
    out = a.run("deploy", "-c", str(a.config), "--lab")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Plan: 0 to add, 0 to change, 0 to destroy." in out.stdout, out.stdout[-3000:]
    assert "not in Terraform's state" not in out.stdout + out.stderr
    assert_kept(mine(shot, b.owner_id()), snapshot(lab), "A's second deploy")

    # B's objects are seen by A's inventory (the server-side tag filter returns them) and counted as foreign.
    found = _cluster_objects(a, lab)
    assert {o.id.rsplit("/", 1)[-1] for o in found.owned} == _ids(objects_a)
    assert _ids(objects_b) <= {o.id.rsplit("/", 1)[-1] for o in found.foreign}

    # B destroys its demo: every object of A stays as it was, and A's swarm still answers with every node Ready.
    shot = snapshot(lab)
    objects_a = mine(shot, a.owner_id())
    out = b.run("destroy", "demo", "--lab", "--yes")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Checked through the APIs: nothing of cluster demo remains." in out.stdout
    shot = snapshot(lab)
    assert_kept(objects_a, shot, "B's destroy")
    assert mine(shot, b.owner_id()) == {k: {} for k in KINDS}
    status_a = a.status()
    assert_ready(status_a, 2)
    assert node_ips(status_a) == ips_a

    # A destroys its demo: the lab holds nothing of either.
    out = a.run("destroy", "demo", "--lab", "--yes")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Checked through the APIs: nothing of cluster demo remains." in out.stdout
    left = lab.status()
    for kind in KINDS:
        assert left[kind] == [], (kind, left[kind])


def _ids(objects: dict[str, dict[str, dict]]) -> set[str]:
    return {oid.rsplit("/", 1)[-1] for kind in objects.values() for oid in kind}


def _cluster_objects(machine: Machine, lab):
    """`Inventory.cluster_objects` as machine's workspace runs it (its owner id), in this process."""
    with ApiClients.from_env(lab.env()) as api:
        return Inventory(api).cluster_objects("demo", machine.owner_id(), "fr-par", [ZONE], "example.com")
