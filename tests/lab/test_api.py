"""The lab API through the official SDKs: credentials good and bad, the catalogue, CRUD, faults, Cloudflare."""

from __future__ import annotations

import ipaddress
import json
import time

import pytest
from scaleway.account.v3 import AccountV3ProjectAPI
from scaleway.iam.v1alpha1 import IamV1Alpha1API
from scaleway.instance.v1 import InstanceV1API, SecurityGroupRuleAction, SecurityGroupRuleDirection
from scaleway.instance.v1 import SecurityGroupRuleProtocol as Proto
from scaleway.instance.v1.types import SetSecurityGroupRulesRequestRule
from scaleway.ipam.v1 import IpamV1API
from scaleway.vpc.v2 import VpcV2API
from scaleway_core.api import ScalewayException

from swarmwiz.core import paths
from swarmwiz.lab import Lab
from swarmwiz.lab import state as files

PUBKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test@lab"


def error_body(exc: ScalewayException) -> dict:
    return json.loads(exc.response.text)


# ----- credentials ---------------------------------------------------------------------------------------


def test_lab_credentials_have_the_real_formats(api_lab):
    client = api_lab.scaleway()
    client.validate()  # the SDK's offline checks: access key ^SCW[A-Z0-9]{17}$, secret and project UUIDs
    assert len(api_lab.creds["CLOUDFLARE_API_TOKEN"]) == 40
    assert (api_lab.lab_dir / files.CREDENTIALS_FILE).stat().st_mode & 0o777 == 0o600


def test_api_key_and_project_lookups(api_lab):
    client = api_lab.scaleway()
    key = IamV1Alpha1API(client).get_api_key(access_key=client.access_key)
    assert key.default_project_id == api_lab.creds["SCW_DEFAULT_PROJECT_ID"]
    assert key.secret_key is None
    project = AccountV3ProjectAPI(client).get_project(project_id=client.default_project_id)
    assert project.id == client.default_project_id


def test_wrong_secret_is_denied_like_scaleway(api_lab):
    client = api_lab.scaleway(secret_key="11111111-2222-4333-8444-555555555555")
    with pytest.raises(ScalewayException) as caught:
        IamV1Alpha1API(client).get_api_key(access_key=client.access_key)
    assert caught.value.status_code == 401
    body = error_body(caught.value)
    assert body["type"] == "denied_authentication" and body["message"] == "authentication is denied"
    assert body["method"] == "api_key" and "reason" in body
    with pytest.raises(ScalewayException) as caught:
        InstanceV1API(client).list_servers(zone="fr-par-1")
    assert caught.value.status_code == 401


def test_foreign_project_and_unknown_key(api_lab):
    client = api_lab.scaleway()
    with pytest.raises(ScalewayException) as caught:
        AccountV3ProjectAPI(client).get_project(project_id="11111111-2222-4333-8444-555555555555")
    assert caught.value.status_code == 403 and error_body(caught.value)["type"] == "permissions_denied"
    with pytest.raises(ScalewayException) as caught:
        IamV1Alpha1API(client).get_api_key(access_key="SCWAAAAAAAAAAAAAAAAA")
    assert caught.value.status_code == 404 and error_body(caught.value)["type"] == "not_found"


def test_cloudflare_tokens(api_lab):
    import cloudflare

    verified = api_lab.cloudflare().user.tokens.verify()
    assert verified.status == "active"
    with pytest.raises(cloudflare.AuthenticationError) as caught:
        api_lab.cloudflare("x" * 40).user.tokens.verify()
    assert caught.value.status_code == 401
    assert caught.value.body["errors"][0]["code"] == 1000 and caught.value.body["success"] is False
    with pytest.raises(cloudflare.PermissionDeniedError):
        list(api_lab.cloudflare("x" * 40).zones.list())


def test_minted_tokens_without_dns_edit_and_expired(api_lab):
    import cloudflare

    lab = Lab(api_lab.lab_dir)
    read_only = lab.mint_cloudflare_token(dns_edit=False)
    expired = lab.mint_cloudflare_token(expired=True)
    cf = api_lab.cloudflare(read_only)
    zone = next(iter(cf.zones.list(name="example.com")))
    assert list(cf.dns.records.list(zone_id=zone.id)) == []
    with pytest.raises(cloudflare.PermissionDeniedError) as caught:
        cf.dns.records.create(zone_id=zone.id, name="x.example.com", type="A", content="192.0.2.1", ttl=1)
    assert caught.value.body["errors"][0]["code"] == 10000
    assert api_lab.cloudflare(expired).user.tokens.verify().status == "expired"
    with pytest.raises(cloudflare.PermissionDeniedError):
        list(api_lab.cloudflare(expired).zones.list())


# ----- catalogue ------------------------------------------------------------------------------------------


def test_catalogue_comes_from_the_bundled_snapshot(api_lab):
    catalog = json.loads(paths.bundled_catalog_path().read_text())
    offered = {n: t for n, t in catalog["instance_types"].items() if "fr-par-1" in t["per_zone"]}
    api = InstanceV1API(api_lab.scaleway())
    types, page = {}, 1
    while True:
        resp = api.list_servers_types(zone="fr-par-1", per_page=50, page=page)
        types.update(resp.servers)
        if len(types) >= int(resp.total_count):  # the SDK copies X-Total-Count, a string, as Scaleway sends it
            break
        page += 1
    assert set(types) == set(offered)
    dev1s = types["DEV1-S"]
    assert dev1s.monthly_price == offered["DEV1-S"]["per_zone"]["fr-par-1"]["monthly_price_eur"]
    assert dev1s.ncpus == offered["DEV1-S"]["ncpus"] and dev1s.ram == int(offered["DEV1-S"]["ram_gib"] * 1024**3)
    stock = api.get_server_types_availability(zone="fr-par-1", per_page=100).servers
    assert stock["DEV1-S"].availability == offered["DEV1-S"]["per_zone"]["fr-par-1"]["availability"]


# ----- CRUD -----------------------------------------------------------------------------------------------


def test_server_with_ip_security_group_and_private_network(api_lab, monkeypatch):
    monkeypatch.setenv("SWARMWIZ_LAB_TIME_SCALE", "0.2")  # demo-1 then starts for about 1 s
    client = api_lab.scaleway()
    api = InstanceV1API(client)
    ip = api.create_ip(zone="fr-par-1", type_="routed_ipv4", tags=["swarmwiz"]).ip
    sg = api.create_security_group(
        name="sg", description="", stateful=True, inbound_default_policy="drop", outbound_default_policy="accept"
    ).security_group
    rules = api.set_security_group_rules(
        security_group_id=sg.id,
        rules=[
            SetSecurityGroupRulesRequestRule(
                action=SecurityGroupRuleAction.ACCEPT,
                protocol=Proto.TCP,
                direction=SecurityGroupRuleDirection.INBOUND,
                ip_range="0.0.0.0/0",
                position=1,
                editable=True,
                dest_port_from=22,
                dest_port_to=22,
            )
        ],
    ).rules
    assert [(r.protocol, r.dest_port_from) for r in rules] == [("TCP", 22)]
    pn = VpcV2API(client).create_private_network(
        name="swarm", subnets=["172.16.8.0/22"], default_route_propagation_enabled=False
    )
    server = api._create_server(
        zone="fr-par-1",
        commercial_type="DEV1-S",
        image="ubuntu_noble",
        name="demo-1",
        protected=False,
        public_ips=[ip.id],
        security_group=sg.id,
        tags=["a", "b"],
    ).server
    assert server.state == "stopped" and server.public_ips[0].address == ip.address
    nic = api.create_private_nic(server_id=server.id, private_network_id=pn.id).private_nic
    ipam = IpamV1API(client).list_i_ps(region="fr-par", resource_id=nic.id).ips
    # Dual stack, as Scaleway: the network has an IPv6 /64 too and IPAM lists the NIC's IPv6 address first.
    v6_subnet = ipaddress.ip_network(pn.subnets[1].subnet)
    assert [s.subnet for s in pn.subnets][0] == "172.16.8.0/22" and v6_subnet.prefixlen == 64
    assert [i.is_ipv6 for i in ipam] == [True, False]
    assert ipaddress.ip_interface(ipam[0].address).ip in v6_subnet
    assert ipam[1].address == "172.16.8.2/22"  # .1 is the subnet's gateway
    api.server_action(server_id=server.id, action="poweron")
    starting = api.get_server(server_id=server.id).server
    assert (starting.state, starting.state_detail, starting.allowed_actions) == (
        "starting",
        "allocating node",
        ["stop_in_place", "backup"],
    )
    deadline = time.monotonic() + 10
    while api.get_server(server_id=server.id).server.state == "starting" and time.monotonic() < deadline:
        time.sleep(0.1)
    listed = api.list_servers(zone="fr-par-1", tags=["a"]).servers
    assert [(s.name, s.state, s.security_group.id) for s in listed] == [("demo-1", "running", sg.id)]
    assert api.get_ip(ip=ip.id).ip.server.id == server.id
    api.delete_server(server_id=server.id)
    with pytest.raises(ScalewayException) as caught:
        api.get_server(server_id=server.id)
    assert caught.value.status_code == 404 and error_body(caught.value)["type"] == "not_found"
    assert api.get_ip(ip=ip.id).ip.server is None
    status = Lab(api_lab.lab_dir).status()  # daemon not running: read from the state file
    assert status["servers"] == [] and [i["address"] for i in status["ips"]] == [ip.address]


def test_invalid_inputs_are_rejected(api_lab):
    api = InstanceV1API(api_lab.scaleway())
    with pytest.raises(ScalewayException) as caught:
        api._create_server(zone="fr-par-1", commercial_type="NOPE-1", image="ubuntu_noble", name="x", protected=False)
    assert caught.value.status_code == 400 and "commercial_type" in error_body(caught.value)["fields"]
    with pytest.raises(ScalewayException):
        api.create_ip(zone="fr-par-1", type_="nat")
    sg = api.create_security_group(
        name="sg", description="", stateful=True, inbound_default_policy="drop", outbound_default_policy="accept"
    ).security_group
    with pytest.raises(ScalewayException) as caught:  # ESP is IP protocol 50, not a rule protocol
        api.set_security_group_rules(
            security_group_id=sg.id,
            rules=[
                SetSecurityGroupRulesRequestRule(
                    action=SecurityGroupRuleAction.ACCEPT,
                    protocol="ESP",
                    direction=SecurityGroupRuleDirection.INBOUND,
                    ip_range="0.0.0.0/0",
                    position=1,
                    editable=True,
                )
            ],
        )
    assert "protocol" in error_body(caught.value)["fields"]


def test_ssh_keys(api_lab):
    iam = IamV1Alpha1API(api_lab.scaleway())
    key = iam.create_ssh_key(public_key=PUBKEY, name="admin")
    assert key.fingerprint.startswith("256 SHA256:") and key.project_id == api_lab.creds["SCW_DEFAULT_PROJECT_ID"]
    assert [k.name for k in iam.list_ssh_keys().ssh_keys] == ["admin"]
    iam.delete_ssh_key(ssh_key_id=key.id)
    assert iam.list_ssh_keys().ssh_keys == []


def test_dns_records_crud(api_lab):
    cf = api_lab.cloudflare()
    zones = {z.name: z.id for z in cf.zones.list()}
    assert set(zones) == {"example.com", "lab.test"}  # from SWARMWIZ_LAB_ZONES
    zone_id = zones["example.com"]
    rec = cf.dns.records.create(
        zone_id=zone_id,
        name="*",
        type="A",
        content="192.0.2.10",
        ttl=1,
        proxied=False,
        comment="swarmwiz:demo:manager-1",
    )
    assert rec.name == "*.example.com"  # relative names are completed with the zone, as Cloudflare does
    cf.dns.records.edit(dns_record_id=rec.id, zone_id=zone_id, content="192.0.2.11", type="A", name=rec.name, ttl=1)
    found = list(cf.dns.records.list(zone_id=zone_id, name={"exact": "*.example.com"}))
    assert [(r.id, r.content) for r in found] == [(rec.id, "192.0.2.11")]
    cf.dns.records.delete(dns_record_id=rec.id, zone_id=zone_id)
    assert list(cf.dns.records.list(zone_id=zone_id)) == []


# ----- faults ---------------------------------------------------------------------------------------------


def test_faults_quota_failure_and_delay(api_lab):
    lab = Lab(api_lab.lab_dir)
    lab.set_faults(
        [
            {"match": "*-worker-*", "action": "quota"},
            {"match": "*-broken", "action": "fail"},
            {"match": "*-slow", "action": "delay", "seconds": 0.5},
        ]
    )
    api = InstanceV1API(api_lab.scaleway())

    def create(name: str):
        return api._create_server(
            zone="fr-par-1", commercial_type="DEV1-S", image="ubuntu_noble", name=name, protected=False
        ).server

    with pytest.raises(ScalewayException) as caught:
        create("demo-worker-1")
    body = error_body(caught.value)
    assert caught.value.status_code == 403 and body["type"] == "quotas_exceeded"
    assert body["details"][0]["resource"] == "instances_dev1_s"
    with pytest.raises(ScalewayException) as caught:
        create("demo-broken")
    assert caught.value.status_code == 500 and error_body(caught.value)["type"] == "internal_error"
    started = time.monotonic()
    assert create("demo-slow").name == "demo-slow"
    assert time.monotonic() - started >= 0.5
    assert create("demo-manager-1").name == "demo-manager-1"
    assert [s.name for s in api.list_servers(zone="fr-par-1").servers] == ["demo-slow", "demo-manager-1"]


def test_list_filters_of_the_real_api(api_lab):
    """Every list filters as the real API does: VPC tags match any, Instance tags match all, pages by page_size."""
    client = api_lab.scaleway()
    vpc = VpcV2API(client)
    mine = vpc.create_private_network(
        name="a-mine", subnets=["172.16.8.0/22"], tags=["swarmwiz-cluster=a"], default_route_propagation_enabled=False
    )
    vpc.create_private_network(
        name="b-other", subnets=["172.16.12.0/22"], tags=["swarmwiz-cluster=b"], default_route_propagation_enabled=False
    )
    assert [p.id for p in vpc.list_private_networks(tags=["swarmwiz-cluster=a"]).private_networks] == [mine.id]
    both = vpc.list_private_networks(tags=["swarmwiz-cluster=a", "swarmwiz-cluster=b"]).private_networks
    assert len(both) == 2
    assert vpc.list_private_networks(project_id="11111111-2222-4333-8444-555555555555").private_networks == []
    assert [p.name for p in vpc.list_private_networks(page_size=1, page=2).private_networks] == ["b-other"]
    assert [p.name for p in vpc.list_private_networks(order_by="created_at_desc").private_networks][0] == "b-other"
    api = InstanceV1API(client)
    api.create_ip(zone="fr-par-1", type_="routed_ipv4", tags=["x", "y"])
    api.create_ip(zone="fr-par-1", type_="routed_ipv4", tags=["x"])
    assert len(api.list_ips(zone="fr-par-1", tags=["x"]).ips) == 2
    assert len(api.list_ips(zone="fr-par-1", tags=["x", "y"]).ips) == 1
    assert api.list_ips(zone="fr-par-1", project="11111111-2222-4333-8444-555555555555").ips == []
    iam = IamV1Alpha1API(client)
    iam.create_ssh_key(public_key=PUBKEY, name="admin")
    assert iam.list_ssh_keys(name="nobody").ssh_keys == [] and len(iam.list_ssh_keys(name="adm").ssh_keys) == 1
    projects = AccountV3ProjectAPI(client).list_projects(name="not-this-one").projects
    assert projects == []
