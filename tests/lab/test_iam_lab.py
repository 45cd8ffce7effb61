"""The lab's IAM API read through the official SDK: each key's principal, policy, group and rules in the real shapes,
403 without IAMReadOnly, and ReadOnly sets that read but never write."""

from __future__ import annotations

import pytest
from scaleway.iam.v1alpha1 import IamV1Alpha1API, PermissionSetScopeType, UserType
from scaleway.instance.v1 import InstanceV1API
from scaleway_core.api import ScalewayException

from swarmwiz.lab import Lab

pytestmark = [pytest.mark.lab]


def client(api_lab, key: dict):
    return api_lab.scaleway(access_key=key["SCW_ACCESS_KEY"], secret_key=key["SCW_SECRET_KEY"])


def status_of(call) -> int:
    with pytest.raises(ScalewayException) as caught:
        call()
    return caught.value.status_code


def test_default_key_is_the_organisation_owner(api_lab):
    iam = IamV1Alpha1API(api_lab.scaleway())
    key = iam.get_api_key(access_key=api_lab.creds["SCW_ACCESS_KEY"])
    assert key.user_id and key.application_id is None
    user = iam.get_user(user_id=key.user_id)
    assert user.type_ == UserType.OWNER and user.organization_id == api_lab.creds["SCW_DEFAULT_ORGANIZATION_ID"]
    assert iam.list_policies_all(user_ids=[key.user_id], organization_id=user.organization_id) == []


@pytest.mark.parametrize("via_group", [False, True])
def test_minted_key_is_an_application_whose_policy_holds_its_sets(api_lab, via_group):
    lab = Lab(api_lab.lab_dir)
    key = lab.mint_scaleway_key(["InstancesReadOnly", "SSHKeysFullAccess", "IAMReadOnly"], via_group=via_group)
    other = lab.mint_scaleway_key(["AllProductsFullAccess", "IAMReadOnly"])
    iam = IamV1Alpha1API(client(api_lab, key))
    org = api_lab.creds["SCW_DEFAULT_ORGANIZATION_ID"]
    app = iam.get_api_key(access_key=key["SCW_ACCESS_KEY"]).application_id
    assert app and iam.get_application(application_id=app).organization_id == org
    groups = iam.list_groups_all(organization_id=org, application_ids=[app])
    assert [g.application_ids for g in groups] == ([[app]] if via_group else [])
    if via_group:
        policies = iam.list_policies_all(organization_id=org, group_ids=[groups[0].id])
        assert [p.group_id for p in policies] == [groups[0].id] and policies[0].application_id is None
        assert iam.list_policies_all(organization_id=org, application_ids=[app]) == []
    else:
        policies = iam.list_policies_all(organization_id=org, application_ids=[app])
        assert [p.application_id for p in policies] == [app]
    assert len(iam.list_policies_all(organization_id=org)) == 2  # the other key's policy is there too
    rules = {tuple(r.permission_set_names): r for r in iam.list_rules_all(policy_id=policies[0].id)}
    products = rules[("InstancesReadOnly", "SSHKeysFullAccess")]
    assert products.permission_sets_scope_type == PermissionSetScopeType.PROJECTS and products.organization_id == org
    organization = rules[("IAMReadOnly",)]
    assert organization.permission_sets_scope_type == PermissionSetScopeType.ORGANIZATION
    assert other["SCW_ACCESS_KEY"] != key["SCW_ACCESS_KEY"]


def test_project_rule_names_the_project(api_lab):
    sets = ["AllProductsReadOnly", "IAMReadOnly"]
    key = Lab(api_lab.lab_dir).mint_scaleway_key(sets, elsewhere={"p-1": ["AllProductsFullAccess"]})
    iam = IamV1Alpha1API(client(api_lab, key))
    app = iam.get_api_key(access_key=key["SCW_ACCESS_KEY"]).application_id
    org = api_lab.creds["SCW_DEFAULT_ORGANIZATION_ID"]
    (policy,) = iam.list_policies_all(organization_id=org, application_ids=[app])
    products = next(
        r for r in iam.list_rules_all(policy_id=policy.id) if "AllProductsFullAccess" in r.permission_set_names
    )
    assert products.project_ids == ["p-1"] and products.organization_id is None


def test_iam_reads_need_iam_read(api_lab):
    key = Lab(api_lab.lab_dir).mint_scaleway_key(["AllProductsFullAccess"])
    iam = IamV1Alpha1API(client(api_lab, key))
    org = api_lab.creds["SCW_DEFAULT_ORGANIZATION_ID"]
    assert status_of(lambda: iam.get_api_key(access_key=key["SCW_ACCESS_KEY"])) == 403
    assert status_of(lambda: iam.list_policies(organization_id=org)) == 403
    assert status_of(lambda: iam.list_groups(organization_id=org)) == 403
    assert status_of(lambda: iam.list_rules(policy_id="x")) == 403
    InstanceV1API(client(api_lab, key)).create_ip(zone="fr-par-1", type_="routed_ipv4")  # its products work


def test_all_products_read_only_reads_but_never_writes(api_lab):
    key = Lab(api_lab.lab_dir).mint_scaleway_key(["AllProductsReadOnly"])
    instance = InstanceV1API(client(api_lab, key))
    assert instance.list_ips(zone="fr-par-1").ips == []
    assert status_of(lambda: instance.create_ip(zone="fr-par-1", type_="routed_ipv4")) == 403
    assert status_of(lambda: IamV1Alpha1API(client(api_lab, key)).create_ssh_key(public_key="ssh-ed25519 AAAA")) == 403
