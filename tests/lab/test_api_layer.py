"""swarmwiz.core.api against the in-process lab API: pagination, typed errors without secrets, ownership checked
on the client (whatever the server filtered), and the clean-up that deletes only what is provably the cluster's."""

from __future__ import annotations

import time

import pytest
from scaleway.iam.v1alpha1 import IamV1Alpha1API
from scaleway.instance.v1 import InstanceV1API
from scaleway.vpc.v2 import VpcV2API

from swarmwiz.core.api import Endpoints
from swarmwiz.core.api.cleanup import Cleanup
from swarmwiz.core.api.clients import ApiClients
from swarmwiz.core.api.inventory import CloudObject, Inventory, cluster_tags, ssh_key_name
from swarmwiz.core.credentials import credentials_from_env
from swarmwiz.core.errors import ApiDenied, ApiError, ApiNotFound, CredentialError

PUBKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test@lab"
OURS, THEIRS = "0123456789ab", "ba9876543210"


def clients(api_lab, **override: str) -> ApiClients:
    creds = credentials_from_env({**api_lab.creds, **override})
    return ApiClients(creds, Endpoints(api_lab.url, api_lab.cloudflare_url))


def secrets(api_lab) -> list[str]:
    return [api_lab.creds["SCW_SECRET_KEY"], api_lab.creds["CLOUDFLARE_API_TOKEN"]]


def zone_id(api_lab, name: str = "example.com") -> str:
    return next(z.id for z in api_lab.cloudflare().zones.list(name=name))


def make_cluster(api_lab, owner: str, cluster: str = "demo", zone: str = "fr-par-1") -> dict:
    """One of each kind the clean-up knows, tagged/commented/named for (cluster, owner); returns {kind: id}."""
    client = api_lab.scaleway()
    instance = InstanceV1API(client)
    tags = ["swarmwiz", *cluster_tags(cluster, owner)]
    subnet = "172.16.8.0/22" if zone == "fr-par-1" else "172.16.12.0/22"
    ip = instance.create_ip(zone=zone, type_="routed_ipv4", tags=tags).ip
    sg = instance.create_security_group(
        zone=zone,
        name=f"swarmwiz-{cluster}-{owner}",
        description="",
        stateful=True,
        inbound_default_policy="drop",
        outbound_default_policy="accept",
        tags=tags,
    ).security_group
    pn = VpcV2API(client).create_private_network(
        region="fr-par",
        name=f"swarmwiz-{cluster}-swarm",
        subnets=[subnet],
        tags=tags,
        default_route_propagation_enabled=False,
    )
    server = instance._create_server(
        zone=zone,
        commercial_type="DEV1-S",
        image="ubuntu_noble",
        name=f"{cluster}-manager-1",
        protected=False,
        public_ips=[ip.id],
        security_group=sg.id,
        tags=tags,
    ).server
    instance.server_action(zone=zone, server_id=server.id, action="poweron")
    key = IamV1Alpha1API(client).create_ssh_key(public_key=PUBKEY, name=ssh_key_name(cluster, owner))
    record = api_lab.cloudflare().dns.records.create(
        zone_id=zone_id(api_lab),
        name="*",
        type="A",
        content=ip.address,  # the manager's address: Cloudflare refuses an identical record (81058)
        ttl=1,
        comment=f"swarmwiz:{cluster}:{owner}:manager-1",
    )
    return {"server": server.id, "ip": ip.id, "security group": sg.id, "private network": pn.id,
            "ssh key": key.id, "dns record": record.id}  # fmt: skip


def test_cluster_objects_are_only_those_carrying_name_and_owner(api_lab):
    ours = make_cluster(api_lab, OURS)
    theirs = make_cluster(api_lab, THEIRS, zone="fr-par-2")  # same cluster name, another workspace
    with clients(api_lab) as api:
        found = Inventory(api).cluster_objects("demo", OURS, "fr-par", ["fr-par-1", "fr-par-2"], "example.com")
    assert {o.kind: o.id for o in found.owned} == ours
    assert {o.kind: o.id for o in found.foreign} == theirs  # the lab ignores `tags` for private networks
    assert found.deletable == found.owned


def test_without_owner_id_nothing_is_deletable_and_the_note_says_why(api_lab):
    make_cluster(api_lab, OURS)
    with clients(api_lab) as api:
        found = Inventory(api).cluster_objects("demo", None, "fr-par", ["fr-par-1"], "example.com")
        assert found.owned == [] and found.deletable == [] and len(found.foreign) == 6
        assert "no owner id" in found.notes[0]
        with pytest.raises(ApiError, match="not provably this cluster's own .its workspace has no owner id"):
            Cleanup(api, "fr-par", None).delete_all(found.foreign)
        with pytest.raises(ApiError, match=f"do not carry its owner id {OURS}.*nothing was deleted"):
            Cleanup(api, "fr-par", OURS).delete_all(found.foreign)  # the same objects, not proved to be ours
        assert len(Inventory(api).cluster_objects("demo", None, "fr-par", ["fr-par-1"], "example.com").foreign) == 6


def test_similar_names_are_not_the_cluster(api_lab):
    make_cluster(api_lab, OURS, cluster="demo2")
    with clients(api_lab) as api:
        found = Inventory(api).cluster_objects("demo", OURS, "fr-par", ["fr-par-1"], "example.com")
    assert found.owned == [] and found.foreign == []


def test_cleanup_deletes_what_is_ours_and_nothing_else(api_lab):
    make_cluster(api_lab, OURS)
    theirs = make_cluster(api_lab, THEIRS, zone="fr-par-2")
    with clients(api_lab) as api:
        inventory = Inventory(api)
        found = inventory.cluster_objects("demo", OURS, "fr-par", ["fr-par-1", "fr-par-2"], "example.com")
        deleted = [o.kind for o in Cleanup(api, "fr-par", OURS, poll=0.05).delete_all(found.owned)]
        # The server's local volume is listed too (it goes with the server: its 404 counts as deleted).
        assert deleted == ["server", "dns record", "ip", "security group", "volume", "private network", "ssh key"]
        after = inventory.cluster_objects("demo", OURS, "fr-par", ["fr-par-1", "fr-par-2"], "example.com")
    assert after.owned == [] and {o.kind: o.id for o in after.foreign} == theirs


def test_pagination_reads_every_page(api_lab):
    """More objects than one page holds, on both APIs (the lab pages at 50 by default, as Scaleway does)."""
    instance = InstanceV1API(api_lab.scaleway())
    tags = cluster_tags("big", OURS)
    for _ in range(55):
        instance.create_ip(zone="fr-par-1", type_="routed_ipv4", tags=tags)
    cf = api_lab.cloudflare()
    zid = zone_id(api_lab)
    for i in range(105):
        cf.dns.records.create(
            zone_id=zid, name=f"n{i}", type="A", content="192.0.2.1", ttl=1, comment=f"swarmwiz:big:{OURS}:n{i}"
        )
    with clients(api_lab) as api:
        found = Inventory(api).cluster_objects("big", OURS, "fr-par", ["fr-par-1"], "example.com")
        records = Inventory(api).dns_records("example.com")
    assert len([o for o in found.owned if o.kind == "ip"]) == 55
    assert len([o for o in found.owned if o.kind == "dns record"]) == 105 == len(records)


def test_not_found_is_typed_and_names_the_call(api_lab):
    with clients(api_lab) as api, pytest.raises(ApiNotFound) as caught:
        api.instance().get_server(zone="fr-par-1", server_id="00000000-0000-4000-8000-000000000000")
    err = caught.value
    assert err.status == 404 and err.api == "Scaleway"
    assert "GET /instance/v1/zones/fr-par-1/servers/00000000-0000-4000-8000-000000000000" in str(err)
    assert all(s not in str(err) for s in secrets(api_lab))
    with clients(api_lab) as api:
        assert Inventory(api).zone_id("nope.test") is None and Inventory(api).dns_records("nope.test") == []


def test_denied_is_typed_as_a_credential_problem_without_secrets(api_lab):
    from swarmwiz.lab import state as files

    with files.locked(api_lab.lab_dir):
        creds = files.load_credentials(api_lab.lab_dir)
        token = files.cloudflare_token()
        creds["cloudflare_tokens"][token] = files.new_token_record(dns_edit=False)
        files.write_json(api_lab.lab_dir / files.CREDENTIALS_FILE, creds)
    api = clients(api_lab, CLOUDFLARE_API_TOKEN=token)
    with pytest.raises(ApiDenied) as caught, api.cf_errors("creating a record"):
        api.cloudflare().dns.records.create(zone_id=zone_id(api_lab), name="x", type="A", content="192.0.2.1", ttl=1)
    assert caught.value.status == 403 and isinstance(caught.value, CredentialError)
    assert token not in str(caught.value) and "creating a record" in str(caught.value)
    with clients(api_lab) as api, pytest.raises(ApiDenied) as caught:
        from scaleway.account.v3 import AccountV3ProjectAPI

        api.scaleway(AccountV3ProjectAPI).get_project(project_id="00000000-0000-4000-8000-000000000000")
    assert caught.value.status == 403 and all(s not in str(caught.value) for s in secrets(api_lab))


def test_waiting_for_a_terminated_server_is_bounded(api_lab):
    """A server that does not go away (terminate is asynchronous on Scaleway) is waited for, then named."""
    server = (
        InstanceV1API(api_lab.scaleway())
        ._create_server(
            zone="fr-par-1", commercial_type="DEV1-S", image="ubuntu_noble", name="demo-manager-1", protected=False
        )
        .server
    )
    obj = CloudObject("server", server.name, server.id, "fr-par-1", owner_id=OURS)
    with clients(api_lab) as api:
        cleanup = Cleanup(api, "fr-par", OURS, server_timeout=0.3, poll=0.05)
        start = time.monotonic()
        with pytest.raises(ApiError, match="was still there 0.3 s after it was terminated"):
            cleanup._wait_gone(obj)  # not terminated: it stays
        assert time.monotonic() - start < 2
        deleted = cleanup.delete_all([obj])  # stopped: deleted, then gone, with its local volume
        assert [(o.kind, o.id) for o in deleted] == [("server", server.id), ("volume", server.volumes["0"].id)]
        with pytest.raises(ApiNotFound):
            api.instance().get_server(zone="fr-par-1", server_id=server.id)
