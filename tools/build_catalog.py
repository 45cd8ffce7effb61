"""Build assets/catalog/scaleway.json from the recorded Scaleway catalogue (../shared/reference/scaleway_catalog.json).

Keeps what swarmwiz needs (regions, zones, per-zone prices and availability of currently sold types, image labels)
and the snapshot date; run it again when the reference is refreshed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# Scaleway's public price list gives EUR 0.004/hour for a flexible routed IPv4; the instance API snapshot has no
# IP prices, so this one number is taken from the price list and labelled as such in the output.
FLEXIBLE_IPV4_HOURLY_EUR = 0.004


def build(source: Path) -> dict:
    raw = json.loads(source.read_text())
    recorded = sorted(v["recorded"] for v in raw["sources_per_zone"].values())
    types = {}
    for name, t in sorted(raw["instance_types"].items()):
        if not t.get("per_zone"):
            continue
        types[name] = {
            "family": t.get("family"),
            "ncpus": t.get("ncpus"),
            "ram_gib": t.get("ram_gib"),
            "arch": t.get("arch"),
            "gpu": t.get("gpu") or 0,
            "end_of_service": bool(t.get("end_of_service")),
            "private_networks_max": t.get("private_networks_max"),
            "per_zone": {
                z: {
                    "hourly_price_eur": p.get("hourly_price_eur"),
                    "monthly_price_eur": p.get("monthly_price_eur"),
                    "availability": p.get("availability"),
                }
                for z, p in sorted(t["per_zone"].items())
            },
        }
    return {
        "source": "Scaleway Instance API products/servers and availability responses, recorded",
        "snapshot_date": recorded[-1][:10],
        "regions": raw["regions"],
        "swarm_candidate_types": raw["swarm_candidate_types"],
        "images": ["ubuntu_noble", "ubuntu_jammy", "debian_bookworm"],
        "flexible_ipv4": {
            "hourly_price_eur": FLEXIBLE_IPV4_HOURLY_EUR,
            "monthly_price_eur": round(FLEXIBLE_IPV4_HOURLY_EUR * 730, 2),
            "source": "Scaleway public price list (not in the API snapshot)",
        },
        "instance_types": types,
    }


if __name__ == "__main__":
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/reference/scaleway_catalog.json")
    out = Path(__file__).resolve().parent.parent / "assets" / "catalog" / "scaleway.json"
    out.write_text(json.dumps(build(src), indent=1, sort_keys=False) + "\n")
    print(f"wrote {out} ({out.stat().st_size} bytes)")
