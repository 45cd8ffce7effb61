"""The wizard from the keyboard (Pilot): Enter goes on from every step, the primary button has the focus after a step
or a run, commands copy, the command palette reaches the main actions, and a Stop is "stopped", not an error."""

from __future__ import annotations

import json

from recorded import RecordedPipeline, cluster_status
from test_wizard import SIZE, full_draft, settle, text_of
from textual.widgets import Button, DataTable, Input, OptionList

from swarmwiz.core import paths
from swarmwiz.flows.draft import Draft
from swarmwiz.tui.dialogs.confirm import ConfirmDialog
from swarmwiz.tui.dialogs.error import ErrorDialog
from swarmwiz.tui.screens.counts import CountsScreen
from swarmwiz.tui.screens.credentials import CredentialsScreen
from swarmwiz.tui.screens.deploy import DeployScreen
from swarmwiz.tui.screens.domain import DomainScreen
from swarmwiz.tui.screens.place import PlaceScreen
from swarmwiz.tui.screens.result import ResultScreen
from swarmwiz.tui.screens.review import ReviewScreen
from swarmwiz.tui.screens.ssh import SshScreen
from swarmwiz.tui.screens.teardown import TeardownScreen
from swarmwiz.tui.screens.types import TypesScreen


async def until(pilot, condition, what: str, timeout: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.02)


async def test_enter_in_the_last_field_goes_on_from_credentials(make_app, lab_api):
    app = make_app(env=lab_api.env, start="none")
    async with app.run_test(size=SIZE) as pilot:
        answers: list = []
        await app.push_screen(CredentialsScreen(Draft()), answers.append)
        await settle(pilot)
        raw = lab_api.raw
        for attr, env in (
            ("scw_access_key", "SCW_ACCESS_KEY"),
            ("scw_secret_key", "SCW_SECRET_KEY"),
            ("scw_project_id", "SCW_DEFAULT_PROJECT_ID"),
        ):
            app.screen.query_one(f"#{attr}", Input).value = raw[env]
        last = app.screen.query_one("#cloudflare_token", Input)
        last.value = raw["CLOUDFLARE_API_TOKEN"]
        last.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert answers and answers[0].value("cloudflare_token") == raw["CLOUDFLARE_API_TOKEN"]


async def test_enter_in_the_name_goes_on_only_when_the_name_is_valid(make_app):
    app = make_app(start="none")
    async with app.run_test(size=SIZE) as pilot:
        answers: list = []
        app.push_screen(PlaceScreen(Draft()), answers.append)
        await settle(pilot)
        assert app.focused is app.screen.query_one("#name", Input)
        await pilot.press("B", "a", "d", "enter")
        await pilot.pause()
        assert not answers and "name:" in text_of(app, "#problems")
        assert app.focused is app.screen.query_one("#name", Input)  # the field the problem is about
        app.screen.query_one("#name", Input).value = ""
        await pilot.press(*"demo", "enter")
        await pilot.pause()
        assert answers and answers[0].name == "demo"


async def test_enter_on_a_type_uses_it_for_both_and_goes_on(make_app):
    app = make_app(start="none")
    async with app.run_test(size=SIZE) as pilot:
        answers: list = []
        app.push_screen(TypesScreen(Draft(name="demo", manager_type="DEV1-M", worker_type="DEV1-L")), answers.append)
        await settle(pilot)
        table = app.screen.query_one("#types-table", DataTable)
        assert app.focused is table
        await pilot.press("down", "enter")
        await pilot.pause()
        assert answers, text_of(app, "#problems")
        chosen = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        assert answers[0].manager_type == answers[0].worker_type == chosen


async def test_types_m_and_w_then_enter_keeps_the_separate_choices(make_app):
    app = make_app(start="none")
    async with app.run_test(size=SIZE) as pilot:
        answers: list = []
        app.push_screen(TypesScreen(Draft(name="demo")), answers.append)
        await settle(pilot)
        table = app.screen.query_one("#types-table", DataTable)
        names = [key.value for key in table.rows]
        table.move_cursor(row=names.index("DEV1-S"))
        await pilot.press("m")
        table.move_cursor(row=names.index("DEV1-M"))
        await pilot.press("w", "enter")
        await pilot.pause()
        assert answers and (answers[0].manager_type, answers[0].worker_type) == ("DEV1-S", "DEV1-M")


async def test_counts_with_arrows_and_enter(make_app):
    app = make_app(start="none")
    async with app.run_test(size=SIZE) as pilot:
        answers: list = []
        app.push_screen(CountsScreen(Draft(name="demo", managers=3)), answers.append)
        await settle(pilot)
        await pilot.press("down", "enter")  # from 3 to 5 managers; Enter chooses and moves on to the workers
        await pilot.pause()
        workers = app.screen.query_one("#workers", Input)
        assert app.focused is workers
        workers.value = ""
        await pilot.press("4", "enter")
        await pilot.pause()
        assert answers and (answers[0].managers, answers[0].workers) == (5, 4)


async def test_enter_on_a_domain_goes_on(make_app, lab_api):
    from swarmwiz.core.credentials import credentials_from_env

    app = make_app(env=lab_api.env, start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.credentials = credentials_from_env(lab_api.raw)
        answers: list = []
        app.push_screen(DomainScreen(Draft(name="demo")), answers.append)
        # The zones load in a worker started on mount, which may come after a first settle: wait for the list.
        await until(pilot, lambda: any(not z.disabled for z in app.screen.query("#zones-list")), "the zones")
        await settle(pilot)
        assert app.focused is app.screen.query_one("#zones-list", OptionList)
        await pilot.press("enter")
        await pilot.pause()
        assert answers and answers[0].domain == "example.com"


async def test_ssh_enter_on_a_key_then_enter_in_the_addresses(make_app, ssh_dir):
    app = make_app(start="none")
    async with app.run_test(size=SIZE) as pilot:
        answers: list = []
        app.push_screen(SshScreen(Draft(name="demo", domain="example.com")), answers.append)
        await settle(pilot)
        await pilot.press("enter")
        assert app.focused is app.screen.query_one("#cidrs", Input)
        await pilot.press("enter")
        await pilot.pause()
        assert answers and answers[0].public_key.endswith("id_ed25519.pub")


async def test_ctrl_n_goes_on_from_anywhere_in_a_step(make_app):
    app = make_app(start="none")
    async with app.run_test(size=SIZE) as pilot:
        answers: list = []
        app.push_screen(PlaceScreen(Draft(name="demo")), answers.append)
        await settle(pilot)
        app.screen.query_one("#zones").focus()
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert answers and answers[0].name == "demo"


async def test_review_deploys_with_enter_and_arrows(make_app, ssh_dir):
    app = make_app(start="none")
    async with app.run_test(size=SIZE) as pilot:
        answers: list = []
        app.push_screen(ReviewScreen(full_draft(ssh_dir)), answers.append)
        await settle(pilot)
        # The plan is ready: Deploy has the focus (given on the plan's end message, after its worker ended).
        await until(pilot, lambda: app.focused is app.screen.query_one("#deploy", Button), "Deploy to have the focus")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("right", "enter")  # from the safe No to the Yes
        await pilot.pause()
        assert answers and answers[0][1].add == 3


async def test_the_plan_changed_dialog_quotes_the_review_figure(make_app, ssh_dir):
    """One cost source: the dialog shown when the plan changed says the same EUR/month as the Review screen."""
    from swarmwiz.flows.draft import to_spec

    pipeline = RecordedPipeline()
    app = make_app(pipeline=pipeline, start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(ReviewScreen(full_draft(ssh_dir)))
        await settle(pilot)
        table = app.screen.query_one("#cost", DataTable)
        total = str(table.get_row_at(table.row_count - 1)[-1])
        app.push_screen(DeployScreen(to_spec(full_draft(ssh_dir)), None))  # nothing reviewed: the plan "changed"
        # The dialog is the screen as soon as it is pushed (from the run's thread), before its buttons are composed
        # and focused: wait for the focus, which on_mount gives to No.
        await until(
            pilot,
            lambda: isinstance(app.screen, ConfirmDialog) and app.focused is not None and app.focused.id == "no",
            "the plan-changed dialog",
        )
        question = str(app.screen.query_one(".dialog-body").render())
        assert f"{total} EUR/month" in question, (total, question)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmDialog), "the dialog to close")
        await settle(pilot)


async def test_deploy_focuses_continue_and_result_focuses_done(make_app, ssh_dir):
    from test_snapshots import plan_events

    from swarmwiz.flows.draft import to_spec
    from swarmwiz.tui.screens.deploy import DeployScreen

    pipeline = RecordedPipeline()
    app = make_app(pipeline=pipeline, start="none")
    async with app.run_test(size=SIZE) as pilot:
        _events, plan = plan_events()
        statuses: list = []
        app.push_screen(DeployScreen(to_spec(full_draft(ssh_dir)), plan), statuses.append)
        await until(
            pilot,
            lambda: app.screen.query("#continue") and not app.screen.query_one("#continue").disabled,
            "the run's end",
        )
        await pilot.pause()
        assert "The swarm is running" in text_of(app, "#outcome")
        assert app.focused is app.screen.query_one("#continue", Button)
        await pilot.press("enter")
        await pilot.pause()
        assert statuses and statuses[0] is not None
        app.push_screen(ResultScreen("demo", statuses[0]))
        await settle(pilot)
        assert app.focused is app.screen.query_one("#done", Button)


async def test_result_copies_the_highlighted_command(make_app):
    app = make_app(start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(ResultScreen("demo", cluster_status("demo")))
        await settle(pilot)
        access = app.screen.query_one("#access", OptionList)
        assert access.option_count >= 2
        access.focus()
        access.highlighted = 1
        await pilot.press("enter")
        await pilot.pause()
        assert app.clipboard == str(access.get_option_at_index(1).prompt)
        assert app.clipboard.startswith("docker context create swarmwiz-demo")


async def test_palette_opens_a_clusters_status_from_the_welcome_screen(make_app):
    ws = paths.clusters_dir() / "demo"
    ws.mkdir(parents=True)
    (ws / "cluster.toml").write_text('name = "demo"\n')
    (ws / "swarmwiz.json").write_text(json.dumps({"state": "deployed", "lab": True, "nodes": 5}))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"status of demo")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ResultScreen), "the status screen")
        await settle(pilot)
        assert "demo-manager-1" in text_of(app, "#health")


async def test_a_destroyed_cluster_is_listed_last_and_enter_says_why_no_status(make_app):
    """A workspace kept after its destroy used to sort among live clusters and Enter opened a status that must fail."""
    for name, state in (("alpha", "destroyed"), ("beta", "deployed")):
        ws = paths.clusters_dir() / name
        ws.mkdir(parents=True)
        (ws / "cluster.toml").write_text(f'name = "{name}"\n')
        (ws / "swarmwiz.json").write_text(json.dumps({"state": state, "lab": True, "nodes": 1}))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#clusters", DataTable)
        await until(pilot, lambda: table.row_count == 2, "the cluster list")
        assert [table.get_row_at(i)[0] for i in range(2)] == ["beta", "alpha"]
        welcome = app.screen
        await pilot.press("down", "enter")
        await settle(pilot)
        assert app.screen is welcome  # no status screen for a cluster without servers
        assert any("alpha was destroyed" in str(n.message) for n in app._notifications)
        await pilot.press("up", "enter")
        await until(pilot, lambda: isinstance(app.screen, ResultScreen), "the status screen of beta")


async def test_palette_offers_refresh_a_shell_and_tear_down_on_the_status_screen(make_app):
    from swarmwiz.tui.commands import WizardCommands

    app = make_app(start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(ResultScreen("demo", cluster_status("demo")))
        await settle(pilot)
        provider = WizardCommands(app.screen)
        provider.clusters = app.services.clusters() or []
        titles = [title for title, _help, _callback in provider.commands()]
        assert "Refresh the status of demo" in titles
        assert "Open a shell on demo-worker-2" in titles
        assert any(t.startswith("Copy: ssh ") for t in titles)
        # The shell is ssh with the cluster's pinned host keys, to the node chosen.
        screen = app.screen
        argv = screen._ssh_argv()
        assert argv[0] == "ssh" and argv[-1] == "root@198.51.100.10"


async def test_a_stop_of_the_teardown_says_stopped_not_an_error(make_app):
    from swarmwiz.core.errors import Interrupted

    class StoppingPipeline(RecordedPipeline):
        def destroy(self, confirm):
            yield from ()
            if not confirm(self.inventory()):
                return None
            raise Interrupted("stopped as asked, between two steps; run the teardown again to continue")

    app = make_app(pipeline=StoppingPipeline(), start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(TeardownScreen("demo"))
        await until(pilot, lambda: any(t.row_count == 4 for t in app.screen.query("#inventory")), "the inventory")
        app.screen.query_one("#typed", Input).value = "demo"
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, ErrorDialog)
        assert "Stopped safely" in text_of(app, "#outcome")
        assert app.focused is app.screen.query_one("#done", Button)


def _known_cluster(name: str, state: str = "deployed") -> None:
    ws = paths.clusters_dir() / name
    ws.mkdir(parents=True)
    (ws / "cluster.toml").write_text(f'name = "{name}"\n')
    (ws / "swarmwiz.json").write_text(json.dumps({"state": state, "lab": True, "nodes": 2}))


async def test_the_arrows_reach_tear_down_from_the_clusters_list(make_app):
    """With clusters known, the list has the focus; the arrow down past its last row reaches the buttons and
    left/right move between them, so Tear down needs no Tab and no letter."""
    _known_cluster("demo")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await until(pilot, lambda: app.screen.query_one("#clusters", DataTable).row_count == 1, "the clusters")
        assert app.focused is app.screen.query_one("#clusters", DataTable)
        await pilot.press("down")
        assert app.focused is app.screen.query_one("#new", Button)
        await pilot.press("right", "right")
        assert app.focused is app.screen.query_one("#teardown", Button)
        await pilot.press("left")
        assert app.focused is app.screen.query_one("#status", Button)
        await pilot.press("up")
        assert app.focused is app.screen.query_one("#clusters", DataTable)
        await pilot.press("down", "right", "right", "enter")
        await until(pilot, lambda: isinstance(app.screen, TeardownScreen), "the teardown screen")


async def test_a_status_that_cannot_be_read_leaves_with_one_enter(make_app):
    """The failure is shown on the status screen itself (with its run log), not in a dialog on top of it."""
    from swarmwiz.core.errors import InputError

    class NoNodes(RecordedPipeline):
        def read_status(self):
            raise InputError("cluster 'demo' has no nodes in its Terraform state")

    app = make_app(start="none")
    async with app.run_test(size=SIZE) as pilot:
        left: list = []
        app.push_screen(ResultScreen("demo", None, NoNodes()), left.append)
        await settle(pilot)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "has no nodes" in text_of(app, "#health")
        assert not isinstance(app.screen, ErrorDialog)
        assert app.focused is app.screen.query_one("#done", Button)
        await pilot.press("enter")
        await pilot.pause()
        assert left, "one Enter on Done leaves the status screen"


async def test_after_a_teardown_the_arrows_reach_the_forget_boxes(make_app):
    """The run ends on Done; up reaches "Forget the workspace" and space ticks it, with no Tab."""
    app = make_app(pipeline=RecordedPipeline(), start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(TeardownScreen("demo"))
        await until(pilot, lambda: any(t.row_count == 4 for t in app.screen.query("#inventory")), "the inventory")
        app.screen.query_one("#typed", Input).value = "demo"
        await pilot.press("enter")
        await until(pilot, lambda: not app.screen.query_one("#done", Button).disabled, "the run's end")
        await settle(pilot)
        assert app.focused is app.screen.query_one("#done", Button)
        await pilot.press("up", "up")
        box = app.screen.query_one("#forget-workspace")
        assert app.focused is box
        await pilot.press("space")
        assert box.value
        await pilot.press("down", "down")
        assert app.focused is app.screen.query_one("#done", Button)


async def test_enter_before_the_wildcard_look_waits_for_it(make_app, lab_api, ssh_dir):
    """Enter on the zone while the step still asks Cloudflare whether *.DOMAIN is free: the step waits for the
    answer and goes on with the suggested subdomain, instead of going on without it (the plan then failed on
    Review, naming the other cluster). The real lookup is held until Enter has been pressed."""
    import threading

    from test_subdomain import draft, put_wildcard

    from swarmwiz.core.credentials import credentials_from_env
    from swarmwiz.flows.draft import to_spec

    put_wildcard(lab_api, "swarmwiz:first:0123456789ab:manager-1")
    app = make_app(env=lab_api.env, start="none")
    entered = threading.Event()
    real = app.services.dns_records

    def held(*args, **kwargs):
        assert entered.wait(30), "Enter was never pressed"
        return real(*args, **kwargs)

    app.services.dns_records = held
    async with app.run_test(size=SIZE) as pilot:
        app.credentials = credentials_from_env(lab_api.raw)
        results: list = []
        app.push_screen(DomainScreen(draft(ssh_dir)), results.append)
        await until(pilot, lambda: any(not z.disabled for z in app.screen.query("#zones-list")), "the zones")
        await pilot.press("enter")
        await pilot.pause()
        assert not results, "went on before knowing whether *.example.com is free"
        entered.set()
        await until(pilot, lambda: bool(results), "the step to go on once the answer is in")
        assert to_spec(results[0]).dns_name == "second.example.com"


async def test_the_arrows_move_along_the_bottom_bar(make_app, ssh_dir):
    """Review's "Fix it and press Re-plan, or go back": Re-plan and Back are reached with the arrows, no Tab."""
    app = make_app(start="none")
    async with app.run_test(size=SIZE) as pilot:
        answers: list = []
        app.push_screen(ReviewScreen(full_draft(ssh_dir)), answers.append)
        await settle(pilot)
        # The plan's end reaches the screen as a message after its worker ended (later on a busy machine).
        await until(pilot, lambda: app.focused is app.screen.query_one("#deploy", Button), "Deploy to have the focus")
        await pilot.press("left")
        assert app.focused is app.screen.query_one("#replan", Button)
        await pilot.press("left", "left")  # stops at the first button
        assert app.focused is app.screen.query_one("#back", Button)
        await pilot.press("right")
        assert app.focused is app.screen.query_one("#replan", Button)
        await pilot.press("left", "enter")
        await pilot.pause()
        assert answers and repr(answers[0]) == "BACK"
