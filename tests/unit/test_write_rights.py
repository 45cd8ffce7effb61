"""The key's write rights read from its IAM rules: which rule grants which permission set where (scopes,
AllProductsFullAccess, ReadOnly versus FullAccess), without any API."""

from __future__ import annotations

import pytest

from swarmwiz.core.preflight import NEEDS, OWNER, Grant, permissions_sentence, unmet

PROJECT = "11111111-1111-4111-8111-111111111111"
OTHER = "22222222-2222-4222-8222-222222222222"
LEAST = ["InstancesFullAccess", "VPCFullAccess", "IPAMReadOnly", "SSHKeysFullAccess"]


def names(needs) -> list[str]:
    return [n.permission_set for n in needs]


def test_owner_has_every_right():
    assert unmet(OWNER, PROJECT) == []


def test_no_rule_lacks_every_write_set_and_leaves_reads_to_the_probes():
    assert names(unmet([], PROJECT)) == ["InstancesFullAccess", "VPCFullAccess", "SSHKeysFullAccess"]


@pytest.mark.parametrize(
    ("sets", "lacking"),
    [
        (LEAST, []),
        (["AllProductsFullAccess"], []),
        (["InstancesReadOnly", "VPCFullAccess", "SSHKeysFullAccess"], ["InstancesFullAccess"]),
        (["InstancesFullAccess", "VPCReadOnly", "SSHKeysReadOnly"], ["VPCFullAccess", "SSHKeysFullAccess"]),
        (["AllProductsReadOnly"], ["InstancesFullAccess", "VPCFullAccess", "SSHKeysFullAccess"]),
        (["InstancesFullAccess", "VPCFullAccess", "ProjectManager"], []),
        (["IAMReadOnly", "IAMManager"], ["InstancesFullAccess", "VPCFullAccess", "SSHKeysFullAccess"]),
    ],
)
def test_readonly_sets_never_grant_a_write(sets, lacking):
    grants = [Grant(frozenset(sets), organization_wide=True)]
    assert names(unmet(grants, PROJECT)) == lacking


def test_rule_of_another_project_grants_nothing_here():
    elsewhere = [Grant(frozenset({"AllProductsFullAccess"}), project_ids=frozenset({OTHER}))]
    assert names(unmet(elsewhere, PROJECT)) == ["InstancesFullAccess", "VPCFullAccess", "SSHKeysFullAccess"]
    here = [Grant(frozenset({"AllProductsFullAccess"}), project_ids=frozenset({OTHER, PROJECT}))]
    assert unmet(here, PROJECT) == []


def test_rules_add_up_each_within_its_own_scope():
    grants = [
        Grant(frozenset({"InstancesFullAccess"}), project_ids=frozenset({PROJECT})),
        Grant(frozenset({"VPCFullAccess", "SSHKeysFullAccess"}), organization_wide=True),
        Grant(frozenset({"AllProductsFullAccess"}), project_ids=frozenset({OTHER})),
    ]
    assert unmet(grants, PROJECT) == []
    assert names(unmet(grants, OTHER)) == []  # the other project has AllProductsFullAccess
    third = "33333333-3333-4333-8333-333333333333"
    assert names(unmet(grants, third)) == ["InstancesFullAccess"]


def test_refusal_names_only_the_missing_set():
    grants = [Grant(frozenset({"InstancesReadOnly", "VPCFullAccess", "SSHKeysFullAccess"}), organization_wide=True)]
    sentence = permissions_sentence(unmet(grants, PROJECT))
    assert sentence.startswith("The Scaleway API key lacks InstancesFullAccess (needed to create the servers")
    assert sentence.count("(needed") == 1 and sentence.endswith("nothing was created.")


def test_every_need_is_granted_by_itself_and_write_needs_by_all_products():
    for need in NEEDS:
        assert need.permission_set in need.granted_by
        assert "AllProductsFullAccess" in need.granted_by
        assert need.write == need.permission_set.endswith("FullAccess")
