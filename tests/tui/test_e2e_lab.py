"""End to end: the whole wizard in lab mode, from the welcome screen to a running lab swarm and its status table,
then the teardown screen removes it and the check says nothing remains."""

from __future__ import annotations

import time

import pytest
from textual.widgets import Button, DataTable, Input

from swarmwiz.tui.app import SwarmwizApp
from swarmwiz.tui.services import Services

pytestmark = [pytest.mark.lab, pytest.mark.slow]

WAITING_ON_THE_USER = {"flow", "confirm deploy", "confirm force", "destroy"}


async def wait_for(pilot, predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what} (screen: {pilot.app.screen})"
        await pilot.pause(0.1)
    await pilot.pause()


async def push(pilot, selector: str) -> None:
    await pilot.pause()
    button = pilot.app.screen.query_one(selector, Button)
    while button.has_class("-active") or button.disabled:
        await pilot.pause(0.05)
    button.focus()
    await pilot.press("enter")


def on(app, name: str) -> bool:
    return type(app.screen).__name__ == name


@pytest.fixture
def lab_cleanup():
    yield
    from swarmwiz.lab import Lab

    lab = Lab()
    lab.clean()
    status = lab.status()  # the lab itself says nothing of it is left
    assert not status["running"] and not status["servers"], status


async def test_wizard_deploys_a_lab_swarm_and_tears_it_down(ssh_keypair, lab_cleanup):
    _private, public = ssh_keypair
    services = Services(lab=True, ssh_dir=public.parent)
    app = SwarmwizApp(services, lab=True)
    async with app.run_test(size=(100, 32)) as pilot:
        await wait_for(pilot, lambda: on(app, "WelcomeScreen"), 30, "the welcome screen")
        await wait_for(pilot, lambda: "lab running" in app.status_text, 120, "the lab")
        await pilot.press("n")
        await wait_for(
            pilot,
            lambda: on(app, "CredentialsScreen") and app.screen.query_one("#scw_access_key", Input).value,
            30,
            "the lab's credentials",
        )
        await push(pilot, "#next")
        await wait_for(pilot, lambda: on(app, "PlaceScreen"), 30, "the place step")
        app.screen.query_one("#name", Input).value = "wiz"
        await push(pilot, "#next")
        await wait_for(pilot, lambda: on(app, "TypesScreen") and app.catalog is not None, 60, "the types step")
        await push(pilot, "#next")
        await wait_for(pilot, lambda: on(app, "CountsScreen"), 30, "the counts step")
        await push(pilot, "#next")  # 3 managers, 2 workers
        await wait_for(
            pilot,
            lambda: on(app, "DomainScreen") and app.screen.query_one("#domain", Input).value,
            60,
            "the lab's DNS zones",
        )
        await push(pilot, "#next")
        await wait_for(pilot, lambda: on(app, "SshScreen"), 30, "the SSH step")
        await push(pilot, "#next")
        await wait_for(pilot, lambda: on(app, "ReviewScreen") and app.screen.plan_summary is not None, 300, "the plan")
        assert app.screen.plan_summary.add > 0
        await push(pilot, "#deploy")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmDialog", 10, "the deploy confirmation")
        await push(pilot, "#yes")
        await wait_for(pilot, lambda: on(app, "DeployScreen"), 10, "the deploy screen")
        await wait_for(pilot, lambda: on(app, "DeployScreen") and app.screen.finished, 900, "the deploy")
        assert app.screen.status is not None and app.screen.status.all_ready, app.screen.query_one("#outcome").render()
        await push(pilot, "#continue")
        # The result screen asks for the Include line; No keeps the user's config untouched, `ssh -F` still works.
        await wait_for(pilot, lambda: on(app, "ConfirmDialog"), 60, "the SSH access question")
        await push(pilot, "#no")
        await wait_for(
            pilot,
            lambda: on(app, "ResultScreen") and app.screen.query_one("#nodes", DataTable).row_count,
            60,
            "the status table",
        )
        assert app.screen.query_one("#nodes", DataTable).row_count == 5
        assert app.screen.status.quorum_ok
        await wait_for(pilot, lambda: app.screen.access_said, 60, "the SSH aliases")
        import subprocess

        workspace = app.screen.pipeline.workspace.path
        name = app.screen.cluster
        done = subprocess.run(
            ["ssh", "-F", str(workspace / "ssh_config"), "-o", "BatchMode=yes", f"{name}-manager-1", "true"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        logs = sorted((workspace / "runs").glob("*-deploy.log"))
        assert logs, "no deploy run log"
        text = logs[-1].read_text()
        for secret in (
            app.screen.pipeline.secrets() if callable(app.screen.pipeline.secrets) else app.screen.pipeline.secrets
        ):
            assert secret not in text
        await push(pilot, "#done")
        await wait_for(pilot, lambda: on(app, "WelcomeScreen"), 30, "the welcome screen again")
        await wait_for(pilot, lambda: app.screen.query_one("#clusters", DataTable).row_count == 1, 30, "the list")
        await pilot.press("t")
        await wait_for(
            pilot,
            lambda: on(app, "TeardownScreen") and not app.screen.query_one("#typed").disabled,
            300,
            "the inventory",
        )
        app.screen.query_one("#typed", Input).value = "wiz"
        await push(pilot, "#destroy")
        await wait_for(pilot, lambda: on(app, "TeardownScreen") and not app.screen.running, 900, "the teardown")
        assert app.screen.report is not None and app.screen.report.clean, app.screen.report
        await push(pilot, "#done")
        await wait_for(pilot, lambda: on(app, "WelcomeScreen"), 30, "the welcome screen at the end")
