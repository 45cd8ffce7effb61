"""Live credential validation: each of the four credentials judged by what the APIs answer, one sentence each."""

from __future__ import annotations

from datetime import UTC, datetime

from swarmwiz.core.api.clients import ApiClients, cf_all
from swarmwiz.core.api.endpoints import DEFAULT_TIMEOUT, Endpoints, RetryPolicy
from swarmwiz.core.credentials import FIELD_BY_ATTR, Check, Credentials, check_format
from swarmwiz.core.errors import ApiError, ApiUnreachable, CredentialError, InputError

# Any zone answers the instance permission probe; fr-par-1 offers the most types.
PROBE_ZONE = "fr-par-1"
SCALEWAY_ATTRS = ("scw_access_key", "scw_secret_key", "scw_project_id")


def _expired(when: datetime | str | None) -> bool:
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when.replace("Z", "+00:00"))
        except ValueError:
            return False
    return isinstance(when, datetime) and when.tzinfo is not None and when <= datetime.now(UTC)


def _label(attr: str) -> str:
    return FIELD_BY_ATTR[attr].label


def _bad(attr: str, reason: str, message: str) -> Check:
    return Check(attr, False, reason, message)


def _check_scaleway(creds: Credentials, api: ApiClients, checks: dict[str, Check], write_rights: bool) -> None:
    """Fill the three Scaleway checks: API key lookup (access + secret key), then project access."""
    try:
        key = _check_api_key(creds, api, checks)
        if key is not None:
            checks["scw_project_id"] = _check_project(creds.scw_project_id, key, api, write_rights)
    except ApiUnreachable as exc:
        for attr in SCALEWAY_ATTRS:
            if attr not in checks:
                checks[attr] = _bad(attr, "unreachable", f"The {_label(attr)} could not be checked: {exc}")


def _check_api_key(creds: Credentials, api: ApiClients, checks: dict[str, Check]) -> dict | None:
    """Look the API key up: 401 judges the secret key, 404 the access key. Returns what is known of the key
    (maybe {}), or None when the secret key does not work (then nothing else can be checked)."""
    try:
        key = api.iam().get_api_key(access_key=creds.scw_access_key)
    except ApiUnreachable:
        raise
    except ApiError as exc:
        if exc.status == 401:
            if exc.reason == "expired":
                checks["scw_secret_key"] = _bad("scw_secret_key", "expired", "The Scaleway secret key is expired.")
            else:
                message = f"The Scaleway secret key is rejected by Scaleway ({exc.detail})."
                checks["scw_secret_key"] = _bad("scw_secret_key", "rejected", message)
            for attr in ("scw_access_key", "scw_project_id"):
                message = f"The {_label(attr)} was not checked: the secret key does not work."
                checks[attr] = _bad(attr, "skipped", message)
            return None
        checks["scw_secret_key"] = Check("scw_secret_key", True, "ok", "The Scaleway secret key is accepted.")
        if exc.status == 404:
            message = "The Scaleway access key is unknown to Scaleway (no API key with that ID)."
            checks["scw_access_key"] = _bad("scw_access_key", "rejected", message)
        elif exc.status == 403:
            # A key without IAM read cannot look itself up; the secret key worked, so the pair is usable.
            message = "The Scaleway access key could not be looked up (no IAM read permission); the secret key works."
            checks["scw_access_key"] = Check("scw_access_key", True, "ok", message)
        else:
            message = f"The Scaleway access key lookup failed ({exc.detail})."
            checks["scw_access_key"] = _bad("scw_access_key", "rejected", message)
        return {}
    checks["scw_secret_key"] = Check("scw_secret_key", True, "ok", "The Scaleway secret key is accepted.")
    if _expired(key.expires_at):
        message = f"The Scaleway access key expired on {key.expires_at.isoformat()}."
        checks["scw_access_key"] = _bad("scw_access_key", "expired", message)
    else:
        checks["scw_access_key"] = Check("scw_access_key", True, "ok", "The Scaleway access key exists.")
    return {"default_project_id": key.default_project_id}


def _check_project(pid: str, key: dict, api: ApiClients, write_rights: bool) -> Check:
    """The project must be readable (or be the key's default project), and its instances listable; with
    `write_rights`, the key's IAM rules must also grant the FullAccess sets a deploy needs."""
    from scaleway.account.v3 import AccountV3ProjectAPI

    attr = "scw_project_id"
    name = None
    try:
        name = api.scaleway(AccountV3ProjectAPI).get_project(project_id=pid).name
    except ApiUnreachable:
        raise
    except ApiError as exc:
        if exc.status == 404:
            return _bad(attr, "rejected", "The Scaleway project ID names no project (not found).")
        if exc.status != 403:
            return _bad(attr, "rejected", f"The Scaleway project could not be read ({exc.detail}).")
        # A project-scoped key may not read projects (nor itself): then only the probes below can tell.
        if key.get("default_project_id") not in (None, pid):
            return _bad(
                attr,
                "permission",
                f"The Scaleway project ID names a project this key may not read ({exc.detail}), and it is not "
                "the key's default project: check the ID or the key's IAM policy.",
            )
    from swarmwiz.core.preflight import check_write_rights, missing_permissions, permissions_sentence

    try:
        # Cheap reads of each API a deploy needs: a 403 names the permission set the key lacks.
        missing = missing_permissions(api, pid, PROBE_ZONE, PROBE_ZONE.rsplit("-", 1)[0])
    except ApiUnreachable:
        raise
    except ApiError as exc:
        return _bad(attr, "rejected", f"The Scaleway project's instances could not be listed ({exc.detail}).")
    if missing:
        return _bad(attr, "permission", permissions_sentence(missing))
    if write_rights:
        try:
            # Reads pass; IAM tells whether the key may also write (a ReadOnly set where a FullAccess one is needed).
            check_write_rights(api, pid)
        except CredentialError as exc:
            return _bad(attr, "permission", str(exc))
        except ApiError:
            pass  # an unknown key is named by the access-key check; a deploy's pre-flight checks the write rights
    what = f"project {name!r}" if name else "the key's default project"
    return Check(attr, True, "ok", f"The Scaleway project ID names {what}, and the key may use what a deploy needs.")


def can_edit_dns(api: ApiClients, zone_id: str) -> bool:
    """Whether the token may edit DNS records in the zone, which is what Terraform will need.

    Probed, not read: create an A record whose address is invalid. Cloudflare authorises before it validates,
    so a token without DNS:Edit gets 403 (code 10000) and one with it gets 400 (code 9005); nothing is
    created either way. (Zone objects carry a `permissions` list, but it is deprecated and describes the
    user rather than reliably the token.)
    """
    cf = api.cloudflare()
    try:
        with api.cf_errors("the DNS permission probe"):
            record = cf.dns.records.create(
                zone_id=zone_id, type="A", name="swarmwiz-permission-probe", content="not-an-address", ttl=1
            )
    except ApiUnreachable:
        raise
    except ApiError as exc:
        return exc.status not in (401, 403)
    if record is not None and record.id:  # a lax server accepted it: remove it again
        with api.cf_errors("removing the DNS permission probe"):
            cf.dns.records.delete(record.id, zone_id=zone_id)
    return True


def cloudflare_zones(api: ApiClients, name: str | None = None) -> list:
    """Every zone the token sees (all pages, SDK models); CredentialError when listing is refused."""
    try:
        with api.cf_errors("listing zones"):
            return cf_all(api.cloudflare().zones.list(**({"name": name} if name else {}), per_page=50))
    except ApiUnreachable:
        raise
    except ApiError as exc:
        raise CredentialError(
            f"The Cloudflare API token cannot list zones ({exc.detail}): give it the Zone:Read permission."
        ) from None


def _check_cloudflare(api: ApiClients, domain: str | None) -> Check:
    """One check for the Cloudflare token: verify, then zones visible, then DNS edit on the zone(s)."""
    attr = "cloudflare_token"
    try:
        verified = None
        refused: ApiError | None = None
        try:
            with api.cf_errors("the token verification"):
                verified = api.cloudflare().user.tokens.verify()
        except ApiUnreachable:
            raise
        except ApiError as exc:
            if exc.status not in (401, 403):
                return Check(attr, False, "rejected", f"The Cloudflare API token check failed ({exc.detail}).")
            refused = exc
        if verified is not None:
            status = str(verified.status or "")
            if status == "expired" or _expired(verified.expires_on):
                return Check(attr, False, "expired", "The Cloudflare API token is expired.")
            if status != "active":
                return Check(attr, False, "rejected", f"The Cloudflare API token is {status or 'not active'}.")
        try:
            zones = cloudflare_zones(api, domain)
        except ApiUnreachable:
            raise
        except CredentialError as exc:
            if refused is not None:
                # Account-owned tokens fail the user verify endpoint, so only a failed zone list proves rejection.
                return _bad(attr, "rejected", f"The Cloudflare API token is rejected ({refused.detail}).")
            return Check(attr, False, "permission", str(exc))
        if not zones and domain:
            # Either the domain is not in the account or the token may not read it; a token cannot tell which.
            others = ", ".join(sorted(z.name for z in cloudflare_zones(api))) or "none"
            return _bad(
                attr,
                "unknown_zone",
                f"The Cloudflare API token sees no zone {domain} (zones it sees: {others}): check the domain, or give "
                "the token Zone:Read on it.",
            )
        if not zones:
            return _bad(attr, "permission", "The Cloudflare API token sees no zone: give it Zone:Read on your domain.")
        lacking = [z.name for z in zones if not can_edit_dns(api, z.id)]
        names = ", ".join(z.name for z in zones)
        if domain and lacking:
            message = f"The Cloudflare API token is missing a permission: no DNS:Edit on the zone {domain}."
            return Check(attr, False, "permission", message)
        if len(lacking) == len(zones):
            message = f"The Cloudflare API token is missing a permission: no DNS:Edit on any zone it sees ({names})."
            return Check(attr, False, "permission", message)
        return Check(attr, True, "ok", f"The Cloudflare API token is active and can edit DNS in {names}.")
    except ApiUnreachable as exc:
        return Check(attr, False, "unreachable", f"The Cloudflare API token could not be checked: {exc}")


def validate_credentials(
    creds: Credentials,
    endpoints: Endpoints | None = None,
    *,
    domain: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    retry: RetryPolicy | None = None,
    write_rights: bool = True,
) -> list[Check]:
    """Check all four credentials: format first (offline), then live against Scaleway and Cloudflare.

    Returns one Check per credential in FIELDS order; a credential with a bad format is not sent anywhere.
    `domain` narrows the Cloudflare check to that zone; `write_rights=False` leaves the key's IAM rules unread (a
    deploy's pre-flight reads them itself, for their warnings). Never raises for a bad credential.
    """
    checks = {c.attr: c for c in check_format(creds) if not c.ok}
    with ApiClients(creds, endpoints, timeout=timeout, retry=retry) as api:
        if not (set(SCALEWAY_ATTRS) & checks.keys()):
            _check_scaleway(creds, api, checks, write_rights)
        else:
            for attr in SCALEWAY_ATTRS:
                checks.setdefault(attr, Check(attr, False, "skipped", _skipped_message(attr)))
        if "cloudflare_token" not in checks:
            checks["cloudflare_token"] = _check_cloudflare(api, domain)
    return [checks[a] for a in (*SCALEWAY_ATTRS, "cloudflare_token")]


def _skipped_message(attr: str) -> str:
    return f"The {_label(attr)} is well formed but was not checked live: fix the other Scaleway credentials first."


def require_valid(
    creds: Credentials, endpoints: Endpoints | None = None, *, domain: str | None = None, write_rights: bool = True
) -> None:
    """Raise CredentialError with the first failing check's sentence (for the pipeline's credentials phase).

    A domain the token does not see is bad input (InputError, exit 2) naming dns.domain.
    """
    for check in validate_credentials(creds, endpoints, domain=domain, write_rights=write_rights):
        if check.reason == "unknown_zone":
            raise InputError(f"dns.domain: {check.message}")
        if not check.ok and check.reason != "skipped":
            raise CredentialError(check.message)


def list_cloudflare_zones(
    creds: Credentials, endpoints: Endpoints | None = None, timeout: float = DEFAULT_TIMEOUT
) -> list[str]:
    """Names of the zones the Cloudflare token sees (the wizard's domain picker), sorted."""
    with ApiClients(creds, endpoints, timeout=timeout) as api:
        return sorted(z.name for z in cloudflare_zones(api) if z.name)


def cloudflare_zone_id(
    creds: Credentials, name: str, endpoints: Endpoints | None = None, timeout: float = DEFAULT_TIMEOUT
) -> str:
    """The id of the zone called `name`; CredentialError when the token does not see it."""
    with ApiClients(creds, endpoints, timeout=timeout) as api:
        for zone in cloudflare_zones(api, name):
            if zone.name == name:
                return zone.id
    raise CredentialError(f"The Cloudflare API token sees no zone named {name}: check the domain or the token's zones.")
