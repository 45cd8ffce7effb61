"""Pre-flight DNS against another workspace's records (issue 12): a record carrying another swarmwiz owner id at the
cluster's names is refused with one sentence, even with dns.replace_existing (it is that cluster's, live)."""

from __future__ import annotations

import dataclasses

import pytest

from swarmwiz.core.api.inventory import DnsRecord
from swarmwiz.core.errors import InputError
from swarmwiz.core.preflight import check_dns, other_workspace
from swarmwiz.core.spec import load_spec

MINE, THEIRS = "0123456789ab", "ba9876543210"


def wildcard(comment: str) -> DnsRecord:
    return DnsRecord("*.example.com", "A", "192.0.2.7", "rec-1", comment, "zone-1")


@pytest.mark.parametrize("replace", [False, True])
def test_another_workspaces_record_is_refused_even_with_replace(cluster_toml, replace):
    spec = dataclasses.replace(load_spec(cluster_toml), replace_existing=replace)
    with pytest.raises(InputError) as err:
        check_dns([wildcard(f"swarmwiz:demo:{THEIRS}:manager-1")], spec, MINE)
    message = str(err.value)
    assert message.startswith("dns: *.example.com (A -> 192.0.2.7) belongs to swarmwiz cluster 'demo' of another")
    assert THEIRS in message and "dns.subdomain" in message and "nothing was created" in message
    assert "\n" not in message and err.value.exit_code == 2
    # A workspace not yet rendered (no owner id) is refused the same way.
    with pytest.raises(InputError, match="another workspace"):
        check_dns([wildcard(f"swarmwiz:other:{THEIRS}:manager-1")], spec, None)


def test_own_unowned_and_pre_owner_records(cluster_toml):
    spec = load_spec(cluster_toml)
    assert check_dns([wildcard(f"swarmwiz:demo:{MINE}:manager-1")], spec, MINE).in_the_way == []  # ours: kept
    legacy = wildcard("swarmwiz:demo:manager-1")  # no owner id: nobody's provably, so replaceable by choice
    with pytest.raises(InputError, match="which is not this cluster's"):
        check_dns([legacy], spec, MINE)
    assert check_dns([legacy], dataclasses.replace(spec, replace_existing=True), MINE).in_the_way == [legacy]
    plain = wildcard("")
    assert check_dns([plain], dataclasses.replace(spec, replace_existing=True), MINE).in_the_way == [plain]
    # Another workspace's record elsewhere in the zone is not in the way.
    elsewhere = dataclasses.replace(wildcard(f"swarmwiz:demo:{THEIRS}:manager-1"), name="*.b.example.com")
    assert check_dns([elsewhere], spec, MINE).in_the_way == []


@pytest.mark.parametrize(
    ("comment", "expected"),
    [
        (f"swarmwiz:demo:{THEIRS}:manager-1", ("demo", THEIRS)),
        ("swarmwiz:demo:manager-1", None),
        ("swarmwiz:demo:NOTHEX123456:manager-1", None),
        ("hand-made", None),
        ("", None),
    ],
)
def test_other_workspace_reads_the_comment(comment, expected):
    assert other_workspace(wildcard(comment)) == expected
