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
from support import new_server

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
    server = new_server(api, "demo-1", public_ips=[ip.id], security_group=sg.id, tags=["a", "b"])
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

    with pytest.raises(ScalewayException) as caught:
        new_server(api, "demo-worker-1")
    body = error_body(caught.value)
    assert caught.value.status_code == 403 and body["type"] == "quotas_exceeded"
    assert body["details"][0]["resource"] == "instances_dev1_s"
    with pytest.raises(ScalewayException) as caught:
        new_server(api, "demo-broken")
    assert caught.value.status_code == 500 and error_body(caught.value)["type"] == "internal_error"
    started = time.monotonic()
    assert new_server(api, "demo-slow").name == "demo-slow"
    assert time.monotonic() - started >= 0.5
    assert new_server(api, "demo-manager-1").name == "demo-manager-1"
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


def test_vpcs_default_overlap_and_projects_without_a_default_vpc(api_lab):
    """A default VPC per region (unless the project is too new to have one), and no overlapping subnets in a VPC."""
    vpc_api = VpcV2API(api_lab.scaleway())

    def network(name: str, subnet: str, vpc_id=None):
        return vpc_api.create_private_network(
            name=name, subnets=[subnet], vpc_id=vpc_id, default_route_propagation_enabled=False
        )

    default = [v for v in vpc_api.list_vp_cs(is_default=True).vpcs]
    assert len(default) == 1 and default[0].name == "default"
    first = network("one", "172.16.8.0/22")
    assert first.vpc_id == default[0].id
    with pytest.raises(ScalewayException) as caught:
        network("two", "172.16.10.0/24")  # inside 172.16.8.0/22, same (default) VPC
    body = error_body(caught.value)
    assert caught.value.status_code == 400 and body["type"] == "invalid_arguments"
    assert (
        body["details"][0]["argument_name"] == "subnets"
        and "subnet_overlaps_in_vpc" in body["details"][0]["help_message"]
    )
    with pytest.raises(ScalewayException) as caught:  # Scaleway takes /20 to /29
        network("big", "10.0.0.0/16")
    assert error_body(caught.value)["details"][0]["help_message"] == 'prefix: {"max": 20, "min": 29}'
    own = vpc_api.create_vpc(name="mine", enable_routing=True, enable_transitivity=False)
    assert network("two", "172.16.8.0/22", vpc_id=own.id).vpc_id == own.id  # another VPC may reuse it
    with pytest.raises(ScalewayException) as caught:
        vpc_api.delete_vpc(vpc_id=own.id)
    assert caught.value.status_code == 412

    Lab(api_lab.lab_dir).set_options(default_vpc=False)
    with pytest.raises(ScalewayException) as caught:
        network("three", "172.16.20.0/22", vpc_id=None)
    assert caught.value.status_code == 400 and error_body(caught.value)["details"][0]["argument_name"] == "vpc_id"
    assert network("three", "172.16.20.0/22", vpc_id=own.id).vpc_id == own.id


def test_cloudflare_record_rules_ttl_and_zone_pages(api_lab):
    """Cloudflare as it is: a CNAME stands alone at its name, identical records are refused, TTL is 1 or 60-86400,
    and a /zones page holds at most 50."""
    import cloudflare

    cf = api_lab.cloudflare()
    zone_id = next(iter(cf.zones.list(name="example.com"))).id

    def create(**fields):
        return cf.dns.records.create(zone_id=zone_id, **{"ttl": 1, **fields})

    def refused(code: int, **fields):
        with pytest.raises(cloudflare.BadRequestError) as caught:
            create(**fields)
        assert [e["code"] for e in caught.value.body["errors"]] == [code], caught.value.body

    create(name="www", type="A", content="192.0.2.1")
    refused(81053, name="www", type="CNAME", content="example.net")
    create(name="alias", type="CNAME", content="example.net")
    refused(81054, name="alias", type="A", content="192.0.2.1")
    refused(81058, name="www", type="A", content="192.0.2.1")
    create(name="www", type="A", content="192.0.2.2")  # a round robin is fine
    refused(9021, name="ttl", type="A", content="192.0.2.3", ttl=30)
    create(name="ttl", type="A", content="192.0.2.3", ttl=60)
    refused(9021, name="ttl2", type="A", content="192.0.2.3", ttl=86401)
    page = api_lab.cloudflare().zones.list(per_page=100)
    assert page.result_info.per_page == 50


def test_account_owned_tokens_verify_under_their_account(api_lab):
    import cloudflare

    lab = Lab(api_lab.lab_dir)
    token = lab.mint_cloudflare_token(account_owned=True)
    account = lab.cloudflare_account_id()
    verified = api_lab.cloudflare(token).accounts.tokens.verify(account_id=account)
    assert verified.status == "active"
    with pytest.raises(cloudflare.AuthenticationError) as caught:
        api_lab.cloudflare(token).user.tokens.verify()
    assert caught.value.status_code == 401 and caught.value.body["errors"][0]["code"] == 1000
    with pytest.raises(cloudflare.AuthenticationError):  # a user token does not verify under an account
        api_lab.cloudflare().accounts.tokens.verify(account_id=account)
    assert [z.name for z in api_lab.cloudflare(token).zones.list(name="example.com")] == ["example.com"]


def test_rate_limits_and_transient_errors_on_both_apis(api_lab, monkeypatch):
    """429 with Retry-After and 503, by a rule for one endpoint or at a rate for every call; off by default."""
    import cloudflare
    import httpx

    lab = Lab(api_lab.lab_dir)
    api = InstanceV1API(api_lab.scaleway())
    assert api.list_servers(zone="fr-par-1").servers == []  # default: no injected faults
    lab.set_faults([{"path": "/instance/v1/zones/*/servers", "method": "GET", "status": 429}])
    lab.set_options(retry_after=3)
    headers = {"X-Auth-Token": api_lab.creds["SCW_SECRET_KEY"]}
    resp = httpx.get(f"{api_lab.url}/instance/v1/zones/fr-par-1/servers", headers=headers)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "3"
    assert resp.json()["type"] == "too_many_requests"
    assert api.list_ips(zone="fr-par-1").ips == []  # other endpoints answer
    lab.set_faults([])
    lab.set_options(fault_rate=1.0)
    statuses = {
        httpx.get(f"{api_lab.url}/instance/v1/zones/fr-par-1/ips", headers=headers).status_code for _ in range(30)
    }
    assert statuses == {429, 503}
    with pytest.raises((cloudflare.RateLimitError, cloudflare.InternalServerError)) as caught:
        list(api_lab.cloudflare().zones.list())
    assert caught.value.body["success"] is False
    monkeypatch.setenv("SWARMWIZ_LAB_FAULT_RATE", "1")  # the daemon's environment works too
    lab.set_options(fault_rate=0.0)  # ...but options.json wins
    assert api.list_ips(zone="fr-par-1").ips == []


def test_api_keys_carry_permission_sets(api_lab):
    """A key can do what its IAM permission sets allow; 403 permissions_denied otherwise, as Scaleway answers.
    A key scoped to one project cannot read organisation-level things (API keys, projects)."""
    lab = Lab(api_lab.lab_dir)

    def client(creds: dict):
        return api_lab.scaleway(access_key=creds["SCW_ACCESS_KEY"], secret_key=creds["SCW_SECRET_KEY"])

    def denied(call) -> dict:
        with pytest.raises(ScalewayException) as caught:
            call()
        assert caught.value.status_code == 403, caught.value
        body = error_body(caught.value)
        assert body["type"] == "permissions_denied" and body["message"] == "insufficient permissions"
        return body["details"][0]

    no_ipam = client(lab.mint_scaleway_key(["InstancesFullAccess", "VPCFullAccess", "IAMReadOnly"]))
    assert InstanceV1API(no_ipam).list_servers(zone="fr-par-1").servers == []
    VpcV2API(no_ipam).create_private_network(
        name="n", subnets=["172.16.8.0/22"], default_route_propagation_enabled=False
    )
    assert denied(lambda: IpamV1API(no_ipam).list_i_ps(region="fr-par")) == {"resource": "ipam", "action": "read"}
    IamV1Alpha1API(no_ipam).get_api_key(access_key=no_ipam.access_key)  # organisation-wide IAMReadOnly

    read_only = client(lab.mint_scaleway_key(["InstancesReadOnly", "IPAMReadOnly"]))
    InstanceV1API(read_only).list_ips(zone="fr-par-1")
    detail = denied(lambda: InstanceV1API(read_only).create_ip(zone="fr-par-1", type_="routed_ipv4"))
    assert detail["action"] == "write"
    denied(lambda: VpcV2API(read_only).list_private_networks())

    scoped = client(lab.mint_scaleway_key(["AllProductsFullAccess", "IAMReadOnly"], project_scoped=True))
    InstanceV1API(scoped).create_ip(zone="fr-par-1", type_="routed_ipv4")  # Terraform would work with it
    denied(lambda: IamV1Alpha1API(scoped).get_api_key(access_key=scoped.access_key))
    denied(lambda: AccountV3ProjectAPI(scoped).get_project(project_id=scoped.default_project_id))

    full = api_lab.scaleway()  # the default lab key has everything swarmwiz needs
    assert IamV1Alpha1API(full).get_api_key(access_key=full.access_key).access_key == full.access_key
    assert len(IpamV1API(full).list_i_ps(region="fr-par").ips) == 0


def test_termination_volumes_and_objects_in_use(api_lab):
    """Terminate as Scaleway: running servers only, asynchronous; block volumes outlive it; an IP, security group
    or private network still in use cannot be deleted (412)."""
    lab = Lab(api_lab.lab_dir)
    lab.set_options(terminate_seconds=0.3)  # asynchronous terminate is the default, as on Scaleway
    api = InstanceV1API(api_lab.scaleway())
    ip = api.create_ip(zone="fr-par-1", type_="routed_ipv4").ip
    sg = api.create_security_group(
        name="sg", description="", stateful=True, inbound_default_policy="drop", outbound_default_policy="accept"
    ).security_group
    pn = VpcV2API(api_lab.scaleway()).create_private_network(
        name="pn", subnets=["172.16.8.0/22"], default_route_propagation_enabled=False
    )

    local = new_server(api, "local", "DEV1-S", public_ips=[ip.id], security_group=sg.id)
    api.create_private_nic(server_id=local.id, private_network_id=pn.id)
    block = new_server(api, "block", "POP2-2C-8G")
    assert local.volumes["0"].volume_type == "l_ssd" and block.volumes["0"].volume_type == "sbs_volume"
    assert [v.id for v in api.list_volumes(zone="fr-par-1").volumes] == [local.volumes["0"].id]
    from scaleway.block.v1alpha1 import BlockV1Alpha1API

    block_api = BlockV1Alpha1API(api_lab.scaleway())
    with pytest.raises(ScalewayException) as caught:  # attached: in use
        block_api.delete_volume(volume_id=block.volumes["0"].id, zone="fr-par-1")
    assert caught.value.status_code == 412
    for refuse in (
        lambda: api.delete_ip(ip=ip.id),
        lambda: api.delete_security_group(security_group_id=sg.id),
        lambda: VpcV2API(api_lab.scaleway()).delete_private_network(private_network_id=pn.id),
    ):
        with pytest.raises(ScalewayException) as caught:
            refuse()
        assert caught.value.status_code == 412 and error_body(caught.value)["type"] == "precondition_failed"
    with pytest.raises(ScalewayException) as caught:  # a stopped server is not terminated (allowed: poweron, backup)
        api.server_action(server_id=local.id, action="terminate")
    assert (
        caught.value.status_code == 400 and "terminate" not in api.get_server(server_id=local.id).server.allowed_actions
    )
    for s in (local, block):
        api.server_action(server_id=s.id, action="poweron")
        deadline = time.monotonic() + 30  # poweron goes through `starting` on the boot timeline, as recorded
        while api.get_server(server_id=s.id).server.state != "running" and time.monotonic() < deadline:
            time.sleep(0.05)
        api.server_action(server_id=s.id, action="terminate")
        assert api.get_server(server_id=s.id).server.state == "stopping"  # asynchronous
    deadline = time.monotonic() + 10
    while api.list_servers(zone="fr-par-1").servers and time.monotonic() < deadline:
        time.sleep(0.1)
    assert api.list_servers(zone="fr-par-1").servers == []
    volumes = Lab(api_lab.lab_dir).status()["volumes"]
    assert [(v["name"], v["type"], v["server_id"]) for v in volumes] == [("block-root", "sbs_volume", None)]
    left = block_api.list_volumes(zone="fr-par-1").volumes
    assert [(v.name, v.status, v.references) for v in left] == [("block-root", "available", [])]
    block_api.delete_volume(volume_id=left[0].id, zone="fr-par-1")
    assert block_api.list_volumes(zone="fr-par-1").volumes == [] and api.list_volumes(zone="fr-par-1").volumes == []
    api.delete_ip(ip=ip.id)  # nothing uses them any more
    api.delete_security_group(security_group_id=sg.id)


def test_quotas_refuse_and_iam_quota_api_answers(api_lab):
    """Quotas on servers and IPs: one over answers 403 quotas_exceeded naming it; IAM's quota API lists them."""
    lab = Lab(api_lab.lab_dir)
    lab.set_options(quotas={"instances": 2, "ip_routed_ipv4": 1})
    client = api_lab.scaleway()
    api = InstanceV1API(client)
    api.create_ip(zone="fr-par-1", type_="routed_ipv4")
    with pytest.raises(ScalewayException) as caught:
        api.create_ip(zone="fr-par-2", type_="routed_ipv4")
    body = error_body(caught.value)
    assert caught.value.status_code == 403 and body["type"] == "quotas_exceeded"
    assert body["details"] == [{"resource": "ip_routed_ipv4", "quota": 1, "current": 1}]
    for name in ("a", "b"):
        new_server(api, name)
    with pytest.raises(ScalewayException) as caught:
        new_server(api, "c")
    assert error_body(caught.value)["details"][0]["resource"] == "instances"
    iam = IamV1Alpha1API(client)
    limits = {
        q.name: q.limit for q in iam.list_quota(organization_id=api_lab.creds["SCW_DEFAULT_ORGANIZATION_ID"]).quota
    }
    assert limits == {"instances": 2, "ip_routed_ipv4": 1}
    assert iam.get_quotum(quotum_name="instances_dev1_s").unlimited is True


def test_stub_providers_retry_rate_limits_a_bounded_number_of_times(api_lab):
    """The Terraform stub providers' HTTP client retries 429/5xx as the real providers' do, and gives up after a
    bounded number of attempts."""
    from swarmwiz.lab.providers import base

    lab = Lab(api_lab.lab_dir)
    lab.set_options(retry_after=0)
    headers = {"X-Auth-Token": api_lab.creds["SCW_SECRET_KEY"]}
    url = f"{api_lab.url}/instance/v1/zones/fr-par-1/ips"
    lab.set_faults([{"path": "/instance/v1/zones/*/ips", "status": 429, "rate": 0.2}])
    assert all(base.http("GET", url, headers)[0] == 200 for _ in range(5))  # fails only if 6 in a row are 429
    lab.set_faults([{"path": "/instance/v1/zones/*/ips", "status": 503}])
    started = time.monotonic()
    assert base.http("GET", url, headers)[0] == 503
    assert 4 < time.monotonic() - started < 15  # retried with backoff (no Retry-After on a 503), and bounded
