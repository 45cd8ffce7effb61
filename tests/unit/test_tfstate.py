"""The teardown inventory read from a Terraform state file: kind, own name, id and a detail a person recognises."""

from __future__ import annotations

import json
from pathlib import Path

from swarmwiz.core import tfstate

IP_ID = "fr-par-1/11111111-1111-1111-1111-111111111111"
STATE = {
    "version": 4,
    "resources": [
        {"mode": "data", "type": "cloudflare_zone", "name": "this", "instances": [{"attributes": {"id": "z1"}}]},
        {
            "mode": "managed",
            "type": "scaleway_instance_ip",
            "name": "node",
            "instances": [{"index_key": "manager-1", "attributes": {"id": IP_ID, "address": "51.15.0.10"}}],
        },
        {
            "mode": "managed",
            "type": "scaleway_instance_server",
            "name": "node",
            "instances": [
                {
                    "index_key": "manager-1",
                    "attributes": {
                        "id": "fr-par-1/22222222-2222-2222-2222-222222222222",
                        "name": "demo-manager-1",
                        "zone": "fr-par-1",
                        "ip_id": IP_ID,
                        "public_ips": [],
                        "cloud_init": "-----BEGIN OPENSSH PRIVATE KEY-----",
                    },
                }
            ],
        },
        {
            "mode": "managed",
            "type": "cloudflare_dns_record",
            "name": "wildcard",
            "instances": [
                {
                    "index_key": "manager-1",
                    "attributes": {"id": "rec1", "name": "*.example.com", "type": "A", "content": "51.15.0.10"},
                }
            ],
        },
        {
            "mode": "managed",
            "type": "scaleway_vpc_private_network",
            "name": "swarm",
            "instances": [
                {
                    "attributes": {
                        "id": "fr-par/pn1",
                        "name": "swarmwiz-demo-swarm",
                        "ipv4_subnet": [{"subnet": "10.0.4.0/22"}],
                    }
                }
            ],
        },
    ],
}


def test_inventory_names_each_object_as_a_person_knows_it(tmp_path):
    path = tmp_path / "terraform.tfstate"
    path.write_text(json.dumps(STATE))
    items = tfstate.inventory(tfstate.load(path))
    assert [(i.kind, i.name, i.detail) for i in items] == [
        ("server", "demo-manager-1", "fr-par-1 51.15.0.10"),  # the IP found through ip_id
        ("public IP", "manager-1", "51.15.0.10"),
        ("DNS record", "*.example.com", "A 51.15.0.10"),
        ("private network", "swarmwiz-demo-swarm", "10.0.4.0/22"),
    ]
    assert items[0].id.endswith("2222") and items[0].address == 'scaleway_instance_server.node["manager-1"]'
    assert all("PRIVATE KEY" not in repr(i) for i in items)


def test_state_ids_and_presence():
    assert tfstate.ids(STATE) == {"11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222",
                                  "rec1", "pn1"}  # fmt: skip
    assert tfstate.holds_resources(STATE)
    assert not tfstate.holds_resources({"resources": [STATE["resources"][0]]})  # a data source owns nothing
    assert tfstate.load(Path("/nonexistent")) == {}
