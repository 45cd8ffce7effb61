"""The lab's IAM as the real API shows it: each key's principal (the owner user, or an application), its policy,
the group the policy may hang on, and the policy's rules with their permission sets and scope.

Shapes: the official SDK's unmarshalling (scaleway 2.12, scaleway/iam/v1alpha1/marshalling.py: APIKey, User,
Application, Group, Policy, Rule); semantics: Scaleway's IAM docs (docs/iam/concepts: the Owner of an Organization
has every right without any policy; reference-content/permission-sets: organisation-scoped sets such as IAMReadOnly
versus project-scoped sets such as InstancesFullAccess, whose rules name projects or the whole organisation).
"""

from __future__ import annotations

import uuid

from swarmwiz.lab.api.cloud import Filters, LabCloud, filtered, paginate, values
from swarmwiz.lab.api.errors import scw_not_found

# Sets that only an organisation-wide rule may carry (the docs' "Scoped by Organization" list).
ORGANIZATION_SETS = frozenset(
    {
        "IAMReadOnly",
        "IAMManager",
        "ProjectReadOnly",
        "ProjectManager",
        "OrganizationReadOnly",
        "OrganizationManager",
        "BillingReadOnly",
        "BillingManager",
    }
)


def _id(*parts: str) -> str:
    """A stable id derived from the key, so a key's IAM objects stay the same across lab restarts."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "swarmwiz-lab:" + ":".join(parts)))


def owner_id(cloud: LabCloud) -> str:
    """The Owner user of the lab's organisation, whose key is the lab's default one."""
    return _id("owner", cloud.organization)


def minted(cloud: LabCloud) -> list[dict]:
    return list(cloud.creds.get("scaleway_keys", {}).values())


def application_id(record: dict) -> str:
    return _id("application", record["access_key"])


def group_id(record: dict) -> str:
    return _id("group", record["access_key"])


def policy_id(record: dict) -> str:
    return _id("policy", record["access_key"])


def principal(cloud: LabCloud, access_key: str) -> dict:
    """{"user_id": ...} for the default key, {"application_id": ...} for a minted one; 404 for an unknown key."""
    if access_key == cloud.creds["SCW_ACCESS_KEY"]:
        return {"user_id": owner_id(cloud)}
    for record in minted(cloud):
        if record["access_key"] == access_key:
            return {"application_id": application_id(record)}
    raise scw_not_found("access_key", access_key)


def user_view(cloud: LabCloud, user_id: str) -> dict:
    if user_id != owner_id(cloud):
        raise scw_not_found("user", user_id)
    return {
        "id": user_id,
        "email": "owner@lab.invalid",
        "username": "owner",
        "first_name": "",
        "last_name": "",
        "phone_number": "",
        "locale": "en_US",
        "organization_id": cloud.organization,
        "deletable": False,
        "created_at": cloud.created,
        "updated_at": cloud.created,
        "last_login_at": None,
        "type": "owner",
        "mfa": False,
        "account_root_user_id": user_id,
        "tags": [],
        "locked": False,
        "two_factor_enabled": False,
        "status": "activated",
    }


def application_view(cloud: LabCloud, app_id: str) -> dict:
    if not any(application_id(r) == app_id for r in minted(cloud)):
        raise scw_not_found("application", app_id)
    return {
        "id": app_id,
        "name": "swarmwiz-lab-" + app_id[:8],
        "description": "swarmwiz lab key (restricted)",
        "organization_id": cloud.organization,
        "editable": True,
        "deletable": True,
        "managed": False,
        "nb_api_keys": 1,
        "tags": [],
        "created_at": cloud.created,
        "updated_at": cloud.created,
    }


def _group_view(cloud: LabCloud, record: dict) -> dict:
    return {
        "id": group_id(record),
        "organization_id": cloud.organization,
        "name": "swarmwiz-lab-group-" + group_id(record)[:8],
        "description": "",
        "created_at": cloud.created,
        "updated_at": cloud.created,
        "user_ids": [],
        "application_ids": [application_id(record)],
        "tags": [],
        "editable": True,
        "deletable": True,
        "managed": False,
        "all_users": False,
        "all_applications": False,
    }


def _policy_view(cloud: LabCloud, record: dict) -> dict:
    via_group = bool(record.get("via_group"))
    return {
        "id": policy_id(record),
        "name": "swarmwiz-lab-policy-" + policy_id(record)[:8],
        "description": "",
        "organization_id": cloud.organization,
        "editable": True,
        "deletable": True,
        "managed": False,
        "nb_rules": len(_rules(cloud, record)),
        "nb_scopes": len(_rules(cloud, record)),
        "nb_permission_sets": sum(len(r["permission_set_names"]) for r in _rules(cloud, record)),
        "created_at": cloud.created,
        "updated_at": cloud.created,
        "tags": [],
        # A policy has exactly one principal: a user, a group or an application.
        **({"group_id": group_id(record)} if via_group else {"application_id": application_id(record)}),
    }


def _rules(cloud: LabCloud, record: dict) -> list[dict]:
    """The key's permission sets as rules: product sets scoped to its project (project_scoped) or to the whole
    organisation (every project), organisation-level sets in an organisation-wide rule of their own."""
    sets = record["permission_sets"]
    product = [s for s in sets if s not in ORGANIZATION_SETS]
    organization = [s for s in sets if s in ORGANIZATION_SETS]
    rules = []
    if product:
        scope = (
            {"project_ids": [record["default_project_id"]]}
            if record["project_scoped"]
            else {"organization_id": cloud.organization}
        )
        rules.append(
            {
                "id": _id("rule-products", record["access_key"]),
                "permission_sets_scope_type": "projects",
                "condition": "",
                "permission_set_names": product,
                **scope,
            }
        )
    for project, elsewhere in sorted((record.get("elsewhere") or {}).items()):
        rules.append(
            {
                "id": _id("rule-project", record["access_key"], project),
                "permission_sets_scope_type": "projects",
                "condition": "",
                "permission_set_names": list(elsewhere),
                "project_ids": [project],
            }
        )
    if organization and not record["project_scoped"]:
        rules.append(
            {
                "id": _id("rule-organization", record["access_key"]),
                "permission_sets_scope_type": "organization",
                "condition": "",
                "permission_set_names": organization,
                "organization_id": cloud.organization,
            }
        )
    return rules


GROUP_FILTERS: Filters = {"name": ("name", "contains")}
POLICY_FILTERS: Filters = {"policy_name": ("name", "contains")}


def _in_organization(cloud: LabCloud, query: dict) -> bool:
    wanted = query.get("organization_id")
    return not wanted or wanted == cloud.organization


def list_groups(cloud: LabCloud, query: dict) -> dict:
    groups = [_group_view(cloud, r) for r in minted(cloud) if r.get("via_group")]
    if not _in_organization(cloud, query):
        groups = []
    if values(query, "application_ids"):
        groups = [g for g in groups if set(g["application_ids"]) & set(values(query, "application_ids"))]
    if values(query, "user_ids"):
        groups = [g for g in groups if set(g["user_ids"]) & set(values(query, "user_ids"))]
    if values(query, "group_ids"):
        groups = [g for g in groups if g["id"] in values(query, "group_ids")]
    page, total = paginate(filtered(groups, query, GROUP_FILTERS), query)
    return {"groups": page, "total_count": total}


def list_policies(cloud: LabCloud, query: dict) -> dict:
    policies = [_policy_view(cloud, r) for r in minted(cloud)] if _in_organization(cloud, query) else []
    for param, field in (
        ("application_ids", "application_id"),
        ("user_ids", "user_id"),
        ("group_ids", "group_id"),
        ("policy_ids", "id"),
    ):
        if values(query, param):
            policies = [p for p in policies if p.get(field) in values(query, param)]
    page, total = paginate(filtered(policies, query, POLICY_FILTERS), query)
    return {"policies": page, "total_count": total}


def list_rules(cloud: LabCloud, query: dict) -> dict:
    wanted = query.get("policy_id") or ""
    record = next((r for r in minted(cloud) if policy_id(r) == wanted), None)
    if record is None:
        raise scw_not_found("policy", wanted)
    page, total = paginate(_rules(cloud, record), query)
    return {"rules": page, "total_count": total}
