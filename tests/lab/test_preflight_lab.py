"""Pre-flight against the lab's API: keys missing a permission set, quotas and DNS records in the way are refused
before any object exists, each in one sentence naming what is missing and the way out."""

from __future__ import annotations

import dataclasses
import logging

import pytest
from support import cluster_text

from swarmwiz.core.api import Endpoints
from swarmwiz.core.credentials import credentials_from_env
from swarmwiz.core.errors import CredentialError, InputError
from swarmwiz.core.pipeline import Pipeline
from swarmwiz.core.spec import parse_spec
from swarmwiz.lab import Lab

pytestmark = [pytest.mark.lab]


class KeyTarget:
    """The lab's API with a chosen Scaleway key (the CLI's --lab always uses the lab's all-powerful one)."""

    is_lab = True
    label = "lab API"

    def __init__(self, api_lab, **override: str) -> None:
        self.env = {
            **{k: v for k, v in api_lab.creds.items() if isinstance(v, str)},
            **override,
            "SCW_API_URL": api_lab.url,
            "CLOUDFLARE_BASE_URL": api_lab.cloudflare_url,
        }

    def prepare(self) -> None:
        pass

    def environment(self) -> dict[str, str]:
        return dict(self.env)

    def credentials(self):
        return credentials_from_env(self.env).require()

    def endpoints(self) -> Endpoints:
        return Endpoints.from_env(self.env)

    def secrets(self) -> list[str]:
        return [self.env["SCW_SECRET_KEY"], self.env["CLOUDFLARE_API_TOKEN"]]


def spec_of(ssh_keypair, tmp_path, managers=1, workers=1, **dns):
    text = cluster_text(ssh_keypair[1], managers=managers, workers=workers)
    return dataclasses.replace(parse_spec(text), **dns)


def deploy(spec, target):
    pipeline = Pipeline.for_spec(spec, target)
    for _event in pipeline.deploy(auto_approve=True):
        pass


def nothing_exists(api_lab, swarmwiz_home) -> None:
    status = Lab(api_lab.lab_dir).status()
    assert not status["servers"] and not status["ips"] and not status["private_networks"]
    assert not (swarmwiz_home / "clusters" / "demo").exists()


@pytest.mark.parametrize(
    ("sets", "lacking"),
    [
        (["InstancesFullAccess", "VPCFullAccess", "SSHKeysFullAccess"], "IPAMReadOnly (needed to read the nodes'"),
        (["InstancesFullAccess", "IPAMReadOnly", "SSHKeysFullAccess"], "VPCFullAccess (needed to create the"),
    ],
)
def test_key_missing_a_permission_set_is_refused_before_anything_exists(
    api_lab, swarmwiz_home, ssh_keypair, tmp_path, sets, lacking
):
    key = Lab(api_lab.lab_dir).mint_scaleway_key(sets, project_scoped=True)
    with pytest.raises(CredentialError) as info:
        deploy(spec_of(ssh_keypair, tmp_path), KeyTarget(api_lab, **key))
    assert f"The Scaleway API key lacks {lacking}" in str(info.value)
    assert str(info.value).count(" (needed") == 1  # only what is missing is named
    nothing_exists(api_lab, swarmwiz_home)


def test_project_scoped_key_that_can_do_the_job_passes(api_lab, swarmwiz_home, ssh_keypair, tmp_path):
    """403 on IAM api-keys, projects and quotas means "cannot tell": the key passes, the quota check warns."""
    sets = ["InstancesFullAccess", "VPCFullAccess", "IPAMReadOnly", "SSHKeysFullAccess"]
    key = Lab(api_lab.lab_dir).mint_scaleway_key(sets, project_scoped=True)
    pipeline = Pipeline.for_spec(spec_of(ssh_keypair, tmp_path), KeyTarget(api_lab, **key))
    events = list(pipeline._phase_credentials())
    notices = [e.message for e in events if type(e).__name__ == "Notice"]
    assert any("quotas could not be read" in n for n in notices), notices
    assert type(events[-1]).__name__ == "PhaseFinished"


def test_quota_of_two_servers_refuses_a_five_node_cluster(api_lab, swarmwiz_home, ssh_keypair, tmp_path):
    Lab(api_lab.lab_dir).set_options(quotas={"instances": 2})
    with pytest.raises(InputError) as info:
        deploy(spec_of(ssh_keypair, tmp_path, managers=3, workers=2), KeyTarget(api_lab))
    assert str(info.value).startswith(
        "The Scaleway quota instances allows 2 servers and the project has 0: this cluster needs 5 more, 3 over "
        "the quota"
    )
    nothing_exists(api_lab, swarmwiz_home)


def test_per_type_quota_is_named(api_lab, swarmwiz_home, ssh_keypair, tmp_path):
    Lab(api_lab.lab_dir).set_options(quotas={"instances_dev1_m": 1})
    with pytest.raises(InputError) as info:
        deploy(spec_of(ssh_keypair, tmp_path, managers=1, workers=3), KeyTarget(api_lab))
    assert "quota instances_dev1_m allows 1 DEV1-M servers" in str(info.value) and "2 over" in str(info.value)
    nothing_exists(api_lab, swarmwiz_home)


@pytest.mark.parametrize(("kind", "content"), [("A", "203.0.113.7"), ("CNAME", "elsewhere.example.net")])
def test_record_in_the_way_stops_the_deploy(api_lab, swarmwiz_home, ssh_keypair, tmp_path, kind, content):
    cf = api_lab.cloudflare()
    zone = next(z for z in cf.zones.list(name="example.com") if z.name == "example.com")
    cf.dns.records.create(zone_id=zone.id, type=kind, name="*.example.com", content=content, ttl=300)
    with pytest.raises(InputError) as info:
        deploy(spec_of(ssh_keypair, tmp_path), KeyTarget(api_lab))
    message = str(info.value)
    assert message.startswith(f"dns: the zone already has the record {kind} *.example.com -> {content},")
    assert "set dns.subdomain" in message and "dns.replace_existing = true" in message and "--replace-dns" in message
    nothing_exists(api_lab, swarmwiz_home)

    # With a subdomain the pre-flight passes; with replace_existing the record is deleted only once approved.
    target = KeyTarget(api_lab)
    moved = Pipeline.for_spec(spec_of(ssh_keypair, tmp_path, subdomain="apps"), target)
    assert type(list(moved._phase_credentials())[-1]).__name__ == "PhaseFinished"
    replacing = Pipeline.for_spec(spec_of(ssh_keypair, tmp_path, replace_existing=True), target)
    with pytest.raises(InputError, match="was not confirmed"):
        list(replacing._phase_credentials(lambda records: False))
    assert [r.name for r in cf.dns.records.list(zone_id=zone.id)] == ["*.example.com"]
    shown = []
    list(replacing._phase_credentials(lambda records: shown.extend(records) or True))
    assert [(r.type, r.content) for r in shown] == [(kind, content)]
    assert list(cf.dns.records.list(zone_id=zone.id)) == []


def test_routed_ip_quota_counts_what_exists(api_lab, swarmwiz_home, ssh_keypair, tmp_path):
    """IPs already in the region count against the quota (one routed IPv4 per node), in any zone."""
    from scaleway.instance.v1 import InstanceV1API

    Lab(api_lab.lab_dir).set_options(quotas={"ip_routed_ipv4": 3})
    InstanceV1API(api_lab.scaleway()).create_ip(zone="fr-par-3", type_="routed_ipv4")  # outside the cluster's zones
    with pytest.raises(InputError) as info:
        deploy(spec_of(ssh_keypair, tmp_path, managers=1, workers=2), KeyTarget(api_lab))
    assert "quota ip_routed_ipv4 allows 3 routed IPv4 addresses and the project has 1" in str(info.value)
    assert "needs 3 more, 1 over the quota" in str(info.value)
    assert len(Lab(api_lab.lab_dir).status()["ips"]) == 1


# -- write rights, read from the key's IAM policies (a read probe cannot tell ReadOnly from FullAccess) ----------
WRITERS = ["InstancesFullAccess", "VPCFullAccess", "IPAMReadOnly", "SSHKeysFullAccess"]


def lab_objects(api_lab) -> int:
    status = Lab(api_lab.lab_dir).status()
    return sum(len(v) for k, v in status.items() if isinstance(v, list) and k != "dns_zones")


@pytest.mark.parametrize(
    ("sets", "via_group", "lacking"),
    [
        (["InstancesReadOnly", "VPCFullAccess", "IPAMReadOnly", "SSHKeysFullAccess"], False, "InstancesFullAccess"),
        (["InstancesFullAccess", "VPCReadOnly", "IPAMReadOnly", "SSHKeysFullAccess"], True, "VPCFullAccess"),
        (["AllProductsReadOnly"], False, "InstancesFullAccess"),
    ],
)
def test_read_only_key_is_refused_before_anything_exists(
    api_lab, swarmwiz_home, ssh_keypair, tmp_path, sets, via_group, lacking
):
    """Its reads pass every probe; its IAM rules show that it may not write: refused as a failed read probe is
    (CredentialError, exit 1), nothing created."""
    lab = Lab(api_lab.lab_dir)
    key = lab.mint_scaleway_key([*sets, "IAMReadOnly"], via_group=via_group)
    before = lab_objects(api_lab)
    with pytest.raises(CredentialError) as info:
        deploy(spec_of(ssh_keypair, tmp_path), KeyTarget(api_lab, **key))
    assert str(info.value).startswith(f"The Scaleway API key lacks {lacking} (needed"), str(info.value)
    assert "ReadOnly (" not in str(info.value)  # a read it has is not named
    assert info.value.exit_code == 1
    assert lab_objects(api_lab) == before
    nothing_exists(api_lab, swarmwiz_home)


def test_rule_scoped_to_another_project_does_not_count(api_lab, swarmwiz_home, ssh_keypair, tmp_path):
    """Reads everywhere, full access in another project only: refused for this one."""
    other = "0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b"
    sets = ["AllProductsReadOnly", "SSHKeysFullAccess", "IAMReadOnly"]
    key = Lab(api_lab.lab_dir).mint_scaleway_key(sets, elsewhere={other: ["AllProductsFullAccess"]})
    with pytest.raises(CredentialError) as info:
        deploy(spec_of(ssh_keypair, tmp_path), KeyTarget(api_lab, **key))
    assert "lacks InstancesFullAccess (" in str(info.value) and " and VPCFullAccess (" in str(info.value)
    assert "SSHKeysFullAccess (" not in str(info.value)
    nothing_exists(api_lab, swarmwiz_home)


def credentials_phase(api_lab, ssh_keypair, tmp_path, key) -> tuple[list[str], object]:
    pipeline = Pipeline.for_spec(spec_of(ssh_keypair, tmp_path), KeyTarget(api_lab, **key))
    events = list(pipeline._phase_credentials())
    return [e.message for e in events if type(e).__name__ == "Notice"], events[-1]


def test_key_without_iam_read_is_warned_and_goes_on(api_lab, swarmwiz_home, ssh_keypair, tmp_path):
    key = Lab(api_lab.lab_dir).mint_scaleway_key(WRITERS)  # no IAMReadOnly: 403 on the IAM reads
    notices, last = credentials_phase(api_lab, ssh_keypair, tmp_path, key)
    warned = [n for n in notices if "write rights could not be verified" in n]
    assert len(warned) == 1 and "IAMReadOnly" in warned[0], notices
    assert type(last).__name__ == "PhaseFinished"


def test_write_rights_are_read_from_iam_once_per_preflight(api_lab, swarmwiz_home, ssh_keypair, tmp_path, caplog):
    """The key's IAM rules are read once per pre-flight (the credentials check used to read them a second time),
    counted in the lab API's access log: one listing (from its first page) of the key's groups, one of its rules."""
    key = Lab(api_lab.lab_dir).mint_scaleway_key([*WRITERS, "IAMReadOnly"], via_group=True)
    with caplog.at_level(logging.DEBUG, logger="swarmwiz.lab.api"):
        _notices, last = credentials_phase(api_lab, ssh_keypair, tmp_path, key)
    assert type(last).__name__ == "PhaseFinished"
    access_log = [r.getMessage() for r in caplog.records if r.name == "swarmwiz.lab.api"]
    listings = [m.split()[2] for m in access_log if "/iam/v1alpha1/" in m and "page=1" in m]
    assert len([path for path in listings if path.startswith("/iam/v1alpha1/groups?")]) == 1, listings
    assert len([path for path in listings if path.startswith("/iam/v1alpha1/rules?")]) == 1, listings


@pytest.mark.parametrize(
    ("sets", "via_group"),
    [(["AllProductsFullAccess", "IAMReadOnly"], False), ([*WRITERS, "IAMReadOnly"], True), (None, False)],
)
def test_key_that_may_write_passes_without_warning(api_lab, swarmwiz_home, ssh_keypair, tmp_path, sets, via_group):
    """An application's policy (or its group's) with the FullAccess sets, or the Owner's key (None): no policy."""
    key = {} if sets is None else Lab(api_lab.lab_dir).mint_scaleway_key(sets, via_group=via_group)
    notices, last = credentials_phase(api_lab, ssh_keypair, tmp_path, key)
    assert not [n for n in notices if "write rights" in n], notices
    assert type(last).__name__ == "PhaseFinished"


def test_wizard_credential_check_names_the_write_right_a_read_only_key_lacks(api_lab):
    """The wizard's credentials step (validate_credentials) says what deploy would refuse, before the user goes on."""
    from swarmwiz.core.api.validate import validate_credentials

    key = Lab(api_lab.lab_dir).mint_scaleway_key(
        ["InstancesReadOnly", "VPCFullAccess", "IPAMReadOnly", "SSHKeysFullAccess", "IAMReadOnly"]
    )
    target = KeyTarget(api_lab, **key)
    checks = {c.attr: c for c in validate_credentials(target.credentials(), target.endpoints())}
    project = checks["scw_project_id"]
    assert not project.ok and project.reason == "permission"
    assert project.message.startswith("The Scaleway API key lacks InstancesFullAccess ("), project.message
