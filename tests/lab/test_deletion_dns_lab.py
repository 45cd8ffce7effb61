"""The wizard's deploy with dns.replace_existing against the lab's API (issue 12): the record in the cluster's way is
listed in a dialog before anything exists; Stop keeps it and creates nothing, Delete removes it."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest
import support
from support import cluster_text
from test_preflight_lab import KeyTarget, spec_of
from textual.widgets import Button, Static

from swarmwiz.core.pipeline import Pipeline
from swarmwiz.tui.app import SwarmwizApp
from swarmwiz.tui.dialogs.deletion import DeletionDialog
from swarmwiz.tui.screens.deploy import DeployScreen
from swarmwiz.tui.services import Services

pytestmark = [pytest.mark.lab]


async def until(pilot, condition, what: str) -> None:
    await support.until(pilot, condition, what, 60, every=0.05)


def text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def log_lines(screen) -> list[str]:
    return [line for _phase, line in screen.query_one("#run").lines]


async def test_wizard_deploy_asks_before_replacing_a_dns_record(api_lab, swarmwiz_home, ssh_keypair, tmp_path):
    cf = api_lab.cloudflare()
    zone = next(z for z in cf.zones.list(name="example.com") if z.name == "example.com")
    cf.dns.records.create(zone_id=zone.id, type="A", name="*.example.com", content="203.0.113.7", ttl=300)
    spec = dataclasses.replace(spec_of(ssh_keypair, tmp_path), replace_existing=True)
    target = KeyTarget(api_lab)
    app = SwarmwizApp(Services(target), start="none")
    async with app.run_test(size=(100, 32)) as pilot:
        # Stop: the record stays, nothing is created (not even the workspace), the sentence says why.
        screen = DeployScreen(spec, None, Pipeline.for_spec(spec, target))
        app.push_screen(screen)
        await until(pilot, lambda: isinstance(app.screen, DeletionDialog), "the DNS question")
        items = [str(s.render()).strip() for s in app.screen.query(".deletion-item").results(Static)]
        assert items == ["• A *.example.com -> 203.0.113.7"]
        assert app.focused is app.screen.query_one("#stop", Button)
        await pilot.press("escape")
        await until(pilot, lambda: screen.finished, "the deploy to stop")
        outcome = text(screen, "#outcome")
        assert "was not confirmed" in outcome and "nothing was created" in outcome, outcome
        assert "--yes" not in outcome  # the dialog was the way to approve: no command-line flag in the wizard
        assert [r.content for r in cf.dns.records.list(zone_id=zone.id)] == ["203.0.113.7"]
        assert not (swarmwiz_home / "clusters" / spec.name).exists()
        assert "!! Answer: stop, delete nothing." in log_lines(screen)
        screen.query_one("#continue", Button).press()
        await until(pilot, lambda: app.screen is not screen, "the deploy screen to close")

        # Delete: the record goes. The run is stopped (safely, at the pipeline's next step) before Terraform runs:
        # this lab has no hosts to deploy to.
        pipeline = Pipeline.for_spec(spec, target)
        screen = DeployScreen(spec, None, pipeline)
        app.push_screen(screen)
        await until(pilot, lambda: isinstance(app.screen, DeletionDialog), "the DNS question again")
        pipeline.cancel()
        await pilot.click("#delete")
        await until(pilot, lambda: screen.finished, "the deploy to stop after the deletion")
        assert list(cf.dns.records.list(zone_id=zone.id)) == []
        lines = log_lines(screen)
        assert "!! Answer: delete and continue." in lines
        assert any("deleted the DNS records in the cluster's way: A *.example.com -> 203.0.113.7" in x for x in lines)
        assert "Stopped safely" in text(screen, "#outcome")


def test_command_line_without_a_terminal_keeps_the_record_and_names_yes(api_lab, swarmwiz_home, ssh_keypair, tmp_path):
    """`swarmwiz deploy --replace-dns` with no terminal to ask on: nothing deleted or created, exit 2, the core's
    sentence, and the command line's own way out (--yes)."""
    cf = api_lab.cloudflare()
    zone = next(z for z in cf.zones.list(name="example.com") if z.name == "example.com")
    cf.dns.records.create(zone_id=zone.id, type="A", name="*.example.com", content="203.0.113.7", ttl=300)
    config = tmp_path / "cluster.toml"
    config.write_text(cluster_text(ssh_keypair[1], managers=1, workers=1))
    out = subprocess.run(
        [sys.executable, "-m", "swarmwiz", "deploy", "-c", str(config), "--replace-dns"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **KeyTarget(api_lab).environment()},
        timeout=300,
    )
    assert out.returncode == 2, out.stdout[-2000:] + out.stderr[-2000:]
    assert "  A *.example.com -> 203.0.113.7" in out.stdout.splitlines()
    assert "Not deleted: stdin is not a terminal, so nobody can approve; pass --yes to delete them." in out.stdout
    error = out.stderr.strip().splitlines()[-1]
    assert error == (
        "swarmwiz: error: dns: replacing A *.example.com -> 203.0.113.7 was not confirmed; nothing was created"
    )
    assert [r.content for r in cf.dns.records.list(zone_id=zone.id)] == ["203.0.113.7"]
    assert not (swarmwiz_home / "clusters" / "demo").exists()
