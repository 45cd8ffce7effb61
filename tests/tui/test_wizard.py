"""Pilot tests of the wizard: each step's validation, moving back and forth, errors shown, deploy and teardown
driven by recorded pipeline runs, and credential checks against the lab API (a real HTTP server)."""

from __future__ import annotations

import json

from recorded import RecordedPipeline
from textual.widgets import Button, DataTable, Input, Log, OptionList, Static

from swarmwiz.core import paths
from swarmwiz.core.errors import RemoteError
from swarmwiz.core.events import Phase
from swarmwiz.flows.draft import Draft
from swarmwiz.tui.dialogs.confirm import ConfirmDialog
from swarmwiz.tui.dialogs.error import ErrorDialog
from swarmwiz.tui.screens.counts import CountsScreen, quorum_text
from swarmwiz.tui.screens.credentials import CredentialsScreen
from swarmwiz.tui.screens.deploy import DeployScreen
from swarmwiz.tui.screens.domain import DomainScreen
from swarmwiz.tui.screens.place import PlaceScreen
from swarmwiz.tui.screens.result import ResultScreen
from swarmwiz.tui.screens.review import ReviewScreen
from swarmwiz.tui.screens.ssh import SshScreen
from swarmwiz.tui.screens.teardown import TeardownScreen
from swarmwiz.tui.screens.types import TypesScreen
from swarmwiz.tui.screens.welcome import WelcomeScreen

SIZE = (80, 24)


def text_of(app, selector: str) -> str:
    """The text of a Static on the topmost screen that has it (a dialog may be on top)."""
    for screen in reversed(app.screen_stack):
        found = screen.query(selector)
        if found:
            return str(found.first(Static).render())
    raise AssertionError(f"no {selector} on any screen")


WAITING_ON_THE_USER = {"flow", "confirm deploy", "confirm force"}


async def settle(pilot, timeout: float = 60) -> None:
    """Wait until every worker that does work (not the flow, not a dialog waiting for an answer) has ended."""
    import time

    deadline = time.monotonic() + timeout
    while any(w.name not in WAITING_ON_THE_USER and not w.is_finished for w in pilot.app.workers):
        assert time.monotonic() < deadline, f"workers still running: {list(pilot.app.workers)}"
        await pilot.pause(0.02)
    await pilot.pause()


async def push(pilot, selector: str) -> None:
    """Press a button the keyboard way: focus it, then Enter."""
    await pilot.pause()  # let a screen that just opened finish mounting (it may move the focus)
    button = pilot.app.screen.query_one(selector, Button)
    while button.has_class("-active"):  # a button ignores presses while it shows the previous one
        await pilot.pause(0.05)
    button.focus()
    await pilot.press("enter")


def known_cluster(name: str = "demo", lab: bool = True) -> None:
    ws = paths.clusters_dir() / name
    ws.mkdir(parents=True)
    (ws / "cluster.toml").write_text(f'name = "{name}"\n')
    (ws / "swarmwiz.json").write_text(json.dumps({"state": "deployed", "lab": lab, "nodes": 5}))


async def test_welcome_lists_known_clusters_and_starts_a_new_one(make_app):
    known_cluster("demo")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, WelcomeScreen)
        table = app.screen.query_one("#clusters", DataTable)
        assert table.row_count == 1
        assert table.get_row_at(0)[:3] == ["demo", "deployed", "lab"]
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, CredentialsScreen)
        await pilot.press("escape")  # back from the first step returns to the welcome screen
        await settle(pilot)
        assert isinstance(app.screen, WelcomeScreen)


async def test_welcome_without_clusters_says_so(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "None yet" in text_of(app, "#empty")
        assert app.screen.query_one("#teardown", Button).disabled


async def test_credentials_check_says_which_credential_failed(make_app, lab_api, keyring_backend):
    app = make_app(env=lab_api.env, start="none")
    async with app.run_test(size=SIZE) as pilot:
        answers: list = []
        await app.push_screen(CredentialsScreen(Draft()), answers.append)
        await settle(pilot)
        screen = app.screen
        raw = dict(lab_api.raw)
        values = {
            "scw_access_key": raw["SCW_ACCESS_KEY"],
            "scw_secret_key": "0" * 8 + "-0000-4000-8000-" + "0" * 12,
            "scw_project_id": raw["SCW_DEFAULT_PROJECT_ID"],
            "cloudflare_token": raw["CLOUDFLARE_API_TOKEN"],
        }
        for attr, value in values.items():
            screen.query_one(f"#{attr}", Input).value = value
        assert screen.query_one("#scw_secret_key", Input).password  # masked
        await push(pilot, "#check")
        await settle(pilot)
        secret_line = text_of(app, "#scw_secret_key-result")
        assert "✗" in secret_line and "secret key" in secret_line.lower()
        assert "✓" in text_of(app, "#cloudflare_token-result")
        assert values["scw_secret_key"] not in secret_line
        # Now the right secret: every check passes and Next stores all four in the keyring.
        screen.query_one("#scw_secret_key", Input).value = raw["SCW_SECRET_KEY"]
        await push(pilot, "#check")
        await settle(pilot)
        assert all("✓" in text_of(app, f"#{a}-result") for a in values)
        await push(pilot, "#next")
        await settle(pilot)
        assert not isinstance(app.screen, CredentialsScreen)
        assert len(keyring_backend.entries) == 4
        assert answers[0].value("scw_secret_key") == raw["SCW_SECRET_KEY"]  # the step answers with them


async def test_credentials_next_refuses_malformed_values(make_app):
    app = make_app(start="none")
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(CredentialsScreen(Draft()))
        await settle(pilot)
        app.screen.query_one("#scw_access_key", Input).value = "not-a-key"
        await push(pilot, "#next")
        await settle(pilot)
        assert isinstance(app.screen, CredentialsScreen)
        assert "malformed" in text_of(app, "#scw_access_key-result")
        assert "missing" in text_of(app, "#scw_secret_key-result")


async def test_place_validates_name_and_zones(make_app):
    app = make_app(start="none")
    async with app.run_test(size=SIZE) as pilot:
        results = []
        app.push_screen(PlaceScreen(Draft()), results.append)
        await settle(pilot)
        app.screen.query_one("#name", Input).value = "Bad Name"
        await push(pilot, "#next")
        await pilot.pause()
        assert "name:" in text_of(app, "#problems") and not results
        app.screen.query_one("#name", Input).value = "demo"
        zones = app.screen.query_one("#zones")
        zones.deselect_all()
        await push(pilot, "#next")
        await pilot.pause()
        assert "zones:" in text_of(app, "#problems") and not results
        zones.select("fr-par-2")
        zones.select("fr-par-1")
        await push(pilot, "#next")
        await pilot.pause()
        assert results and results[0].name == "demo" and set(results[0].zones) == {"fr-par-1", "fr-par-2"}


async def test_types_table_picks_managers_and_workers_separately(make_app):
    app = make_app(start="none")
    async with app.run_test(size=SIZE) as pilot:
        results = []
        app.push_screen(TypesScreen(Draft(zones=("fr-par-1", "fr-par-2"))), results.append)
        await settle(pilot)
        assert "bundled snapshot of" in text_of(app, "#source")  # no credentials: the bundled catalogue, dated
        table = app.screen.query_one("#types-table", DataTable)
        assert table.row_count > 5
        table.move_cursor(row=table.get_row_index("DEV1-M"))
        await pilot.press("w")
        assert app.screen.draft.worker_type == "DEV1-M" and app.screen.draft.manager_type == "DEV1-S"
        assert table.get_cell("DEV1-M", "use") == "W"
        await push(pilot, "#next")
        await pilot.pause()
        assert results[0].worker_type == "DEV1-M"


async def test_counts_explain_quorum_and_reject_bad_worker_counts(make_app):
    assert "keeps working if 1 of them fails" in quorum_text(3)
    assert "2 of them fail" in quorum_text(5)
    app = make_app(start="none")
    async with app.run_test(size=SIZE) as pilot:
        results = []
        app.push_screen(CountsScreen(Draft()), results.append)
        await settle(pilot)
        assert "EUR/month" in text_of(app, "#cost")
        await pilot.press("right", "enter")  # managers: 3 -> 5 (the highlight starts on the chosen 3)
        await pilot.pause()
        assert "5 managers" in text_of(app, "#quorum")
        app.screen.query_one("#workers", Input).value = "101"
        await push(pilot, "#next")
        await pilot.pause()
        assert "workers.count" in text_of(app, "#problems") and not results
        app.screen.query_one("#workers", Input).value = "4"
        await push(pilot, "#next")
        await pilot.pause()
        assert (results[0].managers, results[0].workers) == (5, 4)


async def test_domain_lists_cloudflare_zones_and_shows_records(make_app, lab_api):
    from swarmwiz.core.credentials import credentials_from_env

    app = make_app(env=lab_api.env, start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.credentials = credentials_from_env(lab_api.raw)
        results = []
        app.push_screen(DomainScreen(Draft(managers=3)), results.append)
        await settle(pilot)
        assert app.screen.query_one("#domain", Input).value == "example.com"
        records = text_of(app, "#records")
        assert records.count("*.example.com") == 3
        app.screen.query_one("#apex").value = True
        await pilot.pause()
        assert text_of(app, "#records").count("example.com ") >= 3
        await push(pilot, "#next")
        await pilot.pause()
        assert results[0].domain == "example.com" and results[0].apex


async def test_domain_listing_failure_is_shown_and_typing_works(make_app):
    from swarmwiz.core.credentials import Credentials

    # Nothing listens on this port: the zone listing fails; the screen says so and a notification names the API
    # (no dialog in the way: the listing is a convenience), and the focus is in the field to type the domain.
    app = make_app(env={"CLOUDFLARE_BASE_URL": "http://127.0.0.1:9/client/v4"}, start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.credentials = Credentials(cloudflare_token="x" * 40)
        results = []
        app.push_screen(DomainScreen(Draft()), results.append)
        await settle(pilot)
        assert isinstance(app.screen, DomainScreen)
        zones = app.screen.query_one("#zones-list", OptionList)
        for _ in range(1500):  # the API layer retries a refused connection (bounded: a few seconds) before failing
            if "Loading" not in str(zones.get_option_at_index(0).prompt):
                break
            await pilot.pause(0.02)
        await settle(pilot)
        assert "Could not list zones" in str(
            app.screen.query_one("#zones-list", OptionList).get_option_at_index(0).prompt
        )
        assert any("Cloudflare" in str(n.message) or "Cloudflare" in str(n.title) for n in app._notifications)
        assert app.focused is app.screen.query_one("#domain", Input)
        app.screen.query_one("#domain", Input).value = "example.org"
        await push(pilot, "#next")
        await pilot.pause()
        assert results[0].domain == "example.org"


async def test_ssh_lists_keys_generates_one_and_checks_cidrs(make_app, ssh_dir):
    app = make_app(start="none")
    async with app.run_test(size=SIZE) as pilot:
        results = []
        app.push_screen(SshScreen(Draft()), results.append)
        await settle(pilot)
        assert app.screen.chosen == str(ssh_dir / "id_ed25519.pub")
        await push(pilot, "#generate")
        await settle(pilot)
        assert (ssh_dir / "swarmwiz_ed25519").is_file() and (ssh_dir / "swarmwiz_ed25519.pub").is_file()
        assert oct((ssh_dir / "swarmwiz_ed25519").stat().st_mode & 0o777) == "0o600"
        assert app.screen.chosen == str(ssh_dir / "swarmwiz_ed25519.pub")
        app.screen.query_one("#cidrs", Input).value = "10.0.0.1/8"
        await push(pilot, "#next")
        await pilot.pause()
        assert "ssh.allowed_cidrs" in text_of(app, "#problems") and not results
        app.screen.query_one("#cidrs", Input).value = "203.0.113.0/24, 198.51.100.7/32"
        await push(pilot, "#next")
        await pilot.pause()
        assert results, text_of(app, "#problems")
        assert results[0].allowed_cidrs == ("203.0.113.0/24", "198.51.100.7/32")


def full_draft(ssh_dir) -> Draft:
    return Draft(
        name="demo",
        zones=("fr-par-1", "fr-par-2"),
        manager_type="DEV1-S",
        worker_type="DEV1-M",
        managers=3,
        workers=2,
        domain="example.com",
        public_key=str(ssh_dir / "id_ed25519.pub"),
    )


async def test_review_shows_cost_and_plan_and_deploy_needs_confirmation(make_app, ssh_dir):
    app = make_app(start="none")
    async with app.run_test(size=SIZE) as pilot:
        results = []
        app.push_screen(ReviewScreen(full_draft(ssh_dir)), results.append)
        await settle(pilot)
        assert "3 x DEV1-S" in text_of(app, "#summary")
        assert "3 to add, 0 to change, 0 to destroy" in text_of(app, "#plan")
        cost = app.screen.query_one("#cost", DataTable)
        assert cost.get_row_at(cost.row_count - 1)[0] == "total (excl. VAT)"
        await push(pilot, "#deploy")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("enter")  # the focused button is No: Enter alone never deploys
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen) and not results
        await push(pilot, "#deploy")
        await pilot.pause()
        await push(pilot, "#yes")
        await pilot.pause()
        spec, plan = results[0]  # a spec and the plan confirmed, not a live pipeline
        assert spec.name == "demo" and plan.add == 3


async def test_whole_flow_back_and_forth_then_deploy_and_result(make_app, lab_api, ssh_dir):
    pipeline = RecordedPipeline()
    app = make_app(env=lab_api.env, pipeline=pipeline)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        for attr, env in (
            ("scw_access_key", "SCW_ACCESS_KEY"),
            ("scw_secret_key", "SCW_SECRET_KEY"),
            ("scw_project_id", "SCW_DEFAULT_PROJECT_ID"),
            ("cloudflare_token", "CLOUDFLARE_API_TOKEN"),
        ):
            app.screen.query_one(f"#{attr}", Input).value = lab_api.raw[env]
        await push(pilot, "#next")
        await settle(pilot)
        assert isinstance(app.screen, PlaceScreen)
        app.screen.query_one("#name", Input).value = "flow"
        await push(pilot, "#next")
        await settle(pilot)
        assert isinstance(app.screen, TypesScreen)
        assert "live" in text_of(app, "#source")  # credentials allow the live catalogue (from the lab API)
        await pilot.press("escape")  # back: the name typed before is still there
        await settle(pilot)
        assert isinstance(app.screen, PlaceScreen) and app.screen.query_one("#name", Input).value == "flow"
        await push(pilot, "#next")
        await settle(pilot)
        await push(pilot, "#next")  # types: the defaults
        await settle(pilot)
        assert isinstance(app.screen, CountsScreen)
        await push(pilot, "#next")
        await settle(pilot)
        assert isinstance(app.screen, DomainScreen)
        await push(pilot, "#next")
        await settle(pilot)
        assert isinstance(app.screen, SshScreen)
        await push(pilot, "#next")
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen)
        assert "flow" in text_of(app, "#summary")
        await push(pilot, "#deploy")
        await pilot.pause()
        await push(pilot, "#yes")
        await settle(pilot)
        assert isinstance(app.screen, DeployScreen)
        await settle(pilot)
        assert "The swarm is running" in text_of(app, "#outcome")
        assert len(pipeline.confirmed) == 1  # the reviewed plan was applied without asking twice
        log = app.screen.query_one(Log)
        assert any("Apply complete" in line for line in log.lines)
        await push(pilot, "#continue")
        # Right after a deploy the result screen asks for the SSH config's Include line (a yes/no dialog).
        from swarmwiz.flows import ssh_config

        for _ in range(200):
            if isinstance(app.screen, ConfirmDialog):
                break
            await pilot.pause(0.05)
        assert "Include" in app.screen.question and "flow-manager-1" in app.screen.question
        await push(pilot, "#yes")
        await settle(pilot)
        assert isinstance(app.screen, ResultScreen)
        config = pipeline.workspace.path / "ssh_config"
        assert "Host flow-manager-1" in config.read_text()
        assert f"Include {config}" in ssh_config.user_config_path().read_text()
        assert "flow-manager-1" in text_of(app, "#access-said")
        assert "flow-manager-1" in text_of(app, "#health")
        access = app.screen.query_one("#access", OptionList)
        commands = [str(access.get_option_at_index(i).prompt) for i in range(access.option_count)]
        assert any("docker context create swarmwiz-flow" in c for c in commands)
        await push(pilot, "#done")
        await settle(pilot)
        assert isinstance(app.screen, WelcomeScreen)


async def test_deploy_stops_safely_on_ctrl_c(make_app, ssh_dir):
    from swarmwiz.flows.draft import to_spec

    pipeline = RecordedPipeline(gate_after=6)
    app = make_app(pipeline=pipeline, start="none")
    async with app.run_test(size=SIZE) as pilot:
        spec = to_spec(full_draft(ssh_dir))
        app.push_screen(DeployScreen(spec, None, pipeline))
        # The plan differs from "nothing reviewed": the screen asks before applying.
        for _ in range(100):
            await pilot.pause(0.02)
            if isinstance(app.screen, ConfirmDialog):
                break
        assert isinstance(app.screen, ConfirmDialog)
        await push(pilot, "#yes")
        for _ in range(200):
            await pilot.pause(0.02)
            if pipeline.paused.is_set():
                break
        assert pipeline.paused.is_set(), (pipeline.confirmed, text_of(app, "#outcome"))
        assert app.running is pipeline
        await pilot.press("ctrl+c")
        await settle(pilot)
        assert pipeline.cancelled.is_set() and not pipeline.forced
        # A stop the user asked for is not an error: no dialog, the screen says it stopped.
        assert isinstance(app.screen, DeployScreen), app.screen
        assert "Stopped safely" in text_of(app, "#outcome")
        assert "■" in str(app.screen.query_one("#phases", Static).render())  # the checklist marks the phase stopped
        assert app.running is None
        assert not app.screen.query_one("#continue", Button).disabled
        assert app.focused is app.screen.query_one("#continue", Button)  # the next step is one Enter away


async def test_quit_asks_first_while_a_deploy_runs(make_app, ssh_dir):
    from swarmwiz.flows.draft import to_spec

    pipeline = RecordedPipeline(gate_after=3)
    app = make_app(pipeline=pipeline, start="none")
    async with app.run_test(size=SIZE) as pilot:
        spec = to_spec(full_draft(ssh_dir))
        _events, plan = __import__("recorded").plan_events()
        app.push_screen(DeployScreen(spec, plan, pipeline))
        for _ in range(200):
            await pilot.pause(0.02)
            if pipeline.paused.is_set():
                break
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await push(pilot, "#no")
        await pilot.pause()
        assert isinstance(app.screen, DeployScreen) and not pipeline.cancelled.is_set()
        await pilot.press("ctrl+q")
        await pilot.pause()
        await push(pilot, "#yes")
        await settle(pilot)
        assert pipeline.cancelled.is_set()
        assert app.return_code == 130


async def test_deploy_failure_is_routed_to_one_dialog_and_shown(make_app, ssh_dir):
    from swarmwiz.flows.draft import to_spec

    pipeline = RecordedPipeline(
        fail_with=RemoteError(
            "manager-1 (198.51.100.10) did not answer on port 22 within 300 s", title="SSH unreachable"
        )
    )
    app = make_app(pipeline=pipeline, start="none")
    async with app.run_test(size=SIZE) as pilot:
        spec = to_spec(full_draft(ssh_dir))
        _events, plan = __import__("recorded").plan_events()
        app.push_screen(DeployScreen(spec, plan, pipeline))
        await settle(pilot)
        assert isinstance(app.screen, ErrorDialog) and app.screen.title_text == "SSH unreachable"
        await pilot.press("escape")
        await pilot.pause()
        assert "The deploy failed" in text_of(app, "#outcome")
        assert "did not answer on port 22" in text_of(app, "#outcome")


async def test_deploy_failure_reads_as_the_command_line_says_it(make_app, ssh_dir):
    """A full disk during a deploy: the dialog and the outcome line use the shared words (`flows.errors.describe`,
    which the command line prints), not a frontend's own "Unexpected error: OSError"."""
    import errno

    from swarmwiz.flows.draft import to_spec
    from swarmwiz.flows.errors import describe

    full = OSError(errno.ENOSPC, "No space left on device", "/tmp/swarmwiz-home/demo/terraform.tfstate")
    pipeline = RecordedPipeline(fail_with=full)
    app = make_app(pipeline=pipeline, start="none")
    async with app.run_test(size=SIZE) as pilot:
        spec = to_spec(full_draft(ssh_dir))
        _events, plan = __import__("recorded").plan_events()
        app.push_screen(DeployScreen(spec, plan, pipeline))
        await settle(pilot)
        said = describe(full)
        assert isinstance(app.screen, ErrorDialog)
        assert (app.screen.title_text, app.screen.lines) == (said.title, said.lines) == ("File error", said.lines)
        assert "terraform.tfstate: No space left on device; free some disk space" in app.screen.lines[0]
        await pilot.press("escape")
        await pilot.pause()
        assert "free some disk space" in text_of(app, "#outcome")
        assert "OSError" not in text_of(app, "#outcome")


async def test_result_shows_leader_quorum_and_refreshes(make_app):
    app = make_app(start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(ResultScreen("demo"))
        await settle(pilot)
        health = text_of(app, "#health")
        assert "Leader: demo-manager-1" in health and "OK, 3/3 managers reachable" in health
        nodes = app.screen.query_one("#nodes", DataTable)
        assert nodes.row_count == 5
        assert app.screen.query_one("#dns", DataTable).row_count == 3
        await pilot.press("r")
        await settle(pilot)
        assert nodes.row_count == 5


async def test_teardown_needs_the_typed_name_then_shows_nothing_remains(make_app):
    known_cluster("demo")
    app = make_app(start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(TeardownScreen("demo"))
        for _ in range(100):  # the destroy run waits for the typed name: no settling here
            await pilot.pause(0.02)
            if app.screen.query_one("#inventory", DataTable).row_count:
                break
            await pilot.pause(0.02)
        assert app.screen.query_one("#inventory", DataTable).row_count == 4
        typed = app.screen.query_one("#typed", Input)
        typed.value = "dem"
        await pilot.pause()
        assert app.screen.query_one("#destroy", Button).disabled
        typed.value = "demo"
        await pilot.pause()
        await push(pilot, "#destroy")
        await settle(pilot)
        assert "Nothing remains of demo" in text_of(app, "#outcome")
        lines = [text for _phase, text in app.screen.query_one("#run").lines]  # the log pane says what was asked
        assert any(line.startswith("!! Asked: destroy 4 things of cluster demo: ") for line in lines), lines
        assert "!! Answer: destroy." in lines
        app.screen.query_one("#forget-workspace").value = True
        await push(pilot, "#done")
        await settle(pilot)
        assert not (paths.clusters_dir() / "demo").exists()


async def test_teardown_cancel_destroys_nothing(make_app):
    known_cluster("demo")
    pipeline = RecordedPipeline()
    app = make_app(pipeline=pipeline, start="none")
    async with app.run_test(size=SIZE) as pilot:
        results = []
        app.push_screen(TeardownScreen("demo"), results.append)
        for _ in range(100):
            await pilot.pause(0.02)
            if app.screen.query_one("#inventory", DataTable).row_count:
                break
        await pilot.press("escape")
        await settle(pilot)
        assert results == [None]
        assert (paths.clusters_dir() / "demo").exists()


async def test_teardown_question_left_unanswered_destroys_nothing(make_app):
    """The typed-name question waits a bounded time: then nothing is destroyed, the screen stays and says why, the
    log pane and the run log have the question and what became of it, and a late Destroy changes nothing."""
    from swarmwiz.tui.bridge import answer_with

    known_cluster("demo")
    pipeline = RecordedPipeline()
    app = make_app(pipeline=pipeline, start="none")
    async with app.run_test(size=SIZE) as pilot:
        screen = TeardownScreen("demo", question_timeout=0.5)
        app.push_screen(screen)
        for _ in range(500):  # the question times out after 0.5 s and the run ends
            await pilot.pause(0.02)
            if screen.unanswered and not screen.running:
                break
        await pilot.pause()
        assert app.screen is screen and screen.report is None
        assert "Nothing was destroyed: No answer within 0.5 seconds: taken as destroy nothing." in text_of(
            app, "#outcome"
        )
        assert screen.query_one("#typed", Input).disabled and screen.query_one("#destroy", Button).disabled
        assert not answer_with(screen.answer, True)  # a Destroy after the question was withdrawn changes nothing
        lines = [text for _phase, text in screen.query_one("#run").lines]
        assert any(line.startswith("!! Asked: destroy 4 things of cluster demo: ") for line in lines), lines
        assert "!! No answer within 0.5 seconds: taken as destroy nothing." in lines
        run_log = sorted((paths.clusters_dir() / "demo" / "runs").glob("*-destroy.log"))[-1].read_text()
        assert "No answer within 0.5 seconds: taken as destroy nothing." in run_log
        assert not any(line.startswith(f"== {Phase.DESTROY.label}") for line in lines)  # the destroy never began
        await push(pilot, "#done")
        await settle(pilot)
        assert app.screen is not screen
        assert (paths.clusters_dir() / "demo").exists()


async def test_quitting_while_the_teardown_asks_destroys_nothing_and_quits(make_app):
    known_cluster("demo")
    app = make_app(pipeline=RecordedPipeline(), start="none")
    async with app.run_test(size=SIZE) as pilot:
        screen = TeardownScreen("demo")  # the question would wait 10 minutes: the quit must not wait for it
        app.push_screen(screen)
        for _ in range(100):
            await pilot.pause(0.02)
            if screen.query_one("#inventory", DataTable).row_count:
                break
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await push(pilot, "#yes")
        for _ in range(500):
            await pilot.pause(0.02)
            if app.return_code is not None:
                break
        assert app.return_code == 130
        assert (paths.clusters_dir() / "demo").exists()
        run_log = sorted((paths.clusters_dir() / "demo" / "runs").glob("*-destroy.log"))[-1].read_text()
        assert "Not answered, the teardown is stopping: taken as destroy nothing." in run_log


async def test_f1_explains_the_current_step(make_app):
    from swarmwiz.tui.screens.help import HelpScreen

    app = make_app(start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(CountsScreen(Draft()))
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "majority vote" in " ".join(str(s.render()) for s in app.screen.query(Static))
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, CountsScreen)
