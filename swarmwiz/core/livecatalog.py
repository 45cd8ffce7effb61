"""The live Scaleway catalogue: fetch types, prices and availability per zone, cache it, or fall back to the bundle."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from swarmwiz.core import paths
from swarmwiz.core.api import DEFAULT_TIMEOUT, Endpoints
from swarmwiz.core.credentials import Credentials
from swarmwiz.core.errors import ApiError, ApiUnreachable, CredentialError
from swarmwiz.core.paths import atomic_write

log = logging.getLogger(__name__)

CACHE_NAME = "scaleway-catalog.json"
MAX_AGE_S = 24 * 3600
GIB = 1024**3


def cache_path() -> Path:
    return paths.cache_dir() / CACHE_NAME


def bundled_data() -> dict:
    return json.loads(paths.bundled_catalog_path().read_text())


def _instance_type(name: str, raw: dict) -> dict:
    """One products/servers ServerType (as a dict) in the bundled file's shape (per_zone filled in by the caller)."""
    gpu = raw.get("gpu")
    return {
        "family": name.split("-")[0],
        "ncpus": int(raw.get("ncpus") or 0),
        "ram_gib": round((raw.get("ram") or 0) / GIB, 3),
        "arch": str(raw.get("arch") or "x86_64"),
        "gpu": int(gpu) if isinstance(gpu, int | float) else 0,
        "end_of_service": bool(raw.get("end_of_service")),
        "private_networks_max": (raw.get("capabilities") or {}).get("private_network"),
        "per_zone": {},
    }


def fetch_live_catalog(
    creds: Credentials,
    endpoints: Endpoints | None = None,
    zones: list[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict:
    """Catalogue data in the bundled shape from the live API: every page of products/servers and availability.

    `zones` defaults to every zone in the bundled catalogue; a zone the API refuses is skipped and listed under
    `zones_failed`. Raises CredentialError (ApiUnreachable included) when no zone could be read.
    """
    base = bundled_data()
    zones = zones or [z for r in base["regions"].values() for z in r["zones"]]
    endpoints = endpoints or Endpoints.from_env()
    types: dict[str, dict] = {}
    failed: dict[str, str] = {}
    from dataclasses import asdict

    from swarmwiz.core.api.clients import ApiClients
    from swarmwiz.core.api.inventory import Inventory

    with ApiClients(creds, endpoints, timeout=timeout) as api:
        inventory = Inventory(api)
        for zone in zones:
            try:
                offered = inventory.server_types(zone)
                stock = inventory.server_availability(zone)
            except ApiUnreachable:
                raise
            except ApiError as exc:
                failed[zone] = str(exc)
                log.info("live catalogue: zone %s skipped: %s", zone, exc)
                continue
            for name, model in offered.items():
                raw = asdict(model)
                entry = types.setdefault(name, _instance_type(name, raw))
                entry["per_zone"][zone] = {
                    "hourly_price_eur": raw.get("hourly_price"),
                    "monthly_price_eur": raw.get("monthly_price"),
                    "availability": stock.get(name, "unknown"),
                }
    if not types:
        first = next(iter(failed.values()), "no zone answered")
        raise CredentialError(f"Could not read the live Scaleway catalogue: {first}")
    fetched = datetime.now(UTC).replace(microsecond=0).isoformat()
    data = {k: v for k, v in base.items() if k not in ("instance_types", "snapshot_date", "source")}
    data.update(
        source="Scaleway Instance API products/servers and availability, live",
        fetched_at=fetched,
        api=endpoints.scaleway,
        zones_failed=failed,
        instance_types=dict(sorted(types.items())),
    )
    return data


def write_cache(data: dict, path: Path | None = None) -> Path:
    """Write catalogue data atomically (0600) to the cache; returns the path."""
    path = path or cache_path()
    atomic_write(path, json.dumps(data, indent=1))
    return path


def refresh_catalog(
    creds: Credentials, endpoints: Endpoints | None = None, zones: list[str] | None = None
) -> tuple[dict, str]:
    """Fetch the live catalogue, cache it, and return (data, source description)."""
    data = fetch_live_catalog(creds, endpoints, zones)
    write_cache(data)
    return data, describe(data)


def describe(data: dict) -> str:
    """'live Scaleway data fetched 2026-11-24 22:30 UTC' or 'bundled snapshot of 2026-08-18'."""
    if data.get("fetched_at"):
        when = datetime.fromisoformat(data["fetched_at"]).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return f"live Scaleway data fetched {when}"
    return f"bundled snapshot of {data.get('snapshot_date', 'unknown date')}"


def load_catalog_data(max_age_s: float = MAX_AGE_S, now: datetime | None = None) -> tuple[dict, str]:
    """(catalogue data, source description): the cached live data if younger than `max_age_s`, else the bundle.

    A missing, stale or unreadable cache falls back to the bundled snapshot; the description says which.
    """
    now = now or datetime.now(UTC)
    try:
        data = json.loads(cache_path().read_text())
        fetched = datetime.fromisoformat(data["fetched_at"])
        if data.get("instance_types") and 0 <= (now - fetched).total_seconds() <= max_age_s:
            return data, describe(data)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    data = bundled_data()
    return data, describe(data)


def current_catalog(max_age_s: float = MAX_AGE_S):
    """A `catalog.Catalog` from `load_catalog_data`, its `source` saying live or bundled."""
    from swarmwiz.core.catalog import Catalog

    data, source = load_catalog_data(max_age_s)
    return Catalog.from_data(data, source)


def live(creds: Credentials, endpoints: Endpoints | None = None):
    """Refresh from the live API and return a `catalog.Catalog` whose `source` says when it was fetched."""
    from swarmwiz.core.catalog import Catalog

    data, source = refresh_catalog(creds, endpoints)
    return Catalog.from_data(data, source)
