"""Regenerate the stub providers' schema files from the reference extracted from the real providers' source."""

from __future__ import annotations

import json
import sys
from pathlib import Path

# Only what the shipped module uses; each entry is copied as the real provider declares it.
WANTED = {
    "scaleway": {
        "resources": [
            "scaleway_iam_ssh_key",
            "scaleway_vpc_private_network",
            "scaleway_instance_security_group",
            "scaleway_instance_ip",
            "scaleway_instance_server",
        ],
        "data_sources": [],
    },
    "cloudflare": {"resources": ["cloudflare_dns_record"], "data_sources": ["cloudflare_zone"]},
}
KEEP = (
    "type",
    "required",
    "optional",
    "computed",
    "sensitive",
    "force_new",
    "default",
    "deprecated",
    "nesting_mode",
    "min_items",
    "max_items",
    "description",
)


def _trim(attrs: dict) -> dict:
    out = {}
    for name, spec in sorted(attrs.items()):
        item = {k: spec[k] for k in KEEP if k in spec}
        if isinstance(item.get("deprecated"), str):
            item["deprecated"] = True
        if spec.get("hcl_kind") == "block":
            item["kind"] = "block"
            item["block"] = _trim(spec["block"])
        elif "attributes" in spec:
            item["attributes"] = _trim(spec["attributes"])
        out[name] = item
    return out


def _entry(spec: dict) -> dict:
    attrs = {n: a for n, a in spec["attributes"].items()}
    attrs.update(spec.get("blocks", {}))
    out = {"attributes": _trim(attrs)}
    # SDKv2 resources with timeouts get a `timeouts` block whose attributes are the declared timeouts.
    timeouts = (spec.get("timeouts_block") or {}).get("defaults")
    if timeouts:
        out["attributes"]["timeouts"] = {
            "kind": "block",
            "nesting_mode": "single",
            "optional": True,
            "block": {k: {"type": "string", "optional": True} for k in sorted(timeouts)},
        }
    if "schema_version" in spec:
        out["version"] = spec["schema_version"]
    return out


def extract(reference: Path, out_dir: Path) -> None:
    for provider, wanted in WANTED.items():
        ref = json.loads((reference / f"{provider}.json").read_text())
        body = ref.get("v5", ref)
        schema = {
            "provider": _trim(body["provider_config"]["attributes"]),
            "resources": {n: _entry(body["resources"][n]) for n in wanted["resources"]},
            "data_sources": {n: _entry(body["data_sources"][n]) for n in wanted["data_sources"]},
        }
        (out_dir / f"{provider}.json").write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    extract(Path(sys.argv[1]), Path(__file__).resolve().parent / "schemas")
