"""Live credential validation, zone lookup and the live catalogue against the lab API (a real HTTP server)."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from support import api_only_lab

from swarmwiz.core import catalog, livecatalog, paths
from swarmwiz.core.api import Endpoints
from swarmwiz.core.api.validate import cloudflare_zone_id, list_cloudflare_zones, validate_credentials
from swarmwiz.core.credentials import Credentials, credentials_from_env, validate_live
from swarmwiz.core.errors import CredentialError, InputError

pytestmark = pytest.mark.lab


@dataclass
class LabApi:
    url: str
    lab_dir: Path
    raw: dict

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(scaleway=self.url, cloudflare=f"{self.url}/client/v4")

    def credentials(self, **override: str) -> Credentials:
        return credentials_from_env({**self.raw, **override})

    def mint_token(self, **record: bool) -> str:
        """A new Cloudflare token in the lab (dns_edit=False, expired=True ...)."""
        from swarmwiz.lab import state as files

        with files.locked(self.lab_dir):
            creds = files.load_credentials(self.lab_dir)
            token = files.cloudflare_token()
            creds["cloudflare_tokens"][token] = files.new_token_record(**record)
            files.write_json(self.lab_dir / files.CREDENTIALS_FILE, creds)
        return token


@pytest.fixture
def lab_api(tmp_path, monkeypatch):
    """An API-only lab (no hosts: nothing but a loopback HTTP server) holding the zone example.com."""
    monkeypatch.delenv("SWARMWIZ_LAB_ZONES", raising=False)
    lab_dir = tmp_path / "lab"
    with api_only_lab(lab_dir) as (url, raw):
        yield LabApi(url, lab_dir, raw)


def by_attr(checks):
    return {c.attr: c for c in checks}


def no_secret_in(text: str, creds: Credentials) -> bool:
    return all(v not in text for v in creds.secret_values())


def test_valid_credentials_pass_every_check(lab_api):
    checks = validate_credentials(lab_api.credentials(), lab_api.endpoints)
    assert [c.attr for c in checks] == ["scw_access_key", "scw_secret_key", "scw_project_id", "cloudflare_token"]
    assert all(c.ok for c in checks), [c.message for c in checks]
    assert "example.com" in by_attr(checks)["cloudflare_token"].message
    validate_live(lab_api.credentials(), lab_api.endpoints, domain="example.com")


def test_wrong_secret_key_is_rejected(lab_api):
    wrong = str(uuid.uuid4())
    checks = by_attr(validate_credentials(lab_api.credentials(SCW_SECRET_KEY=wrong), lab_api.endpoints))
    assert checks["scw_secret_key"].reason == "rejected"
    assert checks["scw_secret_key"].message.startswith("The Scaleway secret key is rejected")
    assert checks["scw_access_key"].reason == checks["scw_project_id"].reason == "skipped"
    assert checks["cloudflare_token"].ok
    assert all(wrong not in c.message for c in checks.values())
    with pytest.raises(CredentialError, match="Scaleway secret key is rejected"):
        validate_live(lab_api.credentials(SCW_SECRET_KEY=wrong), lab_api.endpoints)


def test_unknown_access_key_is_named(lab_api):
    unknown = "SCW" + "Z" * 17
    checks = by_attr(validate_credentials(lab_api.credentials(SCW_ACCESS_KEY=unknown), lab_api.endpoints))
    assert checks["scw_access_key"].reason == "rejected"
    assert "access key is unknown" in checks["scw_access_key"].message
    assert checks["scw_secret_key"].ok and checks["scw_project_id"].ok


def test_foreign_project_is_a_permission_problem(lab_api):
    checks = by_attr(
        validate_credentials(lab_api.credentials(SCW_DEFAULT_PROJECT_ID=str(uuid.uuid4())), lab_api.endpoints)
    )
    assert checks["scw_project_id"].reason == "permission"
    assert "may not read" in checks["scw_project_id"].message


def test_token_without_dns_edit_is_missing_a_permission(lab_api):
    token = lab_api.mint_token(dns_edit=False)
    creds = lab_api.credentials(CLOUDFLARE_API_TOKEN=token)
    check = by_attr(validate_credentials(creds, lab_api.endpoints))["cloudflare_token"]
    assert check.reason == "permission"
    assert "missing a permission" in check.message and "DNS:Edit" in check.message
    narrowed = by_attr(validate_credentials(creds, lab_api.endpoints, domain="example.com"))["cloudflare_token"]
    assert "DNS:Edit on the zone example.com" in narrowed.message
    # The probe created nothing, with or without the permission.
    validate_credentials(lab_api.credentials(), lab_api.endpoints)
    zone_id = cloudflare_zone_id(lab_api.credentials(), "example.com", lab_api.endpoints)
    records = httpx.get(
        f"{lab_api.endpoints.cloudflare}/zones/{zone_id}/dns_records",
        headers={"Authorization": f"Bearer {lab_api.raw['CLOUDFLARE_API_TOKEN']}"},
    )
    assert records.status_code == 200 and records.json()["result"] == []


def test_expired_token_is_expired(lab_api):
    token = lab_api.mint_token(expired=True)
    check = by_attr(validate_credentials(lab_api.credentials(CLOUDFLARE_API_TOKEN=token), lab_api.endpoints))
    assert check["cloudflare_token"].reason == "expired"
    assert check["cloudflare_token"].message == "The Cloudflare API token is expired."


def test_unknown_token_is_rejected(lab_api):
    token = "u" * 40
    check = by_attr(validate_credentials(lab_api.credentials(CLOUDFLARE_API_TOKEN=token), lab_api.endpoints))
    assert check["cloudflare_token"].reason == "rejected"
    assert token not in check["cloudflare_token"].message


def test_unknown_domain_is_named(lab_api):
    check = by_attr(validate_credentials(lab_api.credentials(), lab_api.endpoints, domain="nope.test"))
    assert check["cloudflare_token"].reason == "unknown_zone"
    assert "sees no zone nope.test (zones it sees: example.com)" in check["cloudflare_token"].message
    with pytest.raises(InputError, match="^dns.domain: "):
        validate_live(lab_api.credentials(), lab_api.endpoints, domain="nope.test")


def test_unreachable_api_says_so_for_every_credential(lab_api):
    with socket.socket() as s:  # a loopback port that was free a moment ago and has no listener
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    closed = Endpoints(scaleway=f"http://127.0.0.1:{port}", cloudflare=f"http://127.0.0.1:{port}/client/v4")
    checks = validate_credentials(lab_api.credentials(), closed, timeout=2)
    assert {c.reason for c in checks} == {"unreachable"}
    assert all("Cannot reach the" in c.message and f"127.0.0.1:{port}" in c.message for c in checks)


def test_timeout_is_reported_as_unreachable(lab_api):
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        checks = validate_credentials(lab_api.credentials(), Endpoints(url, url + "/client/v4"), timeout=0.5)
    assert {c.reason for c in checks} == {"unreachable"}
    assert all("no answer within 0.5 s" in c.message for c in checks)


def test_no_secret_reaches_messages_or_logs(lab_api, caplog):
    creds = lab_api.credentials()
    wrong = lab_api.credentials(SCW_SECRET_KEY=str(uuid.uuid4()), CLOUDFLARE_API_TOKEN="w" * 44)
    with caplog.at_level(logging.DEBUG):
        texts = [c.message for c in validate_credentials(creds, lab_api.endpoints)]
        texts += [c.message for c in validate_credentials(wrong, lab_api.endpoints)]
        texts += [c.message for c in validate_credentials(creds, Endpoints("http://127.0.0.1:9", "http://127.0.0.1:9"))]
    assert caplog.records  # httpx/httpcore did log at debug level
    for text in [*texts, caplog.text]:
        assert no_secret_in(text, creds) and no_secret_in(text, wrong)


def test_zone_picker_and_zone_id(lab_api):
    creds = lab_api.credentials()
    assert list_cloudflare_zones(creds, lab_api.endpoints) == ["example.com"]
    zone_id = cloudflare_zone_id(creds, "example.com", lab_api.endpoints)
    assert len(zone_id) == 32
    with pytest.raises(CredentialError, match="no zone named other.test"):
        cloudflare_zone_id(creds, "other.test", lab_api.endpoints)


def test_live_catalogue_has_the_bundled_shape_and_is_cached(lab_api):
    bundled = json.loads(paths.bundled_catalog_path().read_text())
    data, source = livecatalog.refresh_catalog(lab_api.credentials(), lab_api.endpoints)
    assert source.startswith("live Scaleway data fetched ")
    assert set(data["instance_types"]) == set(bundled["instance_types"])  # every page of every zone
    for name in ("DEV1-S", "POP2-HC-2C-4G", "PRO2-XXS"):
        live, snap = data["instance_types"][name], bundled["instance_types"][name]
        for key in ("ncpus", "ram_gib", "arch", "gpu", "end_of_service", "per_zone"):
            assert live[key] == snap[key], (name, key)
    assert data["regions"] == bundled["regions"] and data["zones_failed"] == {}
    cached = livecatalog.cache_path()
    assert cached.parent == paths.cache_dir() and oct(cached.stat().st_mode & 0o777) == "0o600"
    again, again_source = livecatalog.load_catalog_data()
    assert again == data and again_source == source
    cat = livecatalog.current_catalog()
    assert cat.source == source
    assert catalog.estimate(cat, ["fr-par-1"], [("managers", "DEV1-S", 3)]).total_monthly_eur > 0
    assert no_secret_in(cached.read_text(), lab_api.credentials())


def test_live_catalogue_with_rejected_key_raises_one_sentence(lab_api):
    with pytest.raises(CredentialError) as info:
        livecatalog.fetch_live_catalog(
            lab_api.credentials(SCW_SECRET_KEY=str(uuid.uuid4())), lab_api.endpoints, zones=["fr-par-1"]
        )
    assert "Could not read the live Scaleway catalogue" in str(info.value)


def test_cli_check_against_the_lab_through_env(lab_api):
    """`credentials check` as a subprocess, credentials and endpoints from the environment."""
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("SCW_", "CLOUDFLARE_"))}
    env |= {k: v for k, v in lab_api.raw.items() if k.isupper() and isinstance(v, str)}
    env |= {"SCW_API_URL": lab_api.url, "CLOUDFLARE_BASE_URL": f"{lab_api.url}/client/v4"}
    ok = subprocess.run(
        [sys.executable, "-m", "swarmwiz", "credentials", "check"], env=env, capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count("(env)") == 4 and ok.stdout.count("ok  ") == 4
    env["CLOUDFLARE_API_TOKEN"] = lab_api.mint_token(dns_edit=False)
    bad = subprocess.run(
        [sys.executable, "-m", "swarmwiz", "credentials", "check"], env=env, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 1
    lines = [line for line in bad.stdout.splitlines() if line.startswith("FAIL")]
    assert len(lines) == 1 and "Cloudflare API token" in lines[0] and "DNS:Edit" in lines[0]
    assert env["CLOUDFLARE_API_TOKEN"] not in bad.stdout + bad.stderr


@pytest.mark.slow
def test_cli_check_lab_uses_the_lab_controller(tmp_path):
    """`credentials check --lab` starts the lab (under this test's SWARMWIZ_HOME) and checks its credentials."""
    import os

    from swarmwiz.lab import Lab

    home = Path(os.environ["SWARMWIZ_HOME"])
    lab = Lab(home / "lab")
    try:
        result = subprocess.run(
            [sys.executable, "-m", "swarmwiz", "credentials", "check", "--lab"],
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.count("(lab)") == 4 and result.stdout.count("ok  ") == 4
        assert all(v not in result.stdout for v in credentials_from_env(lab.credentials()).secret_values())
    finally:
        lab.clean()
