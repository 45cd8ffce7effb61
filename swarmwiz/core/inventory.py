"""What the cloud holds of one cluster, read through the Scaleway and Cloudflare APIs (by tags and names).

Used to check DNS after a deploy and to prove after a teardown that nothing of the cluster remains. Only objects
that carry the cluster's tag (or, for DNS, its record comment and names) count: never "everything in the project".
"""

from __future__ import annotations

from dataclasses import dataclass

from swarmwiz.core.errors import CredentialError, RemoteError


@dataclass(frozen=True)
class CloudObject:
    kind: str
    name: str
    id: str
    zone: str = ""
    parent: str = ""  # the Cloudflare zone id of a DNS record

    def describe(self) -> str:
        where = f" in {self.zone}" if self.zone else ""
        return f"{self.kind} {self.name} ({self.id}){where}"


@dataclass(frozen=True)
class DnsRecord:
    name: str
    type: str
    content: str
    id: str = ""
    comment: str = ""
    zone_id: str = ""


class CloudClient:
    """Read-only queries over the Scaleway and Cloudflare API clients of `core.cloud`, configured from a run's env."""

    def __init__(self, env: dict[str, str]) -> None:
        from swarmwiz.core.cloud import CloudflareApi, Endpoints, ScalewayApi

        endpoints = Endpoints.from_env(env)
        self._scw = ScalewayApi(env.get("SCW_SECRET_KEY", ""), endpoints.scaleway)
        self._cf = CloudflareApi(env.get("CLOUDFLARE_API_TOKEN", ""), endpoints.cloudflare)
        self.project = env.get("SCW_DEFAULT_PROJECT_ID", "")

    @staticmethod
    def _get(api, path: str, params: dict | None = None) -> dict:
        resp = api.request("GET", path, params=params)
        if resp.status_code in (401, 403):
            raise CredentialError(f"the {api.name} API rejected the credentials for {path} ({resp.status_code})")
        if resp.status_code >= 400:
            raise RemoteError(f"the {api.name} API answered {resp.status_code} for {path}")
        return resp.json()

    def _scw_list(self, path: str, key: str, params: dict) -> list[dict]:
        items: list[dict] = []
        page = 1
        while True:
            data = self._scw_get(path, params | {"page": page, "per_page": 100})
            batch = data.get(key) or []
            items.extend(batch)
            total = data.get("total_count", len(items))
            if not batch or len(items) >= total:
                return items
            page += 1

    def _scw_get(self, path: str, params: dict | None = None) -> dict:
        return self._get(self._scw, path, params)

    def _cf_get(self, path: str, params: dict | None = None) -> dict:
        return self._get(self._cf, path, params)

    def host_fingerprints(self, server_id: str) -> str:
        """The `ssh-host-fingerprints` user data a server published about its own host keys ("" while it has
        not); `server_id` as Terraform gives it ("fr-par-1/<uuid>")."""
        zone, _, uuid = server_id.rpartition("/")
        path = f"/instance/v1/zones/{zone}/servers/{uuid}/user_data/ssh-host-fingerprints"
        resp = self._scw.request("GET", path)
        if resp.status_code == 404:
            return ""
        if resp.status_code in (401, 403):
            raise CredentialError(f"the {self._scw.name} API rejected the credentials for {path} ({resp.status_code})")
        if resp.status_code >= 400:
            raise RemoteError(f"the {self._scw.name} API answered {resp.status_code} for {path}")
        return resp.text

    # -- Cloudflare ----------------------------------------------------------------------------------------------
    def zone_id(self, domain: str) -> str | None:
        result = self._cf_get("/zones", {"name": domain}).get("result") or []
        return result[0]["id"] if result else None

    def dns_records(self, domain: str) -> list[DnsRecord]:
        zone = self.zone_id(domain)
        if not zone:
            return []
        records: list[DnsRecord] = []
        page = 1
        while True:
            data = self._cf_get(f"/zones/{zone}/dns_records", {"page": page, "per_page": 100})
            for r in data.get("result") or []:
                records.append(
                    DnsRecord(r["name"], r["type"], r.get("content", ""), r.get("id", ""), r.get("comment") or "", zone)
                )
            info = data.get("result_info") or {}
            if page >= int(info.get("total_pages") or 1):
                return records
            page += 1

    # -- Scaleway ------------------------------------------------------------------------------------------------
    def cluster_objects(self, cluster: str, region: str, zones: list[str], domain: str) -> list[CloudObject]:
        """Everything tagged for `cluster` in the project, plus its DNS records and SSH key."""
        tag = f"swarmwiz-cluster={cluster}"
        found: list[CloudObject] = []
        base = {"project": self.project} if self.project else {}
        for zone in zones:
            for s in self._scw_list(f"/instance/v1/zones/{zone}/servers", "servers", base | {"tags": tag}):
                found.append(CloudObject("server", s.get("name", ""), s["id"], zone))
            for ip in self._scw_list(f"/instance/v1/zones/{zone}/ips", "ips", base | {"tags": tag}):
                found.append(CloudObject("ip", ip.get("address", ""), ip["id"], zone))
            for sg in self._scw_list(f"/instance/v1/zones/{zone}/security_groups", "security_groups", base):
                if tag in (sg.get("tags") or []):
                    found.append(CloudObject("security group", sg.get("name", ""), sg["id"], zone))
        pns = self._scw_list(
            f"/vpc/v2/regions/{region}/private-networks",
            "private_networks",
            ({"project_id": self.project} if self.project else {}) | {"tags": tag},
        )
        found += [CloudObject("private network", p.get("name", ""), p["id"], region) for p in pns]
        keys = self._scw_list(
            "/iam/v1alpha1/ssh-keys", "ssh_keys", {"project_id": self.project} if self.project else {}
        )
        found += [
            CloudObject("ssh key", k.get("name", ""), k["id"]) for k in keys if k.get("name") == f"swarmwiz-{cluster}"
        ]
        for r in self.dns_records(domain):
            if r.comment.startswith(f"swarmwiz:{cluster}:"):
                found.append(CloudObject("dns record", f"{r.name} {r.type} {r.content}", r.id, parent=r.zone_id))
        return found

    # Deletion order: what uses an object goes before it (servers before their IPs, groups and network).
    DELETE_ORDER = ("server", "dns record", "ip", "security group", "private network", "ssh key")

    def delete(self, obj: CloudObject, region: str) -> None:
        """Delete one object found by `cluster_objects` (an object Terraform does not track)."""
        if obj.kind == "server":
            resp = self._scw.request(
                "POST", f"/instance/v1/zones/{obj.zone}/servers/{obj.id}/action", json={"action": "terminate"}
            )
        elif obj.kind == "dns record":
            resp = self._cf.request("DELETE", f"/zones/{obj.parent}/dns_records/{obj.id}")
        else:
            path = {
                "ip": f"/instance/v1/zones/{obj.zone}/ips/{obj.id}",
                "security group": f"/instance/v1/zones/{obj.zone}/security_groups/{obj.id}",
                "private network": f"/vpc/v2/regions/{region}/private-networks/{obj.id}",
                "ssh key": f"/iam/v1alpha1/ssh-keys/{obj.id}",
            }[obj.kind]
            resp = self._scw.request("DELETE", path)
        if resp.status_code >= 400 and resp.status_code != 404:
            raise RemoteError(f"could not delete {obj.describe()}: the API answered {resp.status_code}")
