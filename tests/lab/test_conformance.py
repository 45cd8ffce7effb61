"""Conformance of the lab API with real traffic: the Scaleway answers recorded by the provider's acceptance tests
(reference/recorded/scaleway-api.jsonl) against the lab's answers to the same kinds of calls, and every Cloudflare
answer parsed by the official SDK's typed models."""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import pytest

RECORDED = Path("/work/shared/reference/recorded/scaleway-api.jsonl")
TARGET = 0.98  # share of the real answers' stable key paths the lab must give, with the same JSON type
STABLE = 0.5  # a key path is stable when more than half of the real answers to its endpoint have it
PUBKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test@lab"
# Keys that name things (instance types, volume slots) rather than fields: compared as one wildcard.
IPV4 = re.compile(r"\b\d{1,3}(\.\d{1,3}){3}\b")
MAP_KEY = re.compile(r"^(\d+|[A-Z0-9]+(-[A-Z0-9]+)+)$")

# Recorded calls the lab does not answer as the cloud does, yet: the image's own publication of its host keys.
NOT_MODELLED = {("GET", "/instance/v1/zones/{zone}/servers/{id}/user_data/ssh-host-fingerprints")}

pytestmark = pytest.mark.skipif(not RECORDED.exists(), reason="the recorded Scaleway traffic is not on this machine")


def json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


def key_paths(value, prefix: str = "") -> dict[str, str]:
    """Every key path of a JSON value with its type; list items share `[]`, naming keys share `*`."""
    out: dict[str, str] = {}
    if isinstance(value, dict):
        for key, child in value.items():
            path = f"{prefix}.{'*' if MAP_KEY.match(key) else key}".lstrip(".")
            out[path] = json_type(child)
            out.update(key_paths(child, path))
    elif isinstance(value, list):
        for item in value:
            for path, type_ in key_paths(item, prefix + "[]").items():
                out.setdefault(path, type_)
    return out


def parent(path: str) -> str:
    return re.sub(r"(\[\]|\.[^.\[\]]+)$", "", path)


def recorded_answers() -> dict[tuple[str, str, int], list]:
    """Real answers by (method, template, status); an empty body (204) is None."""
    answers: dict[tuple[str, str, int], list] = defaultdict(list)
    for line in RECORDED.read_text().splitlines():
        rec = json.loads(line)
        template = IPV4.sub("{id}", rec["template"])  # GET ips/ADDRESS finds an IP by its address
        answers[(rec["method"], template, rec["status"])].append(rec.get("response"))
    return answers


def stable_paths(answers: list[dict]) -> dict[str, set[str]]:
    """Key paths in most real answers whose parent is present and not empty, with the types they had."""
    seen: Counter[str] = Counter()
    parents: Counter[str] = Counter()
    types: dict[str, set[str]] = defaultdict(set)
    for answer in answers:
        paths = key_paths(answer)
        for path, type_ in paths.items():
            seen[path] += 1
            types[path].add(type_)
        for path in {parent(p) for p in paths}:
            parents[path] += 1
    return {
        path: types[path]
        for path, count in seen.items()
        if count / max(parents[parent(path)] if parent(path) else len(answers), 1) > STABLE
    }


def compare(real: list[dict], lab: list[dict]) -> tuple[int, int, list[str]]:
    """(stable paths the lab gives with a real type, stable paths checked, what is missing or mistyped)."""
    wanted = stable_paths(real)
    got: dict[str, set[str]] = defaultdict(set)
    for answer in lab:
        for path, type_ in key_paths(answer).items():
            got[path].add(type_)
    checked = ok = 0
    problems = []
    for path, types in sorted(wanted.items()):
        up = parent(path)
        if up and up not in got and up not in wanted:  # below a container the lab never filled: not comparable
            continue
        if up and up in wanted and up not in got:
            continue  # the parent itself is counted missing
        if up and got.get(up) == {"null"} and "null" in wanted.get(up, set()):
            continue  # the lab has none of it, as real answers sometimes have
        checked += 1
        if path not in got:
            problems.append(f"missing {path}")
        elif not got[path] <= types | {"null"} and not (types == {"null"} and got[path]):
            problems.append(f"{path}: lab {sorted(got[path])}, real {sorted(types)}")
        else:
            ok += 1
    return ok, checked, problems


class Driver:
    """Calls the lab as the provider does and keeps its answers by (method, template, status)."""

    def __init__(self, api_lab) -> None:
        self.http = httpx.Client(base_url=api_lab.url, headers={"X-Auth-Token": api_lab.creds["SCW_SECRET_KEY"]})
        self.creds = api_lab.creds
        self.answers: dict[tuple[str, str, int], list] = defaultdict(list)

    def call(self, method: str, template: str, path: str, body=None, params=None):
        resp = self.http.request(method, path, json=body, params=params)
        data = resp.json() if resp.content and "json" in resp.headers.get("content-type", "") else None
        self.answers[(method, template, resp.status_code)].append(data)
        return resp.status_code, data


def drive(d: Driver) -> None:
    """One of each kind of call the recordings hold: create, read, list, change, act and delete, then 404s."""
    z, r = "/instance/v1/zones/fr-par-1", "/vpc/v2/regions/fr-par"
    zt, rt = "/instance/v1/zones/{zone}", "/vpc/v2/regions/{region}"
    project = d.creds["SCW_DEFAULT_PROJECT_ID"]
    d.call("GET", "/account/v3/projects/{id}", f"/account/v3/projects/{project}")
    d.call("GET", "/account/v3/projects", "/account/v3/projects")
    d.call("GET", "/iam/v1alpha1/api-keys/{access_key}", f"/iam/v1alpha1/api-keys/{d.creds['SCW_ACCESS_KEY']}")
    _, key = d.call("POST", "/iam/v1alpha1/ssh-keys", "/iam/v1alpha1/ssh-keys", {"name": "k", "public_key": PUBKEY})
    d.call("GET", "/iam/v1alpha1/ssh-keys/{id}", f"/iam/v1alpha1/ssh-keys/{key['id']}")
    d.call("GET", "/iam/v1alpha1/ssh-keys", "/iam/v1alpha1/ssh-keys")
    d.call("PATCH", "/iam/v1alpha1/ssh-keys/{id}", f"/iam/v1alpha1/ssh-keys/{key['id']}", {"name": "k2"})
    d.call("GET", zt + "/products/servers", z + "/products/servers")
    d.call("GET", zt + "/products/servers/availability", z + "/products/servers/availability")
    _, vpc = d.call("POST", rt + "/vpcs", r + "/vpcs", {"name": "v", "project_id": project})
    if isinstance(vpc, dict) and "id" in vpc:
        d.call("GET", rt + "/vpcs/{id}", f"{r}/vpcs/{vpc['id']}")
        d.call("PATCH", rt + "/vpcs/{id}", f"{r}/vpcs/{vpc['id']}", {"name": "v2"})
    d.call("GET", rt + "/vpcs", r + "/vpcs")
    pn_body = {"name": "pn", "subnets": ["172.16.4.0/22"], "project_id": project}
    _, pn = d.call("POST", rt + "/private-networks", r + "/private-networks", pn_body)
    d.call("GET", rt + "/private-networks/{id}", f"{r}/private-networks/{pn['id']}")
    d.call("GET", rt + "/private-networks", r + "/private-networks")
    _, ip = d.call("POST", zt + "/ips", z + "/ips", {"type": "routed_ipv4", "project": project})
    d.call("GET", zt + "/ips/{id}", f"{z}/ips/{ip['ip']['id']}")
    d.call("PATCH", zt + "/ips/{id}", f"{z}/ips/{ip['ip']['id']}", {"tags": ["t"]})
    sg_body = {"name": "sg", "project": project, "inbound_default_policy": "drop", "stateful": True}
    _, sg = d.call("POST", zt + "/security_groups", z + "/security_groups", sg_body)
    sg_path = f"{z}/security_groups/{sg['security_group']['id']}"
    rule = {"action": "accept", "protocol": "TCP", "direction": "inbound", "ip_range": "0.0.0.0/0"}
    d.call("PUT", zt + "/security_groups/{id}/rules", sg_path + "/rules", {"rules": [rule | {"dest_port_from": 22}]})
    d.call("GET", zt + "/security_groups/{id}/rules", sg_path + "/rules")
    d.call("GET", zt + "/security_groups/{id}", sg_path)
    d.call("PATCH", zt + "/security_groups/{id}", sg_path, {"description": "d"})
    d.call("GET", zt + "/security_groups", z + "/security_groups")
    server_body = {
        "name": "srv",
        "commercial_type": "DEV1-S",
        "image": "ubuntu_noble",
        "project": project,
        "public_ips": [ip["ip"]["id"]],
        "security_group": sg["security_group"]["id"],
        "tags": ["a"],
    }
    _, server = d.call("POST", zt + "/servers", z + "/servers", server_body)
    sp = f"{z}/servers/{server['server']['id']}"
    d.call("PATCH", zt + "/servers/{id}/user_data/cloud-init", sp + "/user_data/cloud-init", "#cloud-config\n")
    d.call("POST", zt + "/servers/{id}/private_nics", sp + "/private_nics", {"private_network_id": pn["id"]})
    d.call("POST", zt + "/servers/{id}/action", sp + "/action", {"action": "poweron"})
    d.call("GET", zt + "/servers/{id}", sp)
    d.call("PATCH", zt + "/servers/{id}", sp, {"name": "srv2"})
    d.call("GET", zt + "/servers", z + "/servers")
    d.call("GET", zt + "/servers/{id}/private_nics", sp + "/private_nics")
    d.call("GET", zt + "/servers/{id}/user_data", sp + "/user_data")
    d.call(
        "GET",
        "/ipam/v1/regions/{region}/ips",
        "/ipam/v1/regions/fr-par/ips",
        params={"resource_id": server["server"]["id"]},
    )
    d.call("GET", zt + "/servers/{id}", sp)
    _, nics = d.call("GET", zt + "/servers/{id}/private_nics", sp + "/private_nics")
    nic_id = nics["private_nics"][0]["id"]
    d.call("GET", zt + "/servers/{id}/private_nics/{id}", f"{sp}/private_nics/{nic_id}")
    d.call("GET", zt + "/ips/{id}", f"{z}/ips/{ip['ip']['id']}")  # now attached
    d.call("GET", zt + "/ips/{id}", f"{z}/ips/{ip['ip']['address']}")
    d.call("PATCH", zt + "/servers/{id}/user_data/foo", sp + "/user_data/foo", "bar")
    d.call("GET", zt + "/servers/{id}/user_data/foo", sp + "/user_data/foo")
    d.call("GET", zt + "/servers/{id}/user_data/cloud-init", sp + "/user_data/cloud-init")
    d.call("DELETE", zt + "/servers/{id}/user_data/cloud-init", sp + "/user_data/cloud-init")
    # Tear down as the provider does: terminate (the IP stays), then the rest.
    d.call("POST", zt + "/servers/{id}/action", sp + "/action", {"action": "terminate"})
    for _ in range(100):
        if d.http.get(sp).status_code == 404:
            break
    d.call("DELETE", zt + "/ips/{id}", f"{z}/ips/{ip['ip']['id']}")
    d.call("DELETE", zt + "/security_groups/{id}", sg_path)
    d.call("DELETE", rt + "/private-networks/{id}", f"{r}/private-networks/{pn['id']}")
    d.call("DELETE", rt + "/vpcs/{id}", f"{r}/vpcs/{vpc['id']}")
    d.call("DELETE", "/iam/v1alpha1/ssh-keys/{id}", f"/iam/v1alpha1/ssh-keys/{key['id']}")
    # Errors: the recorded 404s, with an id that exists nowhere.
    missing = str(uuid.uuid4())
    for template, path in (
        ("/iam/v1alpha1/api-keys/{access_key}", "/iam/v1alpha1/api-keys/SCWAAAAAAAAAAAAAAAAA"),
        ("/iam/v1alpha1/ssh-keys/{id}", f"/iam/v1alpha1/ssh-keys/{missing}"),
        (zt + "/servers/{id}", f"{z}/servers/{missing}"),
        (zt + "/ips/{id}", f"{z}/ips/{missing}"),
        (zt + "/security_groups/{id}", f"{z}/security_groups/{missing}"),
        (rt + "/private-networks/{id}", f"{r}/private-networks/{missing}"),
        (rt + "/vpcs/{id}", f"{r}/vpcs/{missing}"),
    ):
        d.call("GET", template, path)


def test_scaleway_answers_match_recorded_real_traffic(api_lab, capsys):
    real = recorded_answers()
    driver = Driver(api_lab)
    drive(driver)
    lab = driver.answers
    total_ok = total = 0
    report = []
    real_statuses = defaultdict(set)
    for method, template, status in real:
        real_statuses[(method, template)].add(status)
    for method, template, status in sorted(lab):
        if real_statuses[(method, template)] and status not in real_statuses[(method, template)]:
            report.append(f"{method} {template}: lab {status}, real {sorted(real_statuses[(method, template)])}")
    for key, real_answers in sorted(real.items()):
        method, template, status = key
        real_answers = [a for a in real_answers if isinstance(a, dict)]
        lab_answers = [a for a in lab.get(key, []) if isinstance(a, dict)]
        if not lab_answers or not real_answers:
            continue
        ok, checked, problems = compare(real_answers, lab_answers)
        total_ok, total = total_ok + ok, total + checked
        report += [f"{method} {template} {status}: {p}" for p in problems]
        if status >= 400:  # the error's own words: type and which resource was not found
            for field in ("type", "resource", "message"):
                real_values = {a.get(field) for a in real_answers}
                lab_values = {a.get(field) for a in lab_answers}
                if not lab_values <= real_values:
                    report.append(f"{method} {template} {status}: {field} {lab_values} not in {real_values}")
    # IPAM lists a dual-stack NIC's IPv6 address first (every recorded two-address answer does).
    real_pairs = [a["ips"] for a in real[("GET", "/ipam/v1/regions/{region}/ips", 200)] if len(a["ips"]) == 2]
    lab_pairs = [a["ips"] for a in lab[("GET", "/ipam/v1/regions/{region}/ips", 200)] if len(a["ips"]) == 2]
    assert real_pairs and all(p[0]["is_ipv6"] and not p[1]["is_ipv6"] for p in real_pairs)
    assert lab_pairs and all(p[0]["is_ipv6"] and not p[1]["is_ipv6"] for p in lab_pairs)
    driven = {k[:2] for k in lab}
    not_driven = sorted({k[:2] for k in real} - driven - NOT_MODELLED)
    figure = total_ok / total
    with capsys.disabled():
        print(f"\nlab conformance: {total_ok}/{total} stable key paths of real answers ({figure:.1%})")
        for line in report:
            print("  " + line)
    assert not not_driven, f"recorded endpoints the test does not call: {not_driven}"
    assert figure >= TARGET, f"{figure:.1%} of stable key paths; problems: {report}"
    assert not [line for line in report if ": lab " in line or "not in" in line], report


CLOUDFLARE_SCHEMA = Path("/work/shared/reference/cloudflare.json")


def test_cloudflare_answers_parse_as_the_official_sdk_models(api_lab):
    """Every lab Cloudflare answer validates strictly against the SDK's typed models (not the lenient parse the
    client does), and a record carries every attribute the v5 provider reads back from the API."""
    from cloudflare.types.dns import RecordResponse
    from cloudflare.types.user import TokenVerifyResponse
    from cloudflare.types.zones import Zone
    from pydantic import TypeAdapter

    http = httpx.Client(
        base_url=api_lab.cloudflare_url, headers={"Authorization": f"Bearer {api_lab.creds['CLOUDFLARE_API_TOKEN']}"}
    )

    def result(resp: httpx.Response):
        body = resp.json()
        assert resp.status_code == 200 and body["success"] is True and body["errors"] == [], body
        return body["result"]

    TypeAdapter(TokenVerifyResponse).validate_python(result(http.get("/user/tokens/verify")), strict=True)
    zones = result(http.get("/zones"))
    for zone in zones:
        TypeAdapter(Zone).validate_python(zone)
    zone_id = zones[0]["id"]
    TypeAdapter(Zone).validate_python(result(http.get(f"/zones/{zone_id}")))
    body = {"name": "*", "type": "A", "content": "192.0.2.1", "ttl": 1, "comment": "swarmwiz:c:manager-1"}
    created = result(http.post(f"/zones/{zone_id}/dns_records", json=body))
    records = [
        created,
        result(http.get(f"/zones/{zone_id}/dns_records/{created['id']}")),
        *result(http.get(f"/zones/{zone_id}/dns_records")),
        result(http.patch(f"/zones/{zone_id}/dns_records/{created['id']}", json={"content": "192.0.2.2"})),
    ]
    computed = set()
    if CLOUDFLARE_SCHEMA.exists():
        attributes = json.loads(CLOUDFLARE_SCHEMA.read_text())["v5"]["resources"]["cloudflare_dns_record"]
        computed = {k for k, v in attributes["attributes"].items() if v.get("computed")}
    for record in records:
        parsed = TypeAdapter(RecordResponse).validate_python(record)
        assert parsed.type == "A" and parsed.comment == "swarmwiz:c:manager-1"  # the comment is kept, as Cloudflare
        assert computed <= set(record), computed - set(record)
    deleted = result(http.delete(f"/zones/{zone_id}/dns_records/{created['id']}"))
    assert deleted == {"id": created["id"]}
