"""Who is calling: Scaleway's X-Auth-Token secret keys and Cloudflare's bearer tokens, refused as each API does."""

from __future__ import annotations

import re
from typing import Any

from swarmwiz.lab.api.cloud import LabCloud, uuid_ok
from swarmwiz.lab.api.errors import cf_error, cf_errors, scw_error


def _denied(reason: str) -> Exception:
    return scw_error(401, "denied_authentication", "authentication is denied", method="api_key", reason=reason)


def scaleway(cloud: LabCloud, headers: Any) -> None:
    """Accept the lab's secret key; answer 401 as Scaleway does otherwise."""
    token = headers.get("X-Auth-Token")
    if not token:
        raise _denied("not_found")
    if not uuid_ok(token):
        raise _denied("invalid_argument")
    if token != cloud.creds["SCW_SECRET_KEY"]:
        raise _denied("not_found")


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
    if path == "/user/tokens/verify":
        if record is None:
            raise cf_error(401, 1000, "Invalid API Token")
        return record
    if record is None or record["status"] != "active" or (write and not record["dns_edit"]):
        raise cf_error(403, 10000, "Authentication error")
    return record
