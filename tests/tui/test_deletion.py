"""Asking before deleting, in the wizard (issue 12): the DeletionDialog alone (Stop has the focus, Escape is Stop,
names are shown as they are), and the deploy screen asking it from its worker thread: Stop, Delete, no answer in
time, and a quit while the question is open. The lab test (test_deletion_lab.py) does the same against the lab."""

from __future__ import annotations

import contextlib

from recorded import RecordedPipeline
from support import until
from test_wizard import SIZE, full_draft, text_of
from textual.widgets import Button, Static

from swarmwiz.core.api.inventory import CloudObject
from swarmwiz.tui.dialogs.deletion import DeletionDialog
from swarmwiz.tui.dialogs.error import ErrorDialog
from swarmwiz.tui.screens.deploy import DeployScreen

STRAY = CloudObject("server", "demo-worker-9", "fr-par-2/11111111-2222-3333-4444-555555555555", zone="fr-par-2")


def dialog() -> DeletionDialog:
    items = ["server [b]odd[/b] (fr-par-1/1) in fr-par-1", STRAY.describe()]
    return DeletionDialog("Delete 2 objects?", "These are not in Terraform's state:", items, after="Stop: none")


def shown_items(app) -> list[str]:
    return [str(s.render()).strip() for s in app.screen.query(".deletion-item").results(Static)]


async def test_deletion_dialog_has_stop_focused_and_escape_or_enter_stop(make_app):
    app = make_app(start="none")
    async with app.run_test(size=SIZE) as pilot:
        answers: list = []
        app.push_screen(dialog(), answers.append)
        await until(pilot, lambda: isinstance(app.screen, DeletionDialog) and app.focused is not None, "the dialog")
        assert app.focused is app.screen.query_one("#stop", Button)
        # Names from the cloud are shown as they are (never read as markup), one line each.
        assert shown_items(app) == ["• server [b]odd[/b] (fr-par-1/1) in fr-par-1", f"• {STRAY.describe()}"]
        await pilot.press("escape")
        await until(pilot, lambda: answers, "the answer to Escape")
        assert answers == [False]

        app.push_screen(dialog(), answers.append)
        await until(pilot, lambda: isinstance(app.screen, DeletionDialog) and app.focused is not None, "the dialog")
        await pilot.press("enter")  # Enter alone answers with the focused, safe choice
        await until(pilot, lambda: len(answers) == 2, "the answer to Enter")
        assert answers == [False, False]

        app.push_screen(dialog(), answers.append)
        await until(pilot, lambda: isinstance(app.screen, DeletionDialog) and app.focused is not None, "the dialog")
        await pilot.press("right")
        assert app.focused is app.screen.query_one("#delete", Button)
        await pilot.press("enter")
        await until(pilot, lambda: len(answers) == 3, "the answer to Delete")
        assert answers == [False, False, True]


async def test_an_expired_question_can_only_be_closed(make_app):
    app = make_app(start="none")
    async with app.run_test(size=SIZE) as pilot:
        answers: list = []
        app.push_screen(dialog(), answers.append)
        await until(pilot, lambda: isinstance(app.screen, DeletionDialog), "the dialog")
        app.screen.expire()
        await pilot.pause()
        assert not app.screen.query("#delete")
        assert str(app.screen.query_one("#stop", Button).label) == "Close"
        assert "Nobody answered in time" in text_of(app, "#after")
        await pilot.press("enter")
        await until(pilot, lambda: answers, "the dialog to close")
        assert answers == [False]


def log_lines(app) -> list[str]:
    return [text for _phase, text in app.screen.query_one("#run").lines]


@contextlib.asynccontextmanager
async def asked_to_delete(make_app, ssh_dir, **kwargs):
    """The deploy screen (`kwargs` its options) on a recorded pipeline that finds STRAY untracked, once it asks
    about it. Yields (app, pilot, pipeline, screen)."""
    from recorded import plan_events

    from swarmwiz.flows.draft import to_spec

    pipeline = RecordedPipeline(untracked=[STRAY])
    app = make_app(pipeline=pipeline, start="none")
    async with app.run_test(size=SIZE) as pilot:
        _events, plan = plan_events()
        screen = DeployScreen(to_spec(full_draft(ssh_dir)), plan, pipeline, **kwargs)
        app.push_screen(screen)
        await until(pilot, lambda: isinstance(app.screen, DeletionDialog), "the deletion question")
        yield app, pilot, pipeline, screen


async def test_deploy_asks_and_stop_deletes_nothing(make_app, ssh_dir):
    async with asked_to_delete(make_app, ssh_dir) as (app, pilot, pipeline, screen):
        assert any("demo-worker-9" in item for item in shown_items(app))
        assert app.focused is app.screen.query_one("#stop", Button)
        await pilot.press("escape")
        await until(pilot, lambda: screen.finished, "the deploy to end")
        assert pipeline.untracked == [STRAY] and not pipeline.confirmed  # nothing deleted, nothing applied
        outcome = text_of(app, "#outcome")
        assert "Stopped, nothing was deleted" in outcome and "demo-worker-9" in outcome, outcome
        assert app.screen is screen and not any(isinstance(s, ErrorDialog) for s in app.screen_stack)
        lines = log_lines(app)
        assert any(line.startswith("!! Asked: delete 1 object") and "demo-worker-9" in line for line in lines), lines
        assert "!! Answer: stop, delete nothing." in lines
        run_log = sorted((pipeline.workspace.path / "runs").glob("*-deploy.log"))[-1].read_text()
        assert "Answer: stop, delete nothing." in run_log


async def test_deploy_asks_and_delete_goes_on(make_app, ssh_dir):
    async with asked_to_delete(make_app, ssh_dir) as (app, pilot, pipeline, screen):
        await pilot.click("#delete")
        await until(pilot, lambda: screen.finished, "the deploy to end")
        assert pipeline.untracked == [] and pipeline.confirmed
        assert screen.status is not None and "The swarm is running" in text_of(app, "#outcome")
        assert "!! Answer: delete and continue." in log_lines(app)


async def test_an_unanswered_question_times_out_as_stop(make_app, ssh_dir):
    async with asked_to_delete(make_app, ssh_dir, question_timeout=0.5) as (app, pilot, pipeline, screen):
        await until(pilot, lambda: screen.finished, "the question to time out", timeout=10)
        assert app.screen is screen  # the unanswered dialog was withdrawn
        assert pipeline.untracked == [STRAY]
        assert "!! No answer within 0.5 seconds: taken as stop, delete nothing." in log_lines(app)
        assert "Stopped, nothing was deleted" in text_of(app, "#outcome")


async def test_quitting_while_asked_stops_without_deleting(make_app, ssh_dir):
    from swarmwiz.tui.dialogs.confirm import ConfirmDialog

    async with asked_to_delete(make_app, ssh_dir) as (app, pilot, pipeline, _screen):
        await pilot.press("ctrl+q")
        await until(
            pilot, lambda: isinstance(app.screen, ConfirmDialog) and app.screen.query("#yes"), "the quit question"
        )
        await pilot.click("#yes")
        await until(pilot, lambda: app.return_code is not None, "the app to quit", timeout=10)
        assert app.return_code == 130
        assert pipeline.untracked == [STRAY] and not pipeline.confirmed


async def test_a_long_list_scrolls_and_the_answers_stay_on_screen(make_app):
    many = [
        CloudObject("server", f"demo-worker-{i}", f"fr-par-2/1111111{i:x}-2222-3333-4444-555555555555", zone="fr-par-2")
        for i in range(12)
    ]
    app = make_app(start="none")
    async with app.run_test(size=SIZE) as pilot:  # 80x24, the smallest terminal the wizard is made for
        app.push_screen(DeletionDialog("Delete 12 objects?", "Not in Terraform's state:", [o.describe() for o in many]))
        await until(pilot, lambda: isinstance(app.screen, DeletionDialog) and app.focused is not None, "the dialog")
        await pilot.pause()
        for selector in ("#stop", "#delete", "#after"):
            widget = app.screen.query_one(selector)
            region = widget.region
            assert region.height and region.bottom <= SIZE[1], (selector, region)
            hit, _ = app.screen.get_widget_at(region.x + 1, region.y + region.height // 2)
            assert hit is widget or widget in hit.ancestors, (selector, hit)
        items = app.screen.query_one("#items")
        assert items.max_scroll_y > 0  # the list scrolls instead of pushing the answers away
