"""ClusterSpec validation: good specs load, every bad one names its field, all problems are reported together."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from swarmwiz.core.errors import SpecError
from swarmwiz.core.spec import load_spec, parse_spec, validate

FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.fixture
def good(ssh_keypair) -> dict:
    return {
        "name": "demo",
        "zones": ["fr-par-1", "fr-par-2"],
        "managers": {"count": 3, "type": "DEV1-S"},
        "workers": {"count": 2, "type": "DEV1-M"},
        "dns": {"domain": "example.com"},
        "ssh": {"public_key": str(ssh_keypair[1]), "allowed_cidrs": ["0.0.0.0/0"]},
    }


def test_fixture_cluster_toml_loads():
    spec = load_spec(FIXTURES / "cluster.toml")
    assert spec.name == "demo"
    assert spec.region == "fr-par"
    assert spec.zones == ("fr-par-1", "fr-par-2")
    assert (spec.managers.count, spec.managers.type) == (3, "DEV1-S")
    assert spec.ssh_public_key.startswith("ssh-ed25519 AAAA")
    assert spec.node_keys() == ["manager-1", "manager-2", "manager-3", "worker-1", "worker-2"]


def test_defaults_and_round_trip(good):
    spec = validate(good)
    assert spec.image == "ubuntu_noble"
    assert spec.private_subnet is None  # not pinned: the deploy picks a free /22 of the VPC
    assert spec.apex is False
    again = parse_spec(spec.to_toml())
    assert again == spec


def test_tfvars_hold_choices_only(good):
    tfvars = validate(good).tfvars()
    assert tfvars["manager_count"] == 3 and tfvars["worker_type"] == "DEV1-M"
    assert set(tfvars) == {
        "cluster_name", "region", "zones", "image", "manager_count", "manager_type", "worker_count", "worker_type",
        "domain", "apex_record", "ssh_public_key", "ssh_allowed_cidrs",
    }  # fmt: skip


def test_idna_domain_is_stored_as_ascii(good):
    good["dns"]["domain"] = "bücher.example"
    assert validate(good).domain == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("mutate", "field", "phrase"),
    [
        (lambda d: d.update(name="Demo"), "name:", "lowercase"),
        (lambda d: d.update(name="a" * 40), "name:", "1-31"),
        (lambda d: d.update(name="x;rm -rf /"), "name:", "not allowed"),
        (lambda d: d.update(name=5), "name:", "must be a string"),
        (lambda d: d.pop("name"), "name:", "missing"),
        (lambda d: d.update(zones=[]), "zones:", "at least one"),
        (lambda d: d.update(zones=["fr-par-9"]), "zones:", "not a Scaleway zone"),
        (lambda d: d.update(zones=["fr-par-1", "nl-ams-1"]), "zones:", "one region"),
        (lambda d: d.update(zones=["fr-par-1", "fr-par-1"]), "zones:", "twice"),
        (lambda d: d.update(zones="fr-par-1"), "zones:", "must be a list"),
        (lambda d: d["managers"].update(count=2), "managers.count:", "1, 3, 5 or 7"),
        (lambda d: d["managers"].update(count=True), "managers.count:", "whole number"),
        (lambda d: d["managers"].update(type="DEV1-XXL"), "managers.type:", "not a Scaleway instance type"),
        (lambda d: d["managers"].pop("type"), "managers.type:", "missing"),
        (lambda d: d.update(zones=["fr-par-3"]), "managers.type:", "not offered in fr-par-3"),
        (lambda d: d["workers"].update(count=-1), "workers.count:", "0 to 100"),
        (lambda d: d["workers"].update(count=1000), "workers.count:", "0 to 100"),
        (lambda d: d["workers"].update(count="2"), "workers.count:", "whole number"),
        (lambda d: d["dns"].update(domain="not a domain"), "dns.domain:", "not a valid domain"),
        (lambda d: d["dns"].update(domain="localhost"), "dns.domain:", "registered domain"),
        (lambda d: d["dns"].pop("domain"), "dns.domain:", "missing"),
        (lambda d: d["dns"].update(apex="yes"), "dns.apex:", "true or false"),
        (lambda d: d["ssh"].update(public_key="/nonexistent/id.pub"), "ssh.public_key:", "does not exist"),
        (lambda d: d["ssh"].update(allowed_cidrs=["10.0.0.1/8"]), "ssh.allowed_cidrs:", "CIDR"),
        (lambda d: d["ssh"].update(allowed_cidrs=[]), "ssh.allowed_cidrs:", "non-empty"),
        (lambda d: d["ssh"].update(allowed_cidrs=["0.0.0.0/0; drop"]), "ssh.allowed_cidrs:", "CIDR"),
        (lambda d: d.update(manager={"count": 3}), "'manager':", "did you mean 'managers'"),
        (lambda d: d["workers"].update(typ="DEV1-S"), "workers.'typ':", "did you mean 'type'"),
        (lambda d: d.update(image="ubuntu noble; curl x"), "image:", "not an image label"),
        (lambda d: d.update(network={"private_subnet": "8.8.8.0/24"}), "network.private_subnet:", "private IPv4"),
        (lambda d: d.update(network={"private_subnet": "172.16.0.0/8"}), "network.private_subnet:", "CIDR form"),
        (lambda d: d.update(dns="example.com"), "dns:", "must be a table"),
        (lambda d: d.update(state={"bucket": "My_Bucket"}), "state.bucket:", "not a bucket name"),
        (lambda d: d.update(state={"bucket": "ab"}), "state.bucket:", "3-63"),
        (lambda d: d.update(state={"bucket": "a..b"}), "state.bucket:", "not a bucket name"),
        (lambda d: d.update(state={"bucket": "10.0.0.1"}), "state.bucket:", "not a bucket name"),
        (lambda d: d.update(state={"bucket": 5}), "state.bucket:", "must be a string"),
        (lambda d: d.update(state={"bukket": "x"}), "state.'bukket':", "did you mean 'bucket'"),
    ],
)
def test_bad_spec_names_the_field(good, mutate, field, phrase):
    data = copy.deepcopy(good)
    mutate(data)
    with pytest.raises(SpecError) as err:
        validate(data)
    matching = [p for p in err.value.problems if p.startswith(field)]
    assert matching, f"no problem starts with {field!r}: {err.value.problems}"
    assert any(phrase in p for p in matching), matching
    for problem in err.value.problems:
        assert "\n" not in problem and "Traceback" not in problem


def test_state_bucket_is_optional_and_round_trips(good):
    assert validate(good).state_bucket is None
    assert "state" not in validate(good).to_dict()
    spec = validate({**good, "state": {"bucket": "team-swarm.state"}})
    assert spec.state_bucket == "team-swarm.state"
    assert validate(spec.to_dict()).state_bucket == "team-swarm.state"


def test_private_key_is_refused(good, ssh_keypair):
    good["ssh"]["public_key"] = str(ssh_keypair[0])
    with pytest.raises(SpecError) as err:
        validate(good)
    assert err.value.problems == [
        f"ssh.public_key: {ssh_keypair[0]} is a PRIVATE key; give the public key (id_ed25519.pub) and keep the "
        "private one private"
    ]


def test_every_problem_reported_at_once(good):
    good["name"] = "BAD"
    good["zones"] = ["fr-par-1", "pl-waw-1"]
    good["managers"]["count"] = 4
    good["dns"]["domain"] = "-"
    with pytest.raises(SpecError) as err:
        validate(good)
    fields = {p.split(":")[0] for p in err.value.problems}
    assert {"name", "zones", "managers.count", "dns.domain"} <= fields


def test_hostile_and_long_values_are_quoted_and_cut(good):
    good["name"] = "$(reboot)" + "x" * 5000
    with pytest.raises(SpecError) as err:
        validate(good)
    (problem,) = [p for p in err.value.problems if p.startswith("name:")]
    assert len(problem) < 200
    assert "'$(reboot)" in problem


def test_invalid_toml_is_one_sentence(tmp_path):
    path = tmp_path / "cluster.toml"
    path.write_text("name = \n")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert err.value.problems[0].startswith("cluster.toml: not valid TOML")


def test_missing_file(tmp_path):
    with pytest.raises(SpecError) as err:
        load_spec(tmp_path / "nope.toml")
    assert "does not exist" in err.value.problems[0]


def test_subdomain_moves_the_records_and_round_trips(good):
    good["dns"] = {"domain": "example.com", "subdomain": "apps.eu", "replace_existing": True}
    spec = validate(good)
    assert spec.dns_name == "apps.eu.example.com"
    assert spec.tfvars()["subdomain"] == "apps.eu"
    assert spec.replace_existing is True
    assert parse_spec(spec.to_toml()) == spec
    assert "subdomain" not in validate({**good, "dns": {"domain": "example.com"}}).tfvars()


@pytest.mark.parametrize("bad", ["Apps", "-apps", "apps.", "a..b", "*.apps", "apps_1", 7, "x" * 64])
def test_bad_subdomain_is_one_sentence_naming_it(good, bad):
    good["dns"] = {"domain": "example.com", "subdomain": bad}
    with pytest.raises(SpecError) as info:
        validate(good)
    assert [p.field for p in info.value.problems] == ["dns.subdomain"]
