"""API client edge cases against a scripted HTTP server on 127.0.0.1: pagination, account tokens, expiry, probe
cleanup, retries (429 with Retry-After, 5xx, bounded); and the catalogue source (live cache vs bundled snapshot)."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from swarmwiz.core import livecatalog, paths
from swarmwiz.core.api import Endpoints, RetryPolicy
from swarmwiz.core.api.clients import ApiClients
from swarmwiz.core.api.inventory import Inventory
from swarmwiz.core.api.validate import can_edit_dns, cloudflare_zones, validate_credentials
from swarmwiz.core.credentials import credentials_from_env
from swarmwiz.core.errors import ApiError

GOOD = {
    "SCW_ACCESS_KEY": "SCW1234567890ABCDEFG",
    "SCW_SECRET_KEY": "7f3c2a9e-5b1d-4c8e-9a6f-0d2e4b6c8a10",
    "SCW_DEFAULT_PROJECT_ID": "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9",
    "CLOUDFLARE_API_TOKEN": "cfTOKEN_abcdefghijklmnopqrstuvwxyz0123456789",
}


class Scripted:
    """A loopback HTTP server answering from `routes[(method, path)] = fn(query) -> (status, body, headers)`."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], object] = {}
        self.seen: list[tuple[str, str, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                outer.seen.append((self.command, url.path, {k.lower(): v for k, v in self.headers.items()}))
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                fn = outer.routes.get((self.command, url.path))
                status, body, headers = fn(query) if fn else (404, {"type": "not_found"}, {})
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PATCH = _serve

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def route(self, method: str, path: str, status: int, body: dict, headers: dict | None = None) -> None:
        self.routes[(method, path)] = lambda q: (status, body, headers or {})


def clients(api: Scripted, retry: RetryPolicy | None = None) -> ApiClients:
    return ApiClients(credentials_from_env(GOOD), Endpoints(api.url, api.url + "/client/v4"), retry=retry)


@pytest.fixture
def api():
    server = Scripted()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
        server.thread.join(timeout=10)


def test_pagination_follows_x_total_count(api):
    names = [f"T{i:03d}" for i in range(250)]

    def page(q):
        n, per = int(q["page"]), int(q["per_page"])
        chunk = names[(n - 1) * per : n * per]
        return 200, {"servers": {t: {"ncpus": 1} for t in chunk}}, {"X-Total-Count": str(len(names))}

    api.routes[("GET", "/instance/v1/zones/fr-par-1/products/servers")] = page
    with clients(api) as c:
        assert sorted(Inventory(c).server_types("fr-par-1")) == names
    pages = [p for m, p, h in api.seen]
    assert len(pages) == 3
    assert api.seen[0][2]["x-auth-token"] == GOOD["SCW_SECRET_KEY"]


def test_expired_scaleway_key(api):
    api.route(
        "GET",
        f"/iam/v1alpha1/api-keys/{GOOD['SCW_ACCESS_KEY']}",
        401,
        {
            "type": "denied_authentication",
            "method": "api_key",
            "reason": "expired",
            "message": "authentication is denied",
        },
    )
    api.route("GET", "/client/v4/user/tokens/verify", 200, {"success": True, "result": {"status": "active"}})
    checks = validate_credentials(credentials_from_env(GOOD), Endpoints(api.url, api.url + "/client/v4"))
    assert checks[1].reason == "expired" and checks[1].message == "The Scaleway secret key is expired."


def test_key_without_iam_read_uses_its_default_project(api):
    pid = GOOD["SCW_DEFAULT_PROJECT_ID"]
    api.route(
        "GET",
        f"/iam/v1alpha1/api-keys/{GOOD['SCW_ACCESS_KEY']}",
        200,
        {"access_key": GOOD["SCW_ACCESS_KEY"], "default_project_id": pid, "expires_at": None},
    )
    api.route("GET", f"/account/v3/projects/{pid}", 403, {"type": "permissions_denied"})
    api.route("GET", "/instance/v1/zones/fr-par-1/servers", 403, {"type": "permissions_denied"})
    api.route("GET", "/vpc/v2/regions/fr-par/private-networks", 200, {"private_networks": [], "total_count": 0})
    api.route("GET", "/ipam/v1/regions/fr-par/ips", 403, {"type": "permissions_denied"})
    api.route("GET", "/iam/v1alpha1/ssh-keys", 200, {"ssh_keys": [], "total_count": 0})
    api.route("GET", "/client/v4/user/tokens/verify", 200, {"success": True, "result": {"status": "active"}})
    checks = validate_credentials(credentials_from_env(GOOD), Endpoints(api.url, api.url + "/client/v4"))
    assert checks[2].reason == "permission" and "lacks InstancesFullAccess (" in checks[2].message
    assert ") and IPAMReadOnly (" in checks[2].message

    api.route("GET", "/instance/v1/zones/fr-par-1/servers", 200, {"servers": [], "total_count": 0})
    checks = validate_credentials(credentials_from_env(GOOD), Endpoints(api.url, api.url + "/client/v4"))
    assert checks[2].message == (
        "The Scaleway API key lacks IPAMReadOnly (needed to read the nodes' private addresses): add this permission "
        "set to the key's IAM policy for the project; nothing was created."
    )

    api.route("GET", "/ipam/v1/regions/fr-par/ips", 200, {"ips": [], "total_count": 0})
    checks = validate_credentials(credentials_from_env(GOOD), Endpoints(api.url, api.url + "/client/v4"))
    assert checks[2].ok and "default project" in checks[2].message


def test_account_owned_token_fails_user_verify_but_works(api):
    """Account tokens get 401 from /user/tokens/verify; a zone list and the DNS probe still prove them."""
    invalid = {"success": False, "errors": [{"code": 1000, "message": "Invalid API Token"}]}
    api.route("GET", "/client/v4/user/tokens/verify", 401, invalid)
    api.route(
        "GET",
        "/client/v4/zones",
        200,
        {"success": True, "result": [{"id": "z1", "name": "example.org"}], "result_info": {"total_pages": 1}},
    )
    api.route("POST", "/client/v4/zones/z1/dns_records", 400, {"success": False, "errors": [{"code": 9005}]})
    with clients(api) as c:
        zones = cloudflare_zones(c)
        assert [z.name for z in zones] == ["example.org"] and can_edit_dns(c, zones[0].id)
    checks = validate_credentials(
        credentials_from_env(GOOD | {"SCW_ACCESS_KEY": "bad"}), Endpoints(api.url, api.url + "/client/v4")
    )
    assert checks[3].ok, checks[3].message
    assert api.seen[0][2]["authorization"] == f"Bearer {GOOD['CLOUDFLARE_API_TOKEN']}"


def test_probe_record_accepted_by_a_lax_server_is_deleted(api):
    api.route("POST", "/client/v4/zones/z1/dns_records", 200, {"success": True, "result": {"id": "r1"}})
    api.route("DELETE", "/client/v4/zones/z1/dns_records/r1", 200, {"success": True, "result": {"id": "r1"}})
    with clients(api) as c:
        assert can_edit_dns(c, "z1")
    assert ("DELETE", "/client/v4/zones/z1/dns_records/r1") in [(m, p) for m, p, h in api.seen]


def test_endpoints_from_env():
    e = Endpoints.from_env({"SCW_API_URL": "http://127.0.0.1:1/", "CLOUDFLARE_BASE_URL": "http://127.0.0.1:2/v4/"})
    assert e == Endpoints("http://127.0.0.1:1", "http://127.0.0.1:2/v4")
    assert Endpoints.from_env({}) == Endpoints()


def test_catalogue_source_prefers_a_fresh_cache_and_falls_back_to_the_bundle():
    bundled = json.loads(paths.bundled_catalog_path().read_text())
    data, source = livecatalog.load_catalog_data()
    assert source == f"bundled snapshot of {bundled['snapshot_date']}" and "fetched_at" not in data

    fetched = datetime(2026, 11, 24, 22, 30, tzinfo=UTC)
    live = {k: v for k, v in bundled.items() if k != "snapshot_date"} | {"fetched_at": fetched.isoformat()}
    livecatalog.write_cache(live)
    data, source = livecatalog.load_catalog_data(now=fetched + timedelta(hours=1))
    assert source == "live Scaleway data fetched 2026-11-24 22:30 UTC" and data["fetched_at"]
    data, source = livecatalog.load_catalog_data(now=fetched + timedelta(days=2))
    assert source.startswith("bundled snapshot of")

    livecatalog.cache_path().write_text("{not json")
    assert livecatalog.load_catalog_data(now=fetched)[1].startswith("bundled snapshot of")


def test_live_type_conversion_matches_the_bundled_fields():
    raw = {
        "ncpus": 4,
        "ram": 16 * 1024**3,
        "arch": "x86_64",
        "gpu": None,
        "end_of_service": False,
        "capabilities": {"private_network": 8},
        "hourly_price": 0.1,
        "monthly_price": 73.0,
    }
    entry = livecatalog._instance_type("GP1-XS", raw)
    assert entry == {
        "family": "GP1",
        "ncpus": 4,
        "ram_gib": 16.0,
        "arch": "x86_64",
        "gpu": 0,
        "end_of_service": False,
        "private_networks_max": 8,
        "per_zone": {},
    }


FAST = RetryPolicy(retries=3, backoff=0.01, jitter=0.01, max_wait=1.0)


def answers(*replies):
    """A route answering `replies` in turn, then repeating the last one."""
    queue = list(replies)
    return lambda q: queue.pop(0) if len(queue) > 1 else queue[0]


def test_both_apis_retry_429_and_5xx_saying_what_they_wait_for(api, caplog):
    servers = "/instance/v1/zones/fr-par-1/servers"
    api.routes[("GET", servers)] = answers(
        (429, {"type": "too_many_requests"}, {"Retry-After": "1"}),
        (503, {"type": "unavailable"}, {}),
        (200, {"servers": [], "total_count": 0}, {}),
    )
    limited = {"success": False, "errors": [{"code": 971, "message": "Please wait and consider throttling"}]}
    page = {"success": True, "result": [{"id": "z1", "name": "example.org"}], "result_info": {"total_pages": 1}}
    api.routes[("GET", "/client/v4/zones")] = answers(
        (429, limited, {"Retry-After": "1"}), (502, {}, {}), (200, page, {})
    )
    start = time.monotonic()
    with caplog.at_level(logging.INFO, logger="swarmwiz.api"), clients(api, FAST) as c:
        assert c.instance().list_servers(zone="fr-par-1").servers == []
        assert [z.name for z in cloudflare_zones(c)] == ["example.org"]
    assert 2.0 <= time.monotonic() - start < 6  # two Retry-After waits of 1 s, two short backoffs
    assert [p for m, p, h in api.seen].count(servers) == 3
    assert [p for m, p, h in api.seen].count("/client/v4/zones") == 3
    said = [r.getMessage() for r in caplog.records if r.name == "swarmwiz.api"]
    assert f"Scaleway API answered 429 to GET {servers}; retry 1 of 3 in 1.0 s (as its Retry-After asks)" in said
    assert any(m.startswith(f"Scaleway API answered 503 to GET {servers}; retry 2 of 3 in ") for m in said), said
    assert any(m.startswith("Cloudflare API answered") and "retry 1 of 3 in 1.0 s" in m for m in said), said
    assert any(m.startswith("Cloudflare API answered") and "retry 2 of 3" in m for m in said), said
    assert all(GOOD["SCW_SECRET_KEY"] not in m and GOOD["CLOUDFLARE_API_TOKEN"] not in m for m in said)


def test_retries_are_bounded_in_count_and_wait(api):
    servers = "/instance/v1/zones/fr-par-1/servers"
    api.route("GET", servers, 503, {"type": "unavailable", "message": "try later"})
    api.route("GET", "/client/v4/zones", 429, {"success": False, "errors": []}, {"Retry-After": "3600"})
    policy = RetryPolicy(retries=2, backoff=0.01, jitter=0.01, max_wait=0.3)
    start = time.monotonic()
    with clients(api, policy) as c:
        with pytest.raises(ApiError) as scw:
            c.instance().list_servers(zone="fr-par-1")
        with pytest.raises(ApiError) as cf, c.cf_errors("listing zones"):
            list(c.cloudflare().zones.list())
    assert time.monotonic() - start < 3  # Retry-After: 3600 is capped at max_wait
    assert scw.value.status == 503 and "try later" in str(scw.value)
    assert cf.value.status == 429 and cf.value.api == "Cloudflare"
    paths = [p for m, p, h in api.seen]
    assert paths.count(servers) == 3 and paths.count("/client/v4/zones") == 3  # 1 + 2 retries each


def test_a_5xx_to_a_post_is_not_repeated_but_a_429_is(api):
    action = "/instance/v1/zones/fr-par-1/servers/s1/action"
    api.route("POST", action, 500, {"type": "internal_error"})
    with clients(api, FAST) as c, pytest.raises(ApiError):
        c.instance().server_action(zone="fr-par-1", server_id="s1", action="terminate")
    assert [p for m, p, h in api.seen].count(action) == 1
    api.routes[("POST", action)] = answers((429, {}, {"Retry-After": "0"}), (202, {"task": None}, {}))
    with clients(api, FAST) as c:
        c.instance().server_action(zone="fr-par-1", server_id="s1", action="terminate")
    assert [p for m, p, h in api.seen].count(action) == 3
