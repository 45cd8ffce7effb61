"""The bundled catalogue and the cost estimate."""

from __future__ import annotations

import pytest

from swarmwiz.core.catalog import bundled, estimate, placement


def test_bundled_catalog_has_regions_types_and_a_date():
    cat = bundled()
    assert set(cat.regions) == {"fr-par", "nl-ams", "pl-waw"}
    assert cat.zones_of("fr-par") == ["fr-par-1", "fr-par-2", "fr-par-3"]
    assert cat.zones["pl-waw-3"] == "pl-waw"
    dev1s = cat.types["DEV1-S"]
    assert (dev1s.ncpus, dev1s.ram_gib) == (2, 2.0)
    assert dev1s.offered_in("fr-par-1") and not dev1s.offered_in("fr-par-3")
    assert cat.source.startswith("bundled snapshot of 2026-")


def test_placement_is_round_robin():
    assert placement(5, ["a", "b"]) == ["a", "b", "a", "b", "a"]


def test_estimate_sums_per_zone_prices_and_ips():
    cat = bundled()
    est = estimate(cat, ["fr-par-1", "fr-par-2"], [("managers", "DEV1-S", 3), ("workers", "DEV1-M", 0)])
    dev1s = cat.types["DEV1-S"].monthly_price("fr-par-1")
    assert [line.role for line in est.lines] == ["managers", "routed IPv4"]
    assert est.total_monthly_eur == pytest.approx(round(3 * dev1s + 3 * cat.ip_monthly_eur, 2))
    assert est.as_table()[-1][0] == "total (excl. VAT)"


def test_premium_zone_costs_more():
    cat = bundled()
    name = next(
        t
        for t, it in cat.types.items()
        if it.offered_in("fr-par-1")
        and it.offered_in("fr-par-3")
        and it.monthly_price("fr-par-3") > it.monthly_price("fr-par-1")
    )
    cheap = estimate(cat, ["fr-par-1"], [("managers", name, 1)]).total_monthly_eur
    dear = estimate(cat, ["fr-par-3"], [("managers", name, 1)]).total_monthly_eur
    assert dear > cheap
