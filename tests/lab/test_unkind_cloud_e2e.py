"""The real clouds' unkindness, end to end through the command line: a wildcard record in the way, and a storm of
429/503 answers from both APIs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from support import cluster_text

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def swarmwiz(*args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "swarmwiz", *args], capture_output=True, text=True, timeout=timeout, env={**os.environ}
    )


def cloudflare(lab):
    import cloudflare

    env = lab.env()
    return cloudflare.Cloudflare(
        api_token=env["CLOUDFLARE_API_TOKEN"], base_url=env["CLOUDFLARE_BASE_URL"], max_retries=0
    )


def test_wildcard_in_the_way_then_subdomain(lab, tmp_path, ssh_keypair, swarmwiz_home):
    lab.ensure_running()
    cf = cloudflare(lab)
    zone = next(z for z in cf.zones.list(name="example.com") if z.name == "example.com")
    cf.dns.records.create(zone_id=zone.id, type="A", name="*.example.com", content="203.0.113.9", ttl=300)
    config = tmp_path / "demo.toml"
    config.write_text(cluster_text(ssh_keypair[1], managers=1, workers=1))

    refused = swarmwiz("deploy", "-c", str(config), "--lab", "--yes")
    assert refused.returncode == 2, refused.stdout[-2000:] + refused.stderr[-2000:]
    assert "A *.example.com -> 203.0.113.9" in refused.stderr + refused.stdout
    assert "dns.subdomain" in refused.stderr + refused.stdout
    status = lab.status()
    assert not status["servers"] and not status["ips"] and not status["private_networks"]
    assert not (swarmwiz_home / "clusters" / "demo").exists()

    with_subdomain = 'domain = "example.com"\nsubdomain = "apps"'
    config.write_text(config.read_text().replace('domain = "example.com"', with_subdomain))
    moved = swarmwiz("deploy", "-c", str(config), "--lab", "--yes")
    assert moved.returncode == 0, moved.stdout[-3000:] + moved.stderr[-3000:]
    report = json.loads(swarmwiz("status", "demo", "--lab", "--json").stdout)
    names = {r["name"] for r in report["dns"]}
    assert names == {"*.apps.example.com"}
    records = {(r.name, r.content) for r in cf.dns.records.list(zone_id=zone.id)}
    assert ("*.example.com", "203.0.113.9") in records  # the user's record is left alone

    gone = swarmwiz("destroy", "demo", "--lab", "--yes")
    assert gone.returncode == 0, gone.stdout[-2000:] + gone.stderr[-2000:]


def test_a_429_storm_is_survived(lab, tmp_path, ssh_keypair, swarmwiz_home):
    lab.set_options(fault_rate=0.2)
    config = tmp_path / "demo.toml"
    config.write_text(cluster_text(ssh_keypair[1], managers=1, workers=1))

    deployed = swarmwiz("deploy", "-c", str(config), "--lab", "--yes")
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    (log,) = (swarmwiz_home / "clusters" / "demo" / "runs").glob("*-deploy.log")
    text = log.read_text()
    assert re.search(r"API .*; retry \d+ of \d+ in [\d.]+ s", text), text[-3000:]

    lab.set_options(fault_rate=0.0)
    gone = swarmwiz("destroy", "demo", "--lab", "--yes")
    assert gone.returncode == 0, gone.stdout[-2000:] + gone.stderr[-2000:]


def test_quota_of_two_servers_refuses_three_plus_two(lab, tmp_path, ssh_keypair, swarmwiz_home):
    lab.set_options(quotas={"instances": 2})
    config = tmp_path / "demo.toml"
    config.write_text(cluster_text(ssh_keypair[1], managers=3, workers=2))

    refused = swarmwiz("deploy", "-c", str(config), "--lab", "--yes")
    assert refused.returncode == 2, refused.stdout[-2000:] + refused.stderr[-2000:]
    said = " ".join((refused.stderr + refused.stdout).split())
    assert "The Scaleway quota instances allows 2 servers" in said and "3 over the quota" in said, said[-2000:]
    status = lab.status()
    assert not status["servers"] and not status["ips"] and not status["private_networks"]
    assert not (swarmwiz_home / "clusters" / "demo").exists()
