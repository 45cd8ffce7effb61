"""VPCs in the lab (issue 11 item 3): each cluster gets its own free /22 in one VPC, a project without a default VPC
gets swarmwiz's shared VPC (kept by teardown), and a pinned subnet that clashes is refused before anything exists."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest
from test_lifecycle import assert_healthy, deploy, destroy, make_spec, run

from swarmwiz.core.api.clients import ApiClients
from swarmwiz.core.errors import InputError
from swarmwiz.core.events import Notice
from swarmwiz.core.network import VPC_NAME, VPC_TAG
from swarmwiz.core.pipeline import Pipeline
from swarmwiz.core.workspace import Workspace
from swarmwiz.lab.target import LabTarget

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def networks(lab, prefix: str) -> list[dict]:
    return [p for p in lab.status()["private_networks"] if p["name"].startswith(f"swarmwiz-{prefix}-")]


def vpcs(lab) -> list:
    with ApiClients.from_env(lab.env()) as api:
        return list(api.vpc().list_vp_cs_all(region="fr-par"))


def pn_vpc(lab, pn_id: str) -> str:
    with ApiClients.from_env(lab.env()) as api:
        return api.vpc().get_private_network(private_network_id=pn_id, region="fr-par").vpc_id


def test_two_clusters_in_one_region_each_get_a_free_subnet(lab, tmp_path, ssh_keypair):
    one = make_spec(tmp_path, ssh_keypair, name="one", managers=1, workers=1)
    # each cluster its own records: pre-flight refuses to share *.example.com with another cluster
    two = dataclasses.replace(make_spec(tmp_path, ssh_keypair, name="two", managers=1, workers=0), subdomain="two")
    _, _, status = deploy(one)
    assert_healthy(status, 1, 1)
    _, _, status = deploy(two)
    assert_healthy(status, 1, 0)
    [a], [b] = networks(lab, "one"), networks(lab, "two")
    assert not ipaddress.ip_network(a["subnet"]).overlaps(ipaddress.ip_network(b["subnet"])), (a, b)
    assert ipaddress.ip_network(a["subnet"]).prefixlen == 22
    [default] = [v for v in vpcs(lab) if v.is_default]
    assert pn_vpc(lab, a["id"]) == pn_vpc(lab, b["id"]) == default.id  # the project has a default VPC: used
    # A re-deploy keeps the subnet it picked (the workspace holds it; the network is not replaced).
    _, _, status = deploy(two)
    assert_healthy(status, 1, 0)
    assert networks(lab, "two") == [b]
    destroy(one, lab)
    assert networks(lab, "two") == [b]
    status = Pipeline.for_name("two", LabTarget()).read_status()
    assert_healthy(status, 1, 0)
    destroy(two, lab)


def test_project_without_default_vpc_deploys_in_a_shared_swarmwiz_vpc(lab, tmp_path, ssh_keypair):
    lab.set_options(default_vpc=False)
    spec = make_spec(tmp_path, ssh_keypair, name="fresh", managers=1, workers=0)
    # A plan is a preview: it creates nothing in the cloud, not even the VPC, and says that deploy will.
    events, summary = run(Pipeline.for_spec(spec, LabTarget()).plan())
    assert vpcs(lab) == []
    notices = [e.message for e in events if isinstance(e, Notice)]
    assert any("no VPC in fr-par" in n and VPC_NAME in n for n in notices), notices
    assert summary.add > 0
    _, _, status = deploy(spec)
    assert_healthy(status, 1, 0)
    [vpc] = vpcs(lab)
    assert not vpc.is_default and vpc.name == VPC_NAME and VPC_TAG in vpc.tags
    [pn] = networks(lab, "fresh")
    assert pn_vpc(lab, pn["id"]) == vpc.id
    second = make_spec(tmp_path, ssh_keypair, name="second", managers=1, workers=0)
    second = dataclasses.replace(second, subdomain="second")
    _, _, status = deploy(second)
    assert_healthy(status, 1, 0)
    assert [v.id for v in vpcs(lab)] == [vpc.id]  # reused, not one VPC per cluster
    [other] = networks(lab, "second")
    assert pn_vpc(lab, other["id"]) == vpc.id and other["subnet"] != pn["subnet"]
    destroy(spec, lab)  # report.clean: the shared VPC is not a leftover of the cluster
    destroy(second, lab)
    assert [v.id for v in vpcs(lab)] == [vpc.id]  # teardown never deletes the shared VPC


def test_pinned_subnet_overlapping_another_cluster_is_refused_before_anything_exists(lab, tmp_path, ssh_keypair):
    first = make_spec(tmp_path, ssh_keypair, name="first", managers=1, workers=0)
    _, _, status = deploy(first)
    assert_healthy(status, 1, 0)
    [taken] = networks(lab, "first")
    inside = str(next(ipaddress.ip_network(taken["subnet"]).subnets(new_prefix=24)))
    pinned = dataclasses.replace(make_spec(tmp_path, ssh_keypair, name="pinned", managers=1, workers=0))
    pinned = dataclasses.replace(pinned, subdomain="pinned")
    pinned = dataclasses.replace(pinned, private_subnet=inside)
    before = lab.status()
    with pytest.raises(InputError) as err:
        run(Pipeline.for_spec(pinned, LabTarget()).deploy(confirm=lambda summary, cost: True))
    message = str(err.value)
    assert "private_subnet" in message and inside in message and taken["subnet"] in message, message
    assert err.value.exit_code == 2
    assert not Workspace.for_name("pinned").path.exists()  # no workspace either
    after = lab.status()
    for kind in ("servers", "ips", "security_groups", "private_networks", "ssh_keys", "dns_records"):
        assert after[kind] == before[kind], kind
    # A pinned subnet that overlaps nothing is taken as given.
    free = dataclasses.replace(pinned, private_subnet="10.20.0.0/24")
    _, _, status = deploy(free)
    assert_healthy(status, 1, 0)
    assert [p["subnet"] for p in networks(lab, "pinned")] == ["10.20.0.0/24"]
    destroy(free, lab)
    destroy(first, lab)
