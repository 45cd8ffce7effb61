"""Stub `scaleway/scaleway` provider: the real provider's schema, backed by the lab's Scaleway API."""

from __future__ import annotations

import ipaddress
import os
import re
import time
from typing import Any

from swarmwiz.lab.providers.base import NotFound, Provider, ProviderError, Resource, http, lab_url, serve

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
ACCESS_KEY_RE = re.compile(r"^SCW[A-Z0-9]{17}$", re.I)


def split(locality_id: str | None) -> tuple[str | None, str]:
    """('fr-par-1', uuid) from 'fr-par-1/uuid'; (None, uuid) from a bare uuid."""
    if not locality_id:
        return None, ""
    if "/" in locality_id:
        loc, _, rid = locality_id.rpartition("/")
        return loc, rid
    return None, locality_id


class ScalewayProvider(Provider):
    name = "scaleway"

    def configure(self, config: dict) -> list[str]:
        # Environment first, then the provider block: the real provider's precedence.
        def pick(env: str, attr: str, default: str | None = None) -> str | None:
            return os.environ.get(env) or config.get(attr) or default

        self.access_key = pick("SCW_ACCESS_KEY", "access_key")
        self.secret_key = pick("SCW_SECRET_KEY", "secret_key")
        self.project_id = pick("SCW_DEFAULT_PROJECT_ID", "project_id")
        self.region = pick("SCW_DEFAULT_REGION", "region", "fr-par")
        self.zone = pick("SCW_DEFAULT_ZONE", "zone", "fr-par-1")
        problems = []
        if not self.access_key or not ACCESS_KEY_RE.match(self.access_key):
            problems.append("scaleway-sdk-go: access key is missing or malformed (set SCW_ACCESS_KEY)")
        if not self.secret_key or not UUID_RE.match(self.secret_key):
            problems.append("scaleway-sdk-go: secret key is missing or not a UUID (set SCW_SECRET_KEY)")
        if self.project_id and not UUID_RE.match(self.project_id):
            problems.append("scaleway-sdk-go: default project ID is not a UUID (SCW_DEFAULT_PROJECT_ID)")
        if not problems:
            self.url = lab_url(pick("SCW_API_URL", "api_url", "https://api.scaleway.com"), "SCW_API_URL")
        return problems

    def call(self, method: str, path: str, body: Any = None, *, text: str | None = None, raw: bool = False) -> Any:
        headers = {"X-Auth-Token": self.secret_key or "", "Content-Type": "application/json"}
        if text is not None:
            headers["Content-Type"] = "text/plain"
            body = text.encode()
        status, out = http(method, self.url + path, headers, body, raw=raw)
        if status == 404:
            raise NotFound(f"scaleway-sdk-go: resource is not found: {path}")
        if status >= 400:
            message = out.get("message", "") if isinstance(out, dict) else str(out)[:200]
            extra = {k: v for k, v in out.items() if k not in ("message", "type")} if isinstance(out, dict) else {}
            detail = f"{method} {path}" + (f": {extra}" if extra else "")
            raise ProviderError(f"scaleway-sdk-go: http error {status}: {message}", detail)
        return out


class ScalewayResource(Resource):
    legacy = True  # the real provider is SDKv2

    @property
    def api(self) -> ScalewayProvider:
        return self.provider  # type: ignore[return-value]

    def zone_of(self, planned: dict) -> str:
        return _known(planned.get("zone")) or self.api.zone

    def project_of(self, planned: dict) -> str | None:
        return _known(planned.get("project_id")) or self.api.project_id


class SSHKey(ScalewayResource):
    name = "scaleway_iam_ssh_key"

    def _state(self, key: dict) -> dict:
        return {
            "id": key["id"],
            "name": key["name"],
            "fingerprint": key["fingerprint"],
            "created_at": key["created_at"],
            "updated_at": key["updated_at"],
            "organization_id": key["organization_id"],
            "project_id": key["project_id"],
            "disabled": key["disabled"],
        }

    def create(self, planned: dict) -> dict:
        key = self.api.call(
            "POST",
            "/iam/v1alpha1/ssh-keys",
            {
                "name": _known(planned.get("name")),
                "public_key": planned["public_key"].strip(),
                "project_id": self.project_of(planned),
            },
        )
        if planned.get("disabled"):
            key = self.api.call("PATCH", f"/iam/v1alpha1/ssh-keys/{key['id']}", {"disabled": True})
        return self._state(key)

    def read(self, state: dict) -> dict:
        return self._state(self.api.call("GET", f"/iam/v1alpha1/ssh-keys/{state['id']}"))

    def update(self, prior: dict, planned: dict) -> dict:
        body = {"name": planned.get("name"), "disabled": bool(planned.get("disabled"))}
        return self._state(self.api.call("PATCH", f"/iam/v1alpha1/ssh-keys/{prior['id']}", body))

    def delete(self, state: dict) -> None:
        self.api.call("DELETE", f"/iam/v1alpha1/ssh-keys/{state['id']}")


class PrivateNetwork(ScalewayResource):
    name = "scaleway_vpc_private_network"

    def _path(self, state: dict) -> str:
        region, rid = split(state["id"])
        return f"/vpc/v2/regions/{region or self.api.region}/private-networks/{rid}"

    def _state(self, pn: dict) -> dict:
        subnets: dict[int, list] = {4: [], 6: []}  # the API lists both families; the provider splits them
        for s in pn["subnets"]:
            net = ipaddress.ip_network(s["subnet"])
            subnets[net.version].append(
                {
                    "id": s["id"],
                    "subnet": s["subnet"],
                    "address": str(net.network_address),
                    "prefix_length": net.prefixlen,
                    "subnet_mask": str(net.netmask),
                    "created_at": s["created_at"],
                    "updated_at": s["updated_at"],
                    "srn": f"srn:scaleway:vpc:{pn['region']}:{pn['project_id']}:subnet/{s['id']}",
                }
            )
        return {
            "id": f"{pn['region']}/{pn['id']}",
            "name": pn["name"],
            "region": pn["region"],
            "project_id": pn["project_id"],
            "organization_id": pn["organization_id"],
            "tags": pn["tags"] or None,
            "created_at": pn["created_at"],
            "updated_at": pn["updated_at"],
            "vpc_id": f"{pn['region']}/{pn['vpc_id']}",
            "is_regional": True,
            "zone": None,
            "ipv4_subnet": subnets[4],
            "ipv6_subnets": subnets[6],
            "enable_default_route_propagation": pn["default_route_propagation_enabled"],
            "srn": f"srn:scaleway:vpc:{pn['region']}:{pn['project_id']}:private-network/{pn['id']}",
        }

    def create(self, planned: dict) -> dict:
        region = _known(planned.get("region")) or self.api.region
        subnet = (planned.get("ipv4_subnet") or [{}])[0] if isinstance(planned.get("ipv4_subnet"), list) else {}
        body = {
            "name": _known(planned.get("name")),
            "project_id": self.project_of(planned),
            "tags": planned.get("tags") or [],
            "subnets": [subnet["subnet"]] if isinstance(subnet.get("subnet"), str) else None,
            "vpc_id": split(_known(planned.get("vpc_id")))[1] or None,
            "default_route_propagation_enabled": bool(planned.get("enable_default_route_propagation") is True),
        }
        pn = self.api.call("POST", f"/vpc/v2/regions/{region}/private-networks", body)
        return self._state(pn)

    def read(self, state: dict) -> dict:
        return self._state(self.api.call("GET", self._path(state)))

    def update(self, prior: dict, planned: dict) -> dict:
        body = {"name": planned.get("name"), "tags": planned.get("tags") or []}
        return self._state(self.api.call("PATCH", self._path(prior), body))

    def delete(self, state: dict) -> None:
        self.api.call("DELETE", self._path(state))


def _items(value: Any) -> list[dict]:
    """The known elements of a block list (at validation the list or its elements may be unknown)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _known(value: Any) -> Any:
    """None for unknown planned values (strings, lists) so they are not sent to the API."""
    return value if isinstance(value, (str, int, float, bool, list, dict)) else None


class SecurityGroup(ScalewayResource):
    name = "scaleway_instance_security_group"

    @staticmethod
    def _rule_body(rule: dict, direction: str) -> dict:
        body = {
            "action": rule["action"],
            "protocol": rule.get("protocol") or "TCP",
            "direction": direction,
            "ip_range": rule.get("ip_range") or rule.get("ip") or "0.0.0.0/0",
        }
        if rule.get("port"):
            body["dest_port_from"] = body["dest_port_to"] = int(rule["port"])
        elif rule.get("port_range"):
            low, _, high = rule["port_range"].partition("-")
            body["dest_port_from"], body["dest_port_to"] = int(low), int(high or low)
        return body

    def validate(self, config: dict) -> list[str]:
        problems = []
        for key in ("inbound_default_policy", "outbound_default_policy"):
            if isinstance(config.get(key), str) and config[key] not in ("accept", "drop"):
                problems.append(f"expected {key} to be one of [accept drop], got {config[key]}")
        for block in ("inbound_rule", "outbound_rule"):
            for rule in _items(config.get(block)):
                if isinstance(rule.get("protocol"), str) and rule["protocol"] not in ("TCP", "UDP", "ICMP", "ANY"):
                    problems.append(
                        f"expected {block}.protocol to be one of [ANY ICMP TCP UDP], got {rule['protocol']}"
                    )
                if isinstance(rule.get("action"), str) and rule["action"] not in ("accept", "drop"):
                    problems.append(f"expected {block}.action to be one of [accept drop], got {rule['action']}")
        return problems

    def _state(self, sg: dict, rules: list[dict], planned: dict | None) -> dict:
        def rule_state(r: dict) -> dict:
            single = r.get("dest_port_to") in (None, r.get("dest_port_from"))
            return {
                "action": r["action"],
                "protocol": r["protocol"],
                "ip_range": r["ip_range"],
                "ip": None,
                "port": r.get("dest_port_from") if single else None,
                "port_range": None if single else f"{r['dest_port_from']}-{r['dest_port_to']}",
            }

        state = {
            "id": f"{sg['zone']}/{sg['id']}",
            "name": sg["name"],
            "zone": sg["zone"],
            "description": sg.get("description") or None,
            "tags": sg.get("tags") or None,
            "project_id": sg["project"],
            "organization_id": sg["organization"],
            "stateful": sg["stateful"],
            "inbound_default_policy": sg["inbound_default_policy"],
            "outbound_default_policy": sg["outbound_default_policy"],
            "enable_default_security": sg["enable_default_security"],
        }
        if planned is None or not planned.get("external_rules"):
            state["inbound_rule"] = [rule_state(r) for r in rules if r["direction"] == "inbound"]
            state["outbound_rule"] = [rule_state(r) for r in rules if r["direction"] == "outbound"]
        return state

    def _write(self, path: str, method: str, planned: dict) -> dict:
        body = {
            k: _known(planned.get(k))
            for k in (
                "name",
                "description",
                "stateful",
                "inbound_default_policy",
                "outbound_default_policy",
                "enable_default_security",
                "tags",
            )
        }
        body["tags"] = body["tags"] or []
        if method == "POST":
            body["project"] = self.project_of(planned)
        return self.api.call(method, path, body)["security_group"]

    def create(self, planned: dict) -> dict:
        zone = self.zone_of(planned)
        sg = self._write(f"/instance/v1/zones/{zone}/security_groups", "POST", planned)
        return self._set_rules(sg, planned)

    def _set_rules(self, sg: dict, planned: dict) -> dict:
        rules = []
        if not planned.get("external_rules"):
            rules = [self._rule_body(r, "inbound") for r in planned.get("inbound_rule") or []]
            rules += [self._rule_body(r, "outbound") for r in planned.get("outbound_rule") or []]
            rules = self.api.call(
                "PUT", f"/instance/v1/zones/{sg['zone']}/security_groups/{sg['id']}/rules", {"rules": rules}
            )["rules"]
        return self._state(sg, rules, planned)

    def read(self, state: dict) -> dict:
        zone, rid = split(state["id"])
        sg = self.api.call("GET", f"/instance/v1/zones/{zone}/security_groups/{rid}")["security_group"]
        rules = self.api.call("GET", f"/instance/v1/zones/{zone}/security_groups/{rid}/rules")["rules"]
        observed = self._state(sg, rules, state)

        def norm(rule: dict) -> dict:  # the API spells an omitted range as 0.0.0.0/0
            return {**rule, "ip_range": rule.get("ip_range") or rule.get("ip") or "0.0.0.0/0", "ip": None}

        for block in ("inbound_rule", "outbound_rule"):
            if [norm(r) for r in state.get(block) or []] == [norm(r) for r in observed.get(block, [])]:
                observed.pop(block, None)
        return observed

    def update(self, prior: dict, planned: dict) -> dict:
        zone, rid = split(prior["id"])
        sg = self._write(f"/instance/v1/zones/{zone}/security_groups/{rid}", "PATCH", planned)
        return self._set_rules(sg, planned)

    def delete(self, state: dict) -> None:
        zone, rid = split(state["id"])
        self.api.call("DELETE", f"/instance/v1/zones/{zone}/security_groups/{rid}")


class IP(ScalewayResource):
    name = "scaleway_instance_ip"

    def validate(self, config: dict) -> list[str]:
        if isinstance(config.get("type"), str) and config["type"] not in ("routed_ipv4", "routed_ipv6"):
            return [f"expected type to be one of [routed_ipv4 routed_ipv6], got {config['type']}"]
        return []

    def _state(self, ip: dict) -> dict:
        server = ip.get("server")
        return {
            "id": f"{ip['zone']}/{ip['id']}",
            "address": ip["address"],
            "prefix": ip["prefix"],
            "reverse": ip.get("reverse") or "",
            "type": ip["type"],
            "zone": ip["zone"],
            "tags": ip.get("tags") or None,
            "project_id": ip["project"],
            "organization_id": ip["organization"],
            "server_id": f"{ip['zone']}/{server['id']}" if server else "",
        }

    def create(self, planned: dict) -> dict:
        zone = self.zone_of(planned)
        body = {
            "type": _known(planned.get("type")) or "routed_ipv4",
            "tags": planned.get("tags") or [],
            "project": self.project_of(planned),
        }
        return self._state(self.api.call("POST", f"/instance/v1/zones/{zone}/ips", body)["ip"])

    def read(self, state: dict) -> dict:
        zone, rid = split(state["id"])
        return self._state(self.api.call("GET", f"/instance/v1/zones/{zone}/ips/{rid}")["ip"])

    def update(self, prior: dict, planned: dict) -> dict:
        zone, rid = split(prior["id"])
        body = {"tags": planned.get("tags") or []}
        return self._state(self.api.call("PATCH", f"/instance/v1/zones/{zone}/ips/{rid}", body)["ip"])

    def delete(self, state: dict) -> None:
        zone, rid = split(state["id"])
        self.api.call("DELETE", f"/instance/v1/zones/{zone}/ips/{rid}")


class Server(ScalewayResource):
    name = "scaleway_instance_server"

    def validate(self, config: dict) -> list[str]:
        problems = []
        if config.get("ip_id") is not None and config.get("ip_ids") is not None:
            problems.append('"ip_id": conflicts with ip_ids')
        if isinstance(config.get("state"), str) and config["state"] not in ("started", "stopped", "standby"):
            problems.append(f"expected state to be one of [started stopped standby], got {config['state']}")
        if config.get("image") is None and not any(v.get("volume_id") for v in _items(config.get("root_volume"))):
            problems.append('"image": one of `image,root_volume.0.volume_id` must be specified')
        if isinstance(config.get("cloud_init"), str) and len(config["cloud_init"]) > 127998:
            problems.append("expected length of cloud_init to be in the range (0 - 127998)")
        return problems

    def _base(self, zone: str, rid: str) -> str:
        return f"/instance/v1/zones/{zone}/servers/{rid}"

    def _state(self, server: dict, planned: dict) -> dict:
        zone = server["zone"]
        region = zone.rsplit("-", 1)[0]
        try:
            ipam = self.api.call("GET", f"/ipam/v1/regions/{region}/ips?resource_id={server['id']}")["ips"]
        except ProviderError as exc:
            if "http error 403" not in exc.summary:
                raise
            ipam = []  # as the real provider: a key without IPAM read leaves private_ips empty (a warning only)
        planned_pns = {
            split(p.get("pn_id") if isinstance(p.get("pn_id"), str) else None)[1]: p.get("pn_id")
            for p in planned.get("private_network") or []
            if isinstance(p, dict)
        }
        nics = server.get("private_nics") or []
        sg = server.get("security_group")
        state = {
            "id": f"{zone}/{server['id']}",
            "name": server["name"],
            "type": server["commercial_type"],
            "zone": zone,
            "tags": server.get("tags") or None,
            "project_id": server["project"],
            "organization_id": server["organization"],
            "state": "started" if server["state"] == "running" else server["state"],
            "security_group_id": f"{zone}/{sg['id']}" if sg else None,
            "boot_type": "local",
            "bootscript_id": "",
            "placement_group_policy_respected": False,
            "user_data": {},
            "public_ips": [
                {
                    "id": ip["id"],
                    "address": ip["address"],
                    "gateway": ip.get("gateway"),
                    "netmask": ip.get("netmask"),
                    "family": ip.get("family"),
                    "dynamic": ip.get("dynamic"),
                    "provisioning_mode": ip.get("provisioning_mode"),
                }
                for ip in server.get("public_ips") or []
            ],
            "private_network": [
                {
                    "pn_id": planned_pns.get(n["private_network_id"], f"{region}/{n['private_network_id']}"),
                    "zone": zone,
                    "mac_address": n["mac_address"],
                    "pnic_id": f"{zone}/{n['id']}",
                    "status": n["state"],
                }
                for n in nics
            ],
            # Every IPAM address of the server's NICs in the API's order (IPv6 first), as the real provider lists them.
            "private_ips": [
                {"id": ip["id"], "address": ip["address"].split("/")[0]}
                for ip in ipam
                if ip["resource"]["id"] in {n["id"] for n in nics}
            ],
            "root_volume": [
                {
                    "volume_id": f"{zone}/{server['id']}",
                    "size_in_gb": 20,
                    "volume_type": "l_ssd",
                    "boot": False,
                    "delete_on_termination": True,
                    "name": f"{server['name']}-root",
                    "sbs_iops": 0,
                }
            ],
            "filesystems": [],
        }
        return state

    def _ensure_nics(self, zone: str, server: dict, planned: dict) -> None:
        wanted = [split(p["pn_id"])[1] for p in planned.get("private_network") or []]
        have = {n["private_network_id"]: n["id"] for n in server.get("private_nics") or []}
        for pn in wanted:
            if pn not in have:
                self.api.call("POST", self._base(zone, server["id"]) + "/private_nics", {"private_network_id": pn})
        for pn, nic in have.items():
            if pn not in wanted:
                self.api.call("DELETE", self._base(zone, server["id"]) + f"/private_nics/{nic}")

    def create(self, planned: dict) -> dict:
        zone = self.zone_of(planned)
        ips = [split(i)[1] for i in ([planned["ip_id"]] if planned.get("ip_id") else planned.get("ip_ids") or [])]
        body = {
            "name": _known(planned.get("name")) or "tf-srv",
            "commercial_type": planned["type"],
            "image": planned.get("image"),
            "tags": planned.get("tags") or [],
            "project": self.project_of(planned),
            "security_group": split(_known(planned.get("security_group_id")))[1] or None,
            "public_ips": ips,
            "dynamic_ip_required": bool(planned.get("enable_dynamic_ip")),
            "boot_type": "local",
            "protected": bool(planned.get("protected")),
        }
        server = self.api.call("POST", f"/instance/v1/zones/{zone}/servers", body)["server"]
        base = self._base(zone, server["id"])
        if _known(planned.get("cloud_init")):
            self.api.call("PATCH", base + "/user_data/cloud-init", text=planned["cloud_init"])
        for key, value in (_known(planned.get("user_data")) or {}).items():
            self.api.call("PATCH", base + f"/user_data/{key}", text=value)
        self._ensure_nics(zone, server, planned)
        if planned.get("state") != "stopped":
            self.api.call("POST", base + "/action", {"action": "poweron"})
            self._wait_started(base)
        return self._state(self.api.call("GET", base)["server"], planned)

    def _wait_started(self, base: str, limit: float = 600) -> None:
        """As the real provider does: wait (bounded) until a powered-on server has left `starting`."""
        deadline = time.monotonic() + limit
        while self.api.call("GET", base)["server"]["state"] == "starting":
            if time.monotonic() > deadline:
                raise ProviderError(f"server {base} still starting after {limit:g}s")
            time.sleep(0.1)

    def read(self, state: dict) -> dict:
        zone, rid = split(state["id"])
        observed = self._state(self.api.call("GET", self._base(zone, rid))["server"], state)
        # Settable values the API echoes in another form keep their configured spelling.
        for key in ("security_group_id", "private_network"):
            if state.get(key):
                observed.pop(key)
        return observed

    def update(self, prior: dict, planned: dict) -> dict:
        zone, rid = split(prior["id"])
        base = self._base(zone, rid)
        body = {"name": _known(planned.get("name")), "tags": planned.get("tags") or []}
        if _known(planned.get("security_group_id")):
            body["security_group"] = {"id": split(planned["security_group_id"])[1]}
        server = self.api.call("PATCH", base, body)["server"]
        if planned.get("type") != prior.get("type"):
            self.api.call("POST", base + "/action", {"action": "poweroff"})
            self.api.call("PATCH", base, {"commercial_type": planned["type"]})
            self.api.call("POST", base + "/action", {"action": "poweron"})
        if planned.get("cloud_init") != prior.get("cloud_init") and _known(planned.get("cloud_init")):
            self.api.call("PATCH", base + "/user_data/cloud-init", text=planned["cloud_init"])
        self._ensure_nics(zone, server, planned)
        want_running = planned.get("state") != "stopped"
        if want_running != (server["state"] in ("running", "starting")):
            self.api.call("POST", base + "/action", {"action": "poweron" if want_running else "poweroff"})
        if want_running:
            self._wait_started(base)
        return self._state(self.api.call("GET", base)["server"], planned)

    def delete(self, state: dict) -> None:
        zone, rid = split(state["id"])
        base = self._base(zone, rid)
        self.api.call("POST", base + "/action", {"action": "poweroff"})
        self.api.call("DELETE", base)


ScalewayProvider.resources = [SSHKey, PrivateNetwork, SecurityGroup, IP, Server]


def main() -> None:
    serve(ScalewayProvider())


if __name__ == "__main__":
    main()
