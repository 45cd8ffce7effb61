"""HTTP clients for the Scaleway and Cloudflare APIs (httpx), and live credential validation built on them."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from swarmwiz.core.credentials import FIELD_BY_ATTR, Check, Credentials, check_format
from swarmwiz.core.errors import CredentialError, InputError

log = logging.getLogger(__name__)

SCALEWAY_URL = "https://api.scaleway.com"
CLOUDFLARE_URL = "https://api.cloudflare.com/client/v4"
DEFAULT_TIMEOUT = 10.0
# Any zone answers the instance permission probe; fr-par-1 offers the most types.
PROBE_ZONE = "fr-par-1"


@dataclass(frozen=True)
class Endpoints:
    """API base URLs; SCW_API_URL and CLOUDFLARE_BASE_URL override them (the lab sets both)."""

    scaleway: str = SCALEWAY_URL
    cloudflare: str = CLOUDFLARE_URL

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Endpoints:
        env = os.environ if env is None else env
        return cls(
            scaleway=(env.get("SCW_API_URL") or SCALEWAY_URL).rstrip("/"),
            cloudflare=(env.get("CLOUDFLARE_BASE_URL") or CLOUDFLARE_URL).rstrip("/"),
        )


class ApiUnreachable(CredentialError):
    """The API did not answer (refused, unknown host, timeout); the message names the API, never a secret."""

    title = "API unreachable"


def _unreachable(api: str, base: str, exc: Exception, timeout: float) -> ApiUnreachable:
    if isinstance(exc, httpx.TimeoutException):
        why = f"no answer within {timeout:g} s"
    elif isinstance(exc, httpx.ConnectError):
        why = "connection refused or host not found"
    else:
        why = type(exc).__name__
    return ApiUnreachable(f"Cannot reach the {api} API at {base}: {why}.")


class _Api:
    """One choke point per API: auth header, timeout, and errors turned into messages without secrets."""

    name = ""

    def __init__(self, base: str, headers: dict[str, str], timeout: float, transport=None) -> None:
        self.base = base.rstrip("/")
        self.timeout = timeout
        self._client = httpx.Client(base_url=self.base, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            return self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            # httpx errors carry the request (URL, headers): raise our own sentence and drop the chain.
            raise _unreachable(self.name, self.base, exc, self.timeout) from None


def _json(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class ScalewayApi(_Api):
    """The few Scaleway endpoints swarmwiz reads: IAM API keys, projects, instance servers and products."""

    name = "Scaleway"

    def __init__(self, secret_key: str, base: str = SCALEWAY_URL, timeout: float = DEFAULT_TIMEOUT, transport=None):
        super().__init__(base, {"X-Auth-Token": secret_key}, timeout, transport)

    def get_api_key(self, access_key: str) -> httpx.Response:
        return self.request("GET", f"/iam/v1alpha1/api-keys/{access_key}")

    def get_project(self, project_id: str) -> httpx.Response:
        return self.request("GET", f"/account/v3/projects/{project_id}")

    def list_servers(self, zone: str, project_id: str) -> httpx.Response:
        return self.request("GET", f"/instance/v1/zones/{zone}/servers", params={"project": project_id, "per_page": 1})

    def _paged_map(self, path: str, key: str) -> dict[str, dict]:
        """Merge `{key: {name: obj}}` pages until total_count (body or X-Total-Count) entries are in hand."""
        merged: dict[str, dict] = {}
        page = 1
        while True:
            response = self.request("GET", path, params={"page": page, "per_page": 100})
            if response.status_code != 200:
                raise CredentialError(f"The Scaleway API refused {path}: {_scaleway_reason(response)}.")
            body = _json(response)
            items = body.get(key) or {}
            merged.update(items)
            total = body.get("total_count") or int(response.headers.get("x-total-count") or 0)
            if not items or len(merged) >= total:
                return merged
            page += 1

    def server_types(self, zone: str) -> dict[str, dict]:
        """{type: ServerType} for `zone`, every page."""
        return self._paged_map(f"/instance/v1/zones/{zone}/products/servers", "servers")

    def server_availability(self, zone: str) -> dict[str, str]:
        """{type: "available"|"scarce"|"shortage"} for `zone`, every page."""
        raw = self._paged_map(f"/instance/v1/zones/{zone}/products/servers/availability", "servers")
        return {name: (v or {}).get("availability") or "unknown" for name, v in raw.items()}


class CloudflareApi(_Api):
    """Cloudflare token verification, zones and the DNS-permission probe."""

    name = "Cloudflare"

    def __init__(self, token: str, base: str = CLOUDFLARE_URL, timeout: float = DEFAULT_TIMEOUT, transport=None):
        super().__init__(base, {"Authorization": f"Bearer {token}"}, timeout, transport)

    def verify_token(self) -> httpx.Response:
        return self.request("GET", "/user/tokens/verify")

    def zones(self, name: str | None = None) -> list[dict]:
        """Every zone the token sees (all pages); CredentialError when listing is refused."""
        zones: list[dict] = []
        page = 1
        while True:
            params = {"page": page, "per_page": 50}
            if name:
                params["name"] = name
            response = self.request("GET", "/zones", params=params)
            if response.status_code != 200:
                raise CredentialError(
                    f"The Cloudflare API token cannot list zones ({_cloudflare_reason(response)}): "
                    "give it the Zone:Read permission."
                )
            body = _json(response)
            zones.extend(body.get("result") or [])
            info = body.get("result_info") or {}
            if page >= int(info.get("total_pages") or 1) or not body.get("result"):
                return zones
            page += 1

    def can_edit_dns(self, zone: dict) -> bool:
        """Whether the token may edit DNS records in `zone`, which is what Terraform will need.

        Probed, not read: create an A record whose address is invalid. Cloudflare authorises before it validates,
        so a token without DNS:Edit gets 403 (code 10000) and one with it gets 400 (code 9005); nothing is
        created either way. (Zone objects carry a `permissions` list, but it is deprecated and describes the
        user rather than reliably the token.)
        """
        response = self.request(
            "POST",
            f"/zones/{zone['id']}/dns_records",
            json={"type": "A", "name": "swarmwiz-permission-probe", "content": "not-an-address", "ttl": 1},
        )
        if response.status_code in (200, 201):  # a lax server accepted it: remove it again
            record = _json(response).get("result") or {}
            if record.get("id"):
                self.request("DELETE", f"/zones/{zone['id']}/dns_records/{record['id']}")
            return True
        return response.status_code not in (401, 403)


def _scaleway_reason(response: httpx.Response) -> str:
    body = _json(response)
    parts = [str(body.get(k)) for k in ("type", "reason", "message") if body.get(k)]
    return f"HTTP {response.status_code}" + (f", {' / '.join(parts)}" if parts else "")


def _cloudflare_reason(response: httpx.Response) -> str:
    errors = _json(response).get("errors") or []
    text = "; ".join(f"{e.get('code')} {e.get('message')}" for e in errors if isinstance(e, dict))
    return f"HTTP {response.status_code}" + (f", {text}" if text else "")


def _expired(timestamp: str | None) -> bool:
    if not timestamp:
        return False
    try:
        when = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return False
    return when.tzinfo is not None and when <= datetime.now(UTC)


# ---------------------------------------------------------------- validation


def _label(attr: str) -> str:
    return FIELD_BY_ATTR[attr].label


def _bad(attr: str, reason: str, message: str) -> Check:
    return Check(attr, False, reason, message)


def _check_scaleway(creds: Credentials, api: ScalewayApi, checks: dict[str, Check]) -> None:
    """Fill the three Scaleway checks: API key lookup (access + secret key), then project access."""
    try:
        key = _check_api_key(creds, api, checks)
        if key is not None:
            checks["scw_project_id"] = _check_project(creds.scw_project_id, key, api)
    except ApiUnreachable as exc:
        for attr in ("scw_access_key", "scw_secret_key", "scw_project_id"):
            if attr not in checks:
                checks[attr] = _bad(attr, "unreachable", f"The {_label(attr)} could not be checked: {exc}")


def _check_api_key(creds: Credentials, api: ScalewayApi, checks: dict[str, Check]) -> dict | None:
    """GET the API key: 401 judges the secret key, 404 the access key. Returns the key (maybe {}), or None
    when the secret key does not work (then nothing else can be checked)."""
    r = api.get_api_key(creds.scw_access_key)
    body = _json(r)
    if r.status_code == 401:
        if body.get("reason") == "expired":
            checks["scw_secret_key"] = _bad("scw_secret_key", "expired", "The Scaleway secret key is expired.")
        else:
            message = f"The Scaleway secret key is rejected by Scaleway ({_scaleway_reason(r)})."
            checks["scw_secret_key"] = _bad("scw_secret_key", "rejected", message)
        for attr in ("scw_access_key", "scw_project_id"):
            checks[attr] = _bad(attr, "skipped", f"The {_label(attr)} was not checked: the secret key does not work.")
        return None
    checks["scw_secret_key"] = Check("scw_secret_key", True, "ok", "The Scaleway secret key is accepted.")
    if r.status_code == 200 and _expired(body.get("expires_at")):
        message = f"The Scaleway access key expired on {body['expires_at']}."
        checks["scw_access_key"] = _bad("scw_access_key", "expired", message)
    elif r.status_code == 200:
        checks["scw_access_key"] = Check("scw_access_key", True, "ok", "The Scaleway access key exists.")
    elif r.status_code == 404:
        checks["scw_access_key"] = _bad(
            "scw_access_key", "rejected", "The Scaleway access key is unknown to Scaleway (no API key with that ID)."
        )
    elif r.status_code == 403:
        # A key without IAM read cannot look itself up; the secret key worked, so the pair is usable.
        checks["scw_access_key"] = Check(
            "scw_access_key",
            True,
            "ok",
            "The Scaleway access key could not be looked up (no IAM read permission); the secret key works.",
        )
    else:
        checks["scw_access_key"] = _bad(
            "scw_access_key", "rejected", f"The Scaleway access key lookup failed ({_scaleway_reason(r)})."
        )
    return body if r.status_code == 200 else {}


def _check_project(pid: str, key: dict, api: ScalewayApi) -> Check:
    """The project must be readable (or be the key's default project), and its instances listable."""
    attr = "scw_project_id"
    r = api.get_project(pid)
    if r.status_code == 404:
        return _bad(attr, "rejected", "The Scaleway project ID names no project (not found).")
    if r.status_code == 403 and pid != key.get("default_project_id"):
        return _bad(
            attr,
            "permission",
            f"The Scaleway project ID names a project this key may not read ({_scaleway_reason(r)}), and it is not "
            "the key's default project: check the ID or the key's IAM policy.",
        )
    if r.status_code not in (200, 403):
        return _bad(attr, "rejected", f"The Scaleway project could not be read ({_scaleway_reason(r)}).")
    name = _json(r).get("name") if r.status_code == 200 else None
    r = api.list_servers(PROBE_ZONE, pid)
    if r.status_code == 403:
        return _bad(
            attr,
            "permission",
            f"The Scaleway key is missing a permission: it cannot list instances in the project "
            f"({_scaleway_reason(r)}); give it InstancesFullAccess there.",
        )
    if r.status_code != 200:
        return _bad(attr, "rejected", f"The Scaleway project's instances could not be listed ({_scaleway_reason(r)}).")
    what = f"project {name!r}" if name else "the key's default project"
    return Check(attr, True, "ok", f"The Scaleway project ID names {what}, and its instances can be listed.")


def _check_cloudflare(creds: Credentials, api: CloudflareApi, domain: str | None) -> Check:
    """One check for the Cloudflare token: verify, then zones visible, then DNS edit on the zone(s)."""
    attr = "cloudflare_token"
    try:
        r = api.verify_token()
        result = _json(r).get("result") or {}
        if r.status_code == 200:
            status = result.get("status")
            if status == "expired" or _expired(result.get("expires_on")):
                return Check(attr, False, "expired", "The Cloudflare API token is expired.")
            if status != "active":
                return Check(attr, False, "rejected", f"The Cloudflare API token is {status or 'not active'}.")
        elif r.status_code not in (401, 403):
            return Check(attr, False, "rejected", f"The Cloudflare API token check failed ({_cloudflare_reason(r)}).")
        try:
            zones = api.zones(domain)
        except ApiUnreachable:
            raise
        except CredentialError as exc:
            if r.status_code != 200:
                # Account-owned tokens fail the user verify endpoint, so only a failed zone list proves rejection.
                return _bad(attr, "rejected", f"The Cloudflare API token is rejected ({_cloudflare_reason(r)}).")
            return Check(attr, False, "permission", str(exc))
        if not zones and domain:
            # Either the domain is not in the account or the token may not read it; a token cannot tell which.
            others = ", ".join(sorted(z.get("name", "?") for z in api.zones())) or "none"
            return _bad(
                attr,
                "unknown_zone",
                f"The Cloudflare API token sees no zone {domain} (zones it sees: {others}): check the domain, or give "
                "the token Zone:Read on it.",
            )
        if not zones:
            return _bad(attr, "permission", "The Cloudflare API token sees no zone: give it Zone:Read on your domain.")
        lacking = [z.get("name") for z in zones if not api.can_edit_dns(z)]
        names = ", ".join(z.get("name", "?") for z in zones)
        if domain and lacking:
            return Check(
                attr,
                False,
                "permission",
                f"The Cloudflare API token is missing a permission: no DNS:Edit on the zone {domain}.",
            )
        if len(lacking) == len(zones):
            return Check(
                attr,
                False,
                "permission",
                f"The Cloudflare API token is missing a permission: no DNS:Edit on any zone it sees ({names}).",
            )
        return Check(attr, True, "ok", f"The Cloudflare API token is active and can edit DNS in {names}.")
    except ApiUnreachable as exc:
        return Check(attr, False, "unreachable", f"The Cloudflare API token could not be checked: {exc}")


def validate_credentials(
    creds: Credentials,
    endpoints: Endpoints | None = None,
    *,
    domain: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[Check]:
    """Check all four credentials: format first (offline), then live against Scaleway and Cloudflare.

    Returns one Check per credential in FIELDS order; a credential with a bad format is not sent anywhere.
    `domain` narrows the Cloudflare check to that zone. Never raises for a bad credential.
    """
    endpoints = endpoints or Endpoints.from_env()
    checks = {c.attr: c for c in check_format(creds) if not c.ok}
    scw_ok = not ({"scw_access_key", "scw_secret_key", "scw_project_id"} & checks.keys())
    if scw_ok:
        with ScalewayApi(creds.value("scw_secret_key"), endpoints.scaleway, timeout) as api:
            _check_scaleway(creds, api, checks)
    else:
        for attr in ("scw_access_key", "scw_secret_key", "scw_project_id"):
            checks.setdefault(attr, Check(attr, False, "skipped", _skipped_message(attr)))
    if "cloudflare_token" not in checks:
        with CloudflareApi(creds.value("cloudflare_token"), endpoints.cloudflare, timeout) as api:
            checks["cloudflare_token"] = _check_cloudflare(creds, api, domain)
    order = ["scw_access_key", "scw_secret_key", "scw_project_id", "cloudflare_token"]
    return [checks[a] for a in order]


def _skipped_message(attr: str) -> str:
    return f"The {_label(attr)} is well formed but was not checked live: fix the other Scaleway credentials first."


def require_valid(creds: Credentials, endpoints: Endpoints | None = None, *, domain: str | None = None) -> None:
    """Raise CredentialError with the first failing check's sentence (for the pipeline's credentials phase).

    A domain the token does not see is bad input (InputError, exit 2) naming dns.domain.
    """
    for check in validate_credentials(creds, endpoints, domain=domain):
        if check.reason == "unknown_zone":
            raise InputError(f"dns.domain: {check.message}")
        if not check.ok and check.reason != "skipped":
            raise CredentialError(check.message)


# ---------------------------------------------------------------- zones for the wizard


def list_cloudflare_zones(
    creds: Credentials, endpoints: Endpoints | None = None, timeout: float = DEFAULT_TIMEOUT
) -> list[str]:
    """Names of the zones the Cloudflare token sees (the wizard's domain picker), sorted."""
    endpoints = endpoints or Endpoints.from_env()
    with CloudflareApi(creds.value("cloudflare_token") or "", endpoints.cloudflare, timeout) as api:
        return sorted(z["name"] for z in api.zones() if z.get("name"))


def cloudflare_zone_id(
    creds: Credentials, name: str, endpoints: Endpoints | None = None, timeout: float = DEFAULT_TIMEOUT
) -> str:
    """The id of the zone called `name`; CredentialError when the token does not see it."""
    endpoints = endpoints or Endpoints.from_env()
    with CloudflareApi(creds.value("cloudflare_token") or "", endpoints.cloudflare, timeout) as api:
        for zone in api.zones(name):
            if zone.get("name") == name:
                return zone["id"]
    raise CredentialError(f"The Cloudflare API token sees no zone named {name}: check the domain or the token's zones.")
