"""The wizard's optional subdomain (dns.subdomain): the Domain step previews the records under it and refuses a bad
one with the spec's sentence, Review shows it, and plain mode asks for it; zones come from the lab's Cloudflare API."""

from __future__ import annotations

import contextlib
import io

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from test_plain_address import ask_access
from test_wizard import SIZE, settle, text_of
from textual.widgets import Input

from swarmwiz.cli import plain
from swarmwiz.cli.output import Output
from swarmwiz.core.credentials import credentials_from_env
from swarmwiz.flows.draft import Draft, to_spec
from swarmwiz.flows.services import Services
from swarmwiz.tui.screens.domain import DomainScreen
from swarmwiz.tui.screens.review import ReviewScreen

BAD = "'Demo!' is not allowed; use DNS labels of lowercase letters, digits and '-' joined by dots"


def draft(ssh_dir) -> Draft:
    return Draft(name="second", managers=3, public_key=str(ssh_dir / "id_ed25519.pub"))


@contextlib.asynccontextmanager
async def domain_step(make_app, api, chosen: Draft):
    """The wizard's Domain step for `chosen` over the zones of the lab `api`, its first answers settled.

    Yields (app, pilot, the drafts the step was dismissed with)."""
    app = make_app(env=api.env, start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.credentials = credentials_from_env(api.raw)
        results: list = []
        app.push_screen(DomainScreen(chosen), results.append)
        await settle(pilot)
        yield app, pilot, results


async def type_into(pilot, selector: str, text: str) -> None:
    """Focus the field, empty it, and type `text` key by key, as a user would."""
    field = pilot.app.screen.query_one(selector, Input)
    field.focus()
    field.value = ""
    await pilot.press(*text)
    await pilot.pause()


async def test_a_subdomain_is_previewed_carried_into_the_spec_and_reviewed(make_app, lab_api, ssh_dir):
    async with domain_step(make_app, lab_api, draft(ssh_dir)) as (app, pilot, results):
        assert app.screen.query_one("#domain", Input).value == "example.com"
        assert text_of(app, "#records").count("*.example.com ") == 3
        await type_into(pilot, "#subdomain", "demo")
        records = text_of(app, "#records").splitlines()
        assert len(records) == 3 and all(r.startswith("*.demo.example.com ") for r in records), records
        await pilot.press("enter")  # Enter in the subdomain field: check the step and go on
        await pilot.pause()
        assert results, text_of(app, "#subdomain-problem")
        chosen = results[0]
        assert chosen.subdomain == "demo" and chosen.to_dict()["dns"]["subdomain"] == "demo"
        spec = to_spec(chosen)
        assert (spec.subdomain, spec.dns_name) == ("demo", "demo.example.com")

        app.push_screen(ReviewScreen(chosen))
        await settle(pilot)
        assert "*.demo.example.com -> the managers" in text_of(app, "#summary")


async def test_no_subdomain_leaves_it_out_of_the_spec_data(make_app, lab_api, ssh_dir):
    async with domain_step(make_app, lab_api, draft(ssh_dir)) as (app, pilot, results):
        assert app.screen.query_one("#subdomain", Input).placeholder == "none: *.example.com"
        await type_into(pilot, "#subdomain", "  ")  # blanks only: no subdomain
        await pilot.press("enter")
        await pilot.pause()
        assert results and results[0].subdomain == ""
        assert "subdomain" not in results[0].to_dict()["dns"]


async def test_a_bad_subdomain_is_refused_under_its_field(make_app, lab_api, ssh_dir):
    async with domain_step(make_app, lab_api, draft(ssh_dir)) as (app, pilot, results):
        await type_into(pilot, "#subdomain", "Demo!")
        await pilot.press("enter")
        await pilot.pause()
        assert not results and isinstance(app.screen, DomainScreen)
        said = text_of(app, "#subdomain-problem")
        assert said.startswith("dns.subdomain: " + BAD), said
        assert app.focused is app.screen.query_one("#subdomain", Input)
        assert text_of(app, "#problems") == ""  # the domain itself is fine: nothing said about it
        await type_into(pilot, "#subdomain", "demo")
        await pilot.press("enter")
        await pilot.pause()
        assert results and results[0].subdomain == "demo"


def put_wildcard(lab_api, comment: str) -> None:
    """A record at *.example.com in the lab's Cloudflare zone, through its API, as another cluster leaves it."""
    import httpx

    base = lab_api.env["CLOUDFLARE_BASE_URL"]
    headers = {"Authorization": f"Bearer {lab_api.raw['CLOUDFLARE_API_TOKEN']}"}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
        zone = http.get("/zones", params={"name": "example.com"}).json()["result"][0]["id"]
        body = {"type": "A", "name": "*.example.com", "content": "192.0.2.7", "ttl": 60, "comment": comment}
        http.post(f"/zones/{zone}/dns_records", json=body).raise_for_status()


async def test_a_wildcard_of_another_cluster_suggests_the_clusters_name(make_app, lab_api, ssh_dir):
    put_wildcard(lab_api, "swarmwiz:first:0123456789ab:manager-1")
    async with domain_step(make_app, lab_api, draft(ssh_dir)) as (app, pilot, results):
        await settle(pilot)  # the zones, then the look at the zone's records they started
        assert app.screen.query_one("#subdomain", Input).value == "second"
        assert "*.example.com is already taken by swarmwiz cluster 'first', so" in text_of(app, "#subdomain-note")
        assert text_of(app, "#records").count("*.second.example.com ") == 3
        await pilot.press("enter")  # Enter on the zone: the step is complete with the suggestion
        await pilot.pause()
        assert results and to_spec(results[0]).dns_name == "second.example.com"


async def test_a_subdomain_the_user_chose_is_kept(make_app, lab_api, ssh_dir):
    put_wildcard(lab_api, "made by hand")
    chosen = draft(ssh_dir).update(domain="example.com", subdomain="apps")
    async with domain_step(make_app, lab_api, chosen) as (app, pilot, _):
        await settle(pilot)
        assert app.screen.query_one("#subdomain", Input).value == "apps"
        assert "*.example.com is already taken by an A record to 192.0.2.7, so" in text_of(app, "#subdomain-note")


@pytest.fixture
def two_zones(tmp_path, monkeypatch):
    """The lab's API with two zones, example.com and example.org."""
    from conftest import LabApi
    from support import api_only_lab

    monkeypatch.setenv("SWARMWIZ_LAB_ZONES", "example.com,example.org")
    with api_only_lab(tmp_path / "lab") as (url, raw):
        yield LabApi(url, raw)


async def test_the_suggestion_goes_when_the_other_zone_is_free(make_app, two_zones, ssh_dir):
    put_wildcard(two_zones, "swarmwiz:first:0123456789ab:manager-1")
    async with domain_step(make_app, two_zones, draft(ssh_dir)) as (app, pilot, _):
        await settle(pilot)
        subdomain = app.screen.query_one("#subdomain", Input)
        assert subdomain.value == "second"
        await pilot.press("down")  # example.org: nobody has *.example.org
        await settle(pilot)
        assert app.screen.query_one("#domain", Input).value == "example.org"
        assert subdomain.value == "" and not app.screen.query_one("#subdomain-note").display
        assert text_of(app, "#records").count("*.example.org ") == 3
        await pilot.press("up")  # back to example.com: suggested again
        await settle(pilot)
        assert subdomain.value == "second" and app.screen.query_one("#subdomain-note").display


@pytest.fixture
def services(lab_api, ssh_dir, keyring_backend):
    return Services(env={**lab_api.env, **lab_api.raw}, ssh_dir=ssh_dir, keyring_backend=keyring_backend)


def test_plain_mode_asks_for_a_subdomain(services):
    # Enter on the zone; the subdomain "demo"; Enter on: apex (No), the key, the addresses as offered.
    answers, _ = ask_access(services, "\rdemo\r\r\r\r")
    assert answers["domain"] == "example.com" and answers["subdomain"] == "demo"
    assert Draft(**answers).to_dict()["dns"] == {"domain": "example.com", "apex": False, "subdomain": "demo"}


def test_plain_mode_offers_the_clusters_name_when_the_wildcard_is_taken(services, lab_api):
    put_wildcard(lab_api, "swarmwiz:first:0123456789ab:manager-1")
    printed = io.StringIO()
    creds = credentials_from_env(services.target.environment())
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        pipe.send_text("\r\r\r\r\r")  # Enter on: the zone, the subdomain offered, apex (No), the key, the addresses
        answers = plain._ask_domain_and_access(services, Output(printed, live=False), creds, None, name="second")
    assert answers["subdomain"] == "second"
    assert (
        "*.example.com is already taken by swarmwiz cluster 'first', so this cluster needs a subdomain of its own; "
        "its name is offered, for *.second.example.com." in printed.getvalue()
    )


def test_plain_mode_refuses_a_bad_subdomain_with_the_specs_sentence():
    assert plain.subdomain_problem("example.com", "Demo!").startswith("dns.subdomain: " + BAD)
    assert plain.subdomain_problem("example.com", "apps.eu") is None
    assert plain.subdomain_problem("example.com", "") is None
    # The question itself: the refused answer is not taken, the question stays until an allowed one is given.
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        pipe.send_text("Demo!\r" + "\x7f" * 5 + "apps.eu\r")
        assert plain._ask_subdomain("example.com") == "apps.eu"
