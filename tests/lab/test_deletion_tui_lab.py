"""The wizard's deploy meets an object of its own cluster that Terraform does not track (issue 12), in the lab: the
deploy screen lists it in a dialog and waits; Stop leaves it in the cloud and ends the deploy with one sentence,
Delete removes it and the deploy finishes with a healthy swarm."""

from __future__ import annotations

import asyncio

import pytest
import support
from support import leave_a_stray_server
from test_lifecycle import assert_healthy, deploy, destroy, make_spec
from textual.widgets import Button, Static

from swarmwiz.core.events import PlanSummary
from swarmwiz.core.pipeline import Pipeline
from swarmwiz.lab.target import LabTarget
from swarmwiz.tui.app import SwarmwizApp
from swarmwiz.tui.dialogs.confirm import ConfirmDialog
from swarmwiz.tui.dialogs.deletion import DeletionDialog
from swarmwiz.tui.dialogs.error import ErrorDialog
from swarmwiz.tui.screens.deploy import DeployScreen
from swarmwiz.tui.services import Services

pytestmark = [pytest.mark.lab, pytest.mark.slow]

STRAY = "ask-worker-9"


async def until(pilot, condition, what: str, timeout: float) -> None:
    def no_question(app) -> None:
        # A plan-changed question would mean the re-deploy wanted to change the cluster: not what is tested here.
        assert not isinstance(app.screen, (ErrorDialog, ConfirmDialog)), (what, app.screen, _outcome(app))

    await support.until(pilot, condition, what, timeout, every=0.1, check=no_question)


def _outcome(app) -> str:
    for screen in reversed(app.screen_stack):
        for found in screen.query("#outcome").results(Static):
            return str(found.render())
    return ""


def lab_servers(lab) -> list[str]:
    return [s["name"] for s in lab.status()["servers"]]


async def test_wizard_deploy_asks_before_deleting_an_untracked_object(lab, tmp_path, ssh_keypair):
    spec = make_spec(tmp_path, ssh_keypair, name="ask", managers=1, workers=0)
    # The core runs its own event loops (asyncssh): outside the test's loop, in a thread.
    first, _events, status = await asyncio.to_thread(deploy, spec)  # the cluster exists, as after an earlier run
    assert_healthy(status, 1, 0)
    leave_a_stray_server(first, STRAY)
    assert STRAY in lab_servers(lab)

    target = LabTarget()
    app = SwarmwizApp(Services(target), lab=True, start="none")
    nothing_to_change = PlanSummary(0, 0, 0)  # what Review showed: the cluster as it is
    async with app.run_test(size=(100, 32)) as pilot:
        # 1. Stop: the object stays, the deploy ends with the pipeline's sentence, nothing was applied.
        screen = DeployScreen(spec, nothing_to_change, Pipeline.for_spec(spec, target))
        app.push_screen(screen)
        await until(pilot, lambda: isinstance(app.screen, DeletionDialog), "the deletion question", 300)
        items = [str(s.render()) for s in app.screen.query(".deletion-item").results(Static)]
        assert len(items) == 1 and STRAY in items[0], items
        assert app.focused is app.screen.query_one("#stop", Button)
        await pilot.press("escape")
        await until(pilot, lambda: screen.finished, "the deploy to stop", 120)
        outcome = _outcome(app)
        assert "nothing was deleted" in outcome and STRAY in outcome, outcome
        assert screen.status is None
        assert STRAY in lab_servers(lab)
        lines = [text for _phase, text in screen.query_one("#run").lines]
        assert any(line.startswith("!! Asked: delete 1 object") and STRAY in line for line in lines), lines
        assert "!! Answer: stop, delete nothing." in lines
        screen.query_one("#continue", Button).press()
        await until(pilot, lambda: app.screen is not screen, "the deploy screen to close", 10)

        # 2. Delete: the object goes, the deploy goes on and the swarm is healthy.
        screen = DeployScreen(spec, nothing_to_change, Pipeline.for_spec(spec, target))
        app.push_screen(screen)
        await until(pilot, lambda: isinstance(app.screen, DeletionDialog), "the deletion question again", 300)
        await pilot.click("#delete")
        await until(pilot, lambda: screen.finished, "the deploy to finish", 600)
        assert screen.status is not None, _outcome(app)
        assert_healthy(screen.status, 1, 0)
        assert STRAY not in lab_servers(lab)
        lines = [text for _phase, text in screen.query_one("#run").lines]
        assert "!! Answer: delete and continue." in lines
        assert any(STRAY in line and "deleting them" in line for line in lines), lines
    await asyncio.to_thread(destroy, spec, lab)
