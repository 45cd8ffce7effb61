"""Who is calling: Scaleway's X-Auth-Token secret keys and Cloudflare's bearer tokens, refused as each API does."""

from __future__ import annotations

import re
from typing import Any

from swarmwiz.lab import state as files
from swarmwiz.lab.api.cloud import LabCloud, uuid_ok
from swarmwiz.lab.api.errors import cf_error, cf_errors, scw_denied, scw_error


def _denied(reason: str) -> Exception:
    return scw_error(401, "denied_authentication", "authentication is denied", method="api_key", reason=reason)


# Which IAM permission sets allow a call, by API path prefix: (read, write). A ReadOnly set allows reads (GET)
# only, a write (POST, PUT, PATCH, DELETE) needs the FullAccess set; AllProductsFullAccess allows every product API
# and AllProductsReadOnly reads them all (Scaleway docs, iam/reference-content/permission-sets). Organisation-level
# APIs (IAM, Account) also need an organisation-wide policy.
ALL_PRODUCTS_WRITE = "AllProductsFullAccess"
ALL_PRODUCTS_READ = "AllProductsReadOnly"
PERMISSIONS = (
    ("/instance/", {"InstancesReadOnly", "InstancesFullAccess"}, {"InstancesFullAccess"}),
    ("/vpc/", {"VPCReadOnly", "VPCFullAccess"}, {"VPCFullAccess"}),
    ("/ipam/", {"IPAMReadOnly", "IPAMFullAccess"}, {"IPAMFullAccess"}),
    ("/block/", {"BlockStorageReadOnly", "BlockStorageFullAccess"}, {"BlockStorageFullAccess"}),
    (
        "/iam/v1alpha1/ssh-keys",
        {"SSHKeysReadOnly", "SSHKeysFullAccess", "ProjectManager"},
        {"SSHKeysFullAccess", "ProjectManager"},
    ),
)
# Reading users, applications, groups, policies and rules is IAMReadOnly's (its docs: "list and read access to
# users, groups, applications, policies, and API keys"); a key without it gets 403 there.
ORGANIZATION_LEVEL = (
    ("/iam/v1alpha1/api-keys", {"IAMReadOnly", "IAMManager"}),
    ("/iam/v1alpha1/users", {"IAMReadOnly", "IAMManager"}),
    ("/iam/v1alpha1/applications", {"IAMReadOnly", "IAMManager"}),
    ("/iam/v1alpha1/groups", {"IAMReadOnly", "IAMManager"}),
    ("/iam/v1alpha1/policies", {"IAMReadOnly", "IAMManager"}),
    ("/iam/v1alpha1/rules", {"IAMReadOnly", "IAMManager"}),
    ("/iam/v1alpha1/quota", {"IAMReadOnly", "IAMManager", "OrganizationReadOnly"}),
    ("/account/v3/projects", {"ProjectReadOnly", "ProjectManager"}),
)
PRODUCT_RESOURCES = {
    "/instance/": "instance",
    "/vpc/": "vpc",
    "/ipam/": "ipam",
    "/block/": "block",
    "/iam/v1alpha1/ssh-keys": "ssh_key",
}


def scaleway(cloud: LabCloud, headers: Any) -> dict:
    """The calling key's record (permission sets, scope); 401 as Scaleway answers for an unknown secret."""
    token = headers.get("X-Auth-Token")
    if not token:
        raise _denied("not_found")
    if not uuid_ok(token):
        raise _denied("invalid_argument")
    if token == cloud.creds["SCW_SECRET_KEY"]:
        return {
            "access_key": cloud.creds["SCW_ACCESS_KEY"],
            "default_project_id": cloud.creds["SCW_DEFAULT_PROJECT_ID"],
            "permission_sets": files.DEFAULT_PERMISSION_SETS,
            "project_scoped": False,
        }
    record = cloud.creds.get("scaleway_keys", {}).get(token)
    if record is None:
        raise _denied("not_found")
    return record


def authorize(key: dict, method: str, path: str) -> None:
    """403 permissions_denied, as Scaleway answers, unless one of the key's permission sets allows the call."""
    sets = set(key["permission_sets"])
    write = method != "GET"
    action = "write" if write else "read"
    for prefix, allowed in ORGANIZATION_LEVEL:
        if path.startswith(prefix):
            if key["project_scoped"] or not sets & allowed:
                raise scw_denied(prefix.rsplit("/", 1)[-1].replace("-", "_"), action)
            return
    for prefix, readers, writers in PERMISSIONS:
        if path.startswith(prefix):
            granted = sets & (writers if write else (readers | {ALL_PRODUCTS_READ}))
            if ALL_PRODUCTS_WRITE not in sets and not granted:
                raise scw_denied(PRODUCT_RESOURCES[prefix], action)
            return


def cloudflare(cloud: LabCloud, headers: Any, *, path: str, write: bool) -> dict:
    """The calling token's record; 400 for a missing or malformed header, 401/403 for a bad token."""
    auth = headers.get("Authorization") or ""
    if not auth:
        raise cf_errors(
            400,
            [
                {"code": 9106, "message": "Missing X-Auth-Email header"},
                {"code": 9107, "message": "Missing X-Auth-Key header"},
            ],
        )
    scheme, _, token = auth.partition(" ")
    if scheme != "Bearer" or not re.fullmatch(r"[0-9A-Za-z_-]{40,80}", token):
        raise cf_errors(
            400,
            [
                {
                    "code": 6003,
                    "message": "Invalid request headers",
                    "error_chain": [{"code": 6111, "message": "Invalid format for Authorization header"}],
                }
            ],
        )
    record = cloud.creds["cloudflare_tokens"].get(token)
    account_verify = re.fullmatch(r"/accounts/([^/]+)/tokens/verify", path)
    if path == "/user/tokens/verify" or account_verify:
        # A user token verifies under /user, an account-owned one under its own account only.
        account_owned = bool(record and record.get("account_owned"))
        wrong_place = account_owned != bool(account_verify) or (
            account_verify and account_verify[1] != cloud.creds["cloudflare_account_id"]
        )
        if record is None or wrong_place:
            raise cf_error(401, 1000, "Invalid API Token")
        return record
    if record is None or record["status"] != "active" or (write and not record["dns_edit"]):
        raise cf_error(403, 10000, "Authentication error")
    return record
