"""Stub `cloudflare/cloudflare` provider (v5 schema, nested attributes), backed by the lab's Cloudflare API."""

from __future__ import annotations

import json
import os
import re
from typing import Any
from urllib.parse import quote

from swarmwiz.lab.providers.base import NotFound, Provider, ProviderError, Resource, http, lab_url, serve

TOKEN_RE = re.compile(r"^[0-9A-Za-z\-_]{40,80}$")


class CloudflareProvider(Provider):
    name = "cloudflare"

    def configure(self, config: dict) -> list[str]:
        # The provider block wins over the environment (internal/provider.go Configure).
        self.token = config.get("api_token") or os.environ.get("CLOUDFLARE_API_TOKEN")
        if not self.token:
            return ["Missing api_token: set CLOUDFLARE_API_TOKEN or the provider's api_token"]
        if not TOKEN_RE.match(self.token):
            return ["API tokens must only contain characters a-z, A-Z, 0-9, hyphens and underscores"]
        url = config.get("base_url") or os.environ.get("CLOUDFLARE_BASE_URL") or "https://api.cloudflare.com/client/v4"
        self.url = lab_url(url, "CLOUDFLARE_BASE_URL")
        return []

    def call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        status, out = http(method, self.url + path, headers, body)
        errors = out.get("errors") if isinstance(out, dict) else None
        if status == 404:
            raise NotFound(f"{method} {path}: not found")
        if status >= 400 or not isinstance(out, dict) or not out.get("success"):
            text = "; ".join(f"{e.get('message')} ({e.get('code')})" for e in errors or []) or str(out)[:200]
            raise ProviderError(f'failed to make http request: {method} "{path}": {status} {text}')
        return out["result"]


def _clean(value: Any) -> Any:
    """Drop nulls and unknowns from a request body, recursively."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if isinstance(v, (str, int, float, bool, list, dict))}
    return value


class DNSRecord(Resource):
    name = "cloudflare_dns_record"

    def _state(self, rec: dict) -> dict:
        return {
            "id": rec["id"],
            "zone_id": rec["zone_id"],
            "name": rec["name"],
            "type": rec["type"],
            "content": rec.get("content"),
            "proxied": rec.get("proxied", False),
            "proxiable": rec.get("proxiable", False),
            "ttl": rec.get("ttl", 1),
            "comment": rec.get("comment"),
            "tags": rec.get("tags") or [],
            "priority": rec.get("priority"),
            "settings": {"ipv4_only": None, "ipv6_only": None, "flatten_cname": None, **(rec.get("settings") or {})},
            "meta": json.dumps(rec.get("meta") or {}),
            "created_on": rec.get("created_on"),
            "modified_on": rec.get("modified_on"),
            "comment_modified_on": rec.get("comment_modified_on"),
            "tags_modified_on": rec.get("tags_modified_on"),
        }

    def _body(self, planned: dict) -> dict:
        keys = (
            "name",
            "type",
            "content",
            "ttl",
            "proxied",
            "comment",
            "tags",
            "priority",
            "settings",
            "data",
            "private_routing",
        )
        return _clean({k: planned.get(k) for k in keys})

    def create(self, planned: dict) -> dict:
        rec = self.provider.call("POST", f"/zones/{planned['zone_id']}/dns_records", self._body(planned))
        return self._state(rec)

    def read(self, state: dict) -> dict:
        rec = self.provider.call("GET", f"/zones/{state['zone_id']}/dns_records/{state['id']}")
        observed = self._state(rec)
        observed.pop("name")  # Cloudflare answers with the full name; keep the configured spelling
        return observed

    def update(self, prior: dict, planned: dict) -> dict:
        rec = self.provider.call("PATCH", f"/zones/{prior['zone_id']}/dns_records/{prior['id']}", self._body(planned))
        return self._state(rec)

    def delete(self, state: dict) -> None:
        self.provider.call("DELETE", f"/zones/{state['zone_id']}/dns_records/{state['id']}")


class Zone(Resource):
    name = "cloudflare_zone"

    def validate(self, config: dict) -> list[str]:
        if (config.get("zone_id") is None) == (config.get("filter") is None):
            return ["Exactly one of these attributes must be configured: [zone_id,filter]"]
        return []

    def read(self, config: dict) -> dict:
        if config.get("zone_id"):
            zone = self.provider.call("GET", f"/zones/{config['zone_id']}")
        else:
            filt = config.get("filter") or {}
            query = "&".join(f"{k}={quote(str(v))}" for k, v in filt.items() if isinstance(v, str) and k != "match")
            found = self.provider.call("GET", f"/zones?{query}")
            if len(found) != 1:
                raise ProviderError(
                    "failed to find exactly one zone", f"{len(found)} zones match the filter {json.dumps(_clean(filt))}"
                )
            zone = found[0]
        return {**zone, "zone_id": zone["id"]}


CloudflareProvider.resources = [DNSRecord]
CloudflareProvider.data_sources = [Zone]


def main() -> None:
    serve(CloudflareProvider())


if __name__ == "__main__":
    main()
