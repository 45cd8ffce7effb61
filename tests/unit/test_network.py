"""Picking a free /22 for a cluster's private network (core/network.py) and the private_subnet range check."""

from __future__ import annotations

import ipaddress

import pytest

from swarmwiz.core.errors import InputError, SpecError
from swarmwiz.core.network import free_subnet
from swarmwiz.core.spec import validate


def nets(*cidrs: str) -> list[ipaddress.IPv4Network]:
    return [ipaddress.IPv4Network(c) for c in cidrs]


def test_first_free_slash_22_in_172_16_then_10():
    assert free_subnet([]) == "172.16.0.0/22"
    assert free_subnet(nets("172.16.0.0/22", "172.16.8.0/22")) == "172.16.4.0/22"
    assert free_subnet(nets("172.16.4.128/25")) == "172.16.0.0/22"
    assert free_subnet(nets("172.16.0.0/20")) == "172.16.16.0/22"  # a /20 covers four /22s
    assert free_subnet(nets("172.16.0.0/12")) == "10.0.0.0/22"


def test_no_free_range_is_one_sentence_naming_the_field():
    with pytest.raises(InputError) as err:
        free_subnet(nets("172.16.0.0/12", "10.0.0.0/8"))
    assert str(err.value).startswith("network.private_subnet:")


@pytest.mark.parametrize("subnet, ok", [("172.16.0.0/19", False), ("172.16.0.0/20", True), ("10.1.2.0/29", True)])
def test_private_subnet_takes_what_scaleway_takes(ssh_keypair, subnet, ok):
    data = {
        "name": "demo",
        "zones": ["fr-par-1"],
        "managers": {"count": 1, "type": "DEV1-S"},
        "workers": {"count": 0, "type": "DEV1-M"},
        "dns": {"domain": "example.com"},
        "ssh": {"public_key": str(ssh_keypair[1])},
        "network": {"private_subnet": subnet},
    }
    if ok:
        assert validate(data).private_subnet == subnet
    else:
        with pytest.raises(SpecError) as err:
            validate(data)
        assert "network.private_subnet" in str(err.value) and "/20 to /29" in str(err.value)


def test_a_vpc_of_another_project_is_never_used_whatever_the_filter_returned():
    """A list answer that ignored project_id (as a proxy or a bug might) must not hand us another project's VPC."""
    from types import SimpleNamespace

    from swarmwiz.core.network import _vpc

    theirs = SimpleNamespace(id="theirs", project_id="p-other", is_default=True, name="default", tags=[])
    ours = SimpleNamespace(id="ours", project_id="p-mine", is_default=True, name="default", tags=[])

    class Api:
        def list_vp_cs_all(self, region, project_id):
            return [theirs, ours]

    assert _vpc(Api(), "fr-par", "p-mine", create=True).id == "ours"
