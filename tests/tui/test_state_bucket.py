"""The optional shared state ([state] bucket) from both frontends: the wizard's Place step and plain mode ask for it
and judge it with the spec's rule, Review shows it, and the question before a local state moves to the bucket is
asked in the wizard's deploy (a dialog, No by default) and in plain mode (No by default)."""

from __future__ import annotations

import io

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from recorded import RecordedPipeline, plan_events
from test_keyboard import until
from test_subdomain import type_into
from test_wizard import SIZE, full_draft, settle, text_of
from textual.widgets import Input

from swarmwiz.cli import plain
from swarmwiz.cli.output import Output
from swarmwiz.flows.draft import Draft, to_spec
from swarmwiz.tui.dialogs.confirm import ConfirmDialog
from swarmwiz.tui.dialogs.error import ErrorDialog
from swarmwiz.tui.screens.deploy import DeployScreen
from swarmwiz.tui.screens.place import PlaceScreen
from swarmwiz.tui.screens.review import ReviewScreen

BAD = "state.bucket: 'Team_State' is not a bucket name; use 3-63 lowercase letters"


async def test_the_place_step_takes_an_optional_bucket_judged_by_the_spec(make_app):
    app = make_app(start="none")
    async with app.run_test(size=SIZE) as pilot:
        results: list = []
        app.push_screen(PlaceScreen(Draft()), results.append)
        await settle(pilot)
        app.screen.query_one("#name", Input).value = "demo"
        await type_into(pilot, "#bucket", "Team_State")
        await pilot.press("enter")
        await pilot.pause()
        assert not results and BAD in text_of(app, "#problems")
        assert app.focused is app.screen.query_one("#bucket", Input)  # the field the problem is about
        await type_into(pilot, "#bucket", "team-state")
        await pilot.press("enter")  # Enter in the bucket goes on, as in the name
        await pilot.pause()
        assert results and results[0].state_bucket == "team-state"
        assert to_spec(results[0].update(**_rest())).state_bucket == "team-state"


async def test_an_empty_bucket_keeps_the_state_local(make_app):
    app = make_app(start="none")
    async with app.run_test(size=SIZE) as pilot:
        results: list = []
        app.push_screen(PlaceScreen(Draft(name="demo")), results.append)
        await settle(pilot)
        await type_into(pilot, "#bucket", "   ")
        await pilot.press("enter")
        await pilot.pause()
        assert results and results[0].state_bucket == ""
        assert "state" not in results[0].to_dict() and to_spec(results[0].update(**_rest())).state_bucket is None


def _rest() -> dict:
    """The answers of the later steps, so that a Place answer makes a whole spec."""
    from pathlib import Path

    key = Path(__file__).parent.parent / "fixtures" / "keys" / "id_ed25519.pub"
    return {"domain": "example.com", "public_key": str(key)}


async def test_review_says_where_the_state_is_shared(make_app, ssh_dir):
    app = make_app(start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(ReviewScreen(full_draft(ssh_dir).update(state_bucket="team-state")))
        await settle(pilot)
        assert "State       shared in bucket team-state (Object Storage, fr-par)" in text_of(app, "#summary")
        app.push_screen(ReviewScreen(full_draft(ssh_dir)))
        await settle(pilot)
        assert "State" not in text_of(app, "#summary")  # a local state, the default, goes unsaid


async def deploy_to_the_move_question(pilot, pipeline: RecordedPipeline, ssh_dir) -> None:
    """Deploy a cluster that names a bucket (its state still local) until the move question has the focus on No."""
    app = pilot.app
    spec = to_spec(full_draft(ssh_dir).update(state_bucket="team-state"))
    _events, plan = plan_events()
    app.push_screen(DeployScreen(spec, plan, pipeline))
    await until(
        pilot,
        lambda: isinstance(app.screen, ConfirmDialog) and app.focused is not None and app.focused.id == "no",
        "the move question",
    )


async def test_the_wizard_asks_before_moving_the_state_and_no_moves_nothing(make_app, ssh_dir):
    pipeline = RecordedPipeline(move_to="team-state")
    app = make_app(pipeline=pipeline, start="none")
    async with app.run_test(size=SIZE) as pilot:
        await deploy_to_the_move_question(pilot, pipeline, ssh_dir)
        assert app.screen.title_text == "Share the Terraform state?"
        assert "to s3://team-state/swarmwiz/demo/?" in app.screen.question
        await pilot.press("enter")  # No has the focus: Enter alone moves nothing
        await settle(pilot)
        assert pipeline.moves == [False] and not pipeline.confirmed  # nothing applied either
        assert not isinstance(app.screen, ErrorDialog)  # the user's own choice is a stop, not a failure
        outcome = text_of(app, "#outcome")
        assert outcome.startswith("Stopped, the state stays local and nothing was created:"), outcome
        assert "was not approved" in outcome and "failed" not in outcome


async def test_the_wizard_moves_the_state_when_the_user_says_move(make_app, ssh_dir):
    pipeline = RecordedPipeline(move_to="team-state")
    app = make_app(pipeline=pipeline, start="none")
    async with app.run_test(size=SIZE) as pilot:
        await deploy_to_the_move_question(pilot, pipeline, ssh_dir)
        await pilot.press("right", "enter")  # the arrows reach Move
        await settle(pilot)
        assert pipeline.moves == [True] and len(pipeline.confirmed) == 1
        assert "The swarm is running" in text_of(app, "#outcome")


# -- plain mode (questionary through a real prompt_toolkit session fed from a pipe) ---------------------------------


def _answer(keys: str, ask):
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        pipe.send_text(keys)
        return ask()


@pytest.mark.parametrize(("keys", "expected"), [("\r", False), ("n", False), ("y", True), ("\x03", False)])
def test_plain_mode_asks_before_moving_the_state_with_no_as_default(keys, expected):
    question = "move the Terraform state of cluster demo from terraform.tfstate to s3://team-state/swarmwiz/demo/"
    confirm_move = plain.move_question(Output(io.StringIO(), live=False))
    assert _answer(keys, lambda: confirm_move(question)) is expected


def test_plain_mode_asks_for_the_bucket_and_refuses_a_bad_one_with_the_spec_sentence():
    # A bad name is refused in place (the prompt stays), then a good one is taken; empty keeps the state local.
    assert _answer("Team_State\r" + "\x7f" * 10 + "team-state\r", plain._ask_state_bucket) == "team-state"
    assert _answer("\r", plain._ask_state_bucket) == ""
    assert plain.bucket_problem("Team_State").startswith(BAD)
    assert plain.bucket_problem("") is None and plain.bucket_problem("team-state") is None
