"""The lab's Cloudflare answers /cdn-cgi/trace in the real format, and the wizard's lookup finds the caller there."""

from __future__ import annotations

import ipaddress
import subprocess
import sys

import httpx
import pytest
from support import cluster_text

from swarmwiz.core import paths
from swarmwiz.core.api import Endpoints
from swarmwiz.flows.myaddress import public_cidr
from swarmwiz.lab.api.cloudflare.trace import caller_address

KEYS = ["fl", "h", "ip", "ts", "visit_scheme", "uag", "colo", "sliver", "http", "loc", "tls", "sni", "warp"]


def test_trace_answers_the_real_format_with_the_callers_address(api_lab):
    answer = httpx.get(f"{api_lab.url}/cdn-cgi/trace", headers={"User-Agent": "swarmwiz-test/1"}, timeout=5)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    lines = answer.text.splitlines()
    assert all(line.count("=") >= 1 and not line.startswith("=") for line in lines), lines
    fields = dict(line.split("=", 1) for line in lines)
    assert [k for k in fields if k in KEYS] == KEYS  # the real answer's keys, in the real order
    assert fields["ip"] == "127.0.0.1"  # as the server saw the connection
    assert fields["h"] == api_lab.url.removeprefix("http://")
    assert fields["uag"] == "swarmwiz-test/1"
    assert fields["visit_scheme"] == "http" and fields["http"] == "http/1.1" and fields["tls"] == "off"
    assert float(fields["ts"]) > 1.7e9


def test_trace_needs_no_credentials(api_lab):
    answer = httpx.get(f"{api_lab.url}/cdn-cgi/trace", timeout=5)  # no token, as on Cloudflare
    assert answer.status_code == 200 and "ip=127.0.0.1\n" in answer.text


def test_public_cidr_from_the_labs_cloudflare(api_lab):
    assert public_cidr(Endpoints(scaleway=api_lab.url, cloudflare=api_lab.cloudflare_url)) == "127.0.0.1/32"


def test_a_caller_on_loopback_is_shown_the_labs_gateway_when_the_lab_has_hosts():
    class Net:  # the one attribute of a LabNet that the trace reads
        public_gateway = ipaddress.IPv4Address("10.231.0.1")

    assert caller_address("127.0.0.1", Net()) == "10.231.0.1"
    assert caller_address("::1", Net()) == "10.231.0.1"
    assert caller_address("127.0.0.1", None) == "127.0.0.1"  # an API-only lab
    assert caller_address("10.231.0.7", Net()) == "10.231.0.7"  # a caller from the lab's own network, as it is


@pytest.mark.lab
@pytest.mark.slow
def test_deploy_warns_about_the_whole_internet_and_the_suggestion_reaches_the_nodes(
    lab, tmp_path, ssh_keypair, swarmwiz_home
):
    """The full lab: the wide range is warned about; then the suggested /32 (the lab's gateway, which is where this
    machine's SSH comes from) converges the cluster, which is only Ready when every node answered SSH through it."""
    from swarmwiz.lab.hosts import LabNet

    config = tmp_path / "wide.toml"
    config.write_text(cluster_text(ssh_keypair[1], name="wide", managers=1, workers=0, zones=("fr-par-1",)))
    assert 'allowed_cidrs = ["0.0.0.0/0"]' in config.read_text()
    run = [sys.executable, "-m", "swarmwiz"]
    out = subprocess.run(
        [*run, "deploy", "-c", str(config), "--lab", "--yes"], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    warnings = [line for line in out.stderr.splitlines() if line.startswith("swarmwiz: warning:")]
    assert len(warnings) == 1 and "0.0.0.0/0: the whole internet can try to log in" in warnings[0], out.stderr

    suggested = public_cidr(Endpoints(scaleway=lab.api_url, cloudflare=lab.cloudflare_url))
    assert suggested == f"{LabNet(paths.lab_dir(), _create_dir=False).public_gateway}/32"
    config.write_text(config.read_text().replace('["0.0.0.0/0"]', f'["{suggested}"]'))
    narrow = subprocess.run(
        [*run, "deploy", "-c", str(config), "--lab", "--yes"], capture_output=True, text=True, timeout=300
    )
    assert narrow.returncode == 0, narrow.stdout[-2000:] + narrow.stderr[-2000:]
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in narrow.stdout  # the security group's SSH rule
    assert "swarmwiz: warning:" not in narrow.stderr
    status = subprocess.run([*run, "status", "wide", "--lab"], capture_output=True, text=True, timeout=120)
    assert status.returncode == 0, status.stdout + status.stderr  # every node Ready, asked over SSH

    gone = subprocess.run([*run, "destroy", "wide", "--lab", "--yes"], capture_output=True, text=True, timeout=300)
    assert gone.returncode == 0, gone.stdout[-2000:] + gone.stderr[-2000:]
