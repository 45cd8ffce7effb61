"""The SSH step suggests this machine's public address (found through the lab's Cloudflare trace) instead of
0.0.0.0/0, never replaces what the user typed, and warns while the range is the whole internet."""

from __future__ import annotations

from test_wizard import SIZE, settle, text_of
from textual.widgets import Input

from swarmwiz.flows.draft import Draft
from swarmwiz.tui.screens.ssh import SshScreen

WARNING = "the whole internet can try to log in"


async def test_prefilled_with_this_machines_address_and_warns_for_the_whole_internet(make_app, lab_api, ssh_dir):
    app = make_app(env=lab_api.env, start="none")
    async with app.run_test(size=SIZE) as pilot:
        answers: list = []
        app.push_screen(SshScreen(Draft(name="demo", domain="example.com")), answers.append)
        await settle(pilot)
        field = app.screen.query_one("#cidrs", Input)
        assert field.value == "127.0.0.1/32"  # the lab's Cloudflare saw this test connect from loopback
        assert "127.0.0.1/32" in text_of(app, "#address")
        assert text_of(app, "#whole-internet") == ""
        # Typed back to the whole internet: the warning shows at once, and names the address found.
        field.focus()
        field.value = ""
        await pilot.press(*"0.0.0.0/0")
        assert WARNING in text_of(app, "#whole-internet") and "127.0.0.1/32" in text_of(app, "#whole-internet")
        await pilot.press(*", ::/0")
        assert "0.0.0.0/0, ::/0" in text_of(app, "#whole-internet")
        field.value = "127.0.0.1/32, 2001:db8::/32"
        await pilot.pause()
        assert text_of(app, "#whole-internet") == ""
        await pilot.press("enter")
        await pilot.pause()
        assert answers and answers[0].allowed_cidrs == ("127.0.0.1/32", "2001:db8::/32")


async def test_a_whole_internet_range_is_still_allowed_after_the_warning(make_app, lab_api, ssh_dir):
    app = make_app(env=lab_api.env, start="none")
    async with app.run_test(size=SIZE) as pilot:
        answers: list = []
        app.push_screen(SshScreen(Draft(name="demo", domain="example.com")), answers.append)
        await settle(pilot)
        app.screen.query_one("#cidrs", Input).value = "::/0"
        await pilot.pause()
        assert WARNING in text_of(app, "#whole-internet")
        app.screen.query_one("#cidrs", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert answers and answers[0].allowed_cidrs == ("::/0",)  # a warning, not a refusal


async def test_a_range_the_user_chose_is_never_replaced(make_app, lab_api, ssh_dir):
    app = make_app(env=lab_api.env, start="none")
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(SshScreen(Draft(allowed_cidrs=("198.51.100.0/24",))))
        await settle(pilot)
        assert app.screen.query_one("#cidrs", Input).value == "198.51.100.0/24"
        assert text_of(app, "#whole-internet") == ""


async def test_without_an_answer_the_default_stays_and_is_warned_about(make_app, ssh_dir):
    app = make_app(start="none")  # the APIs point at a refused loopback port: no address is found
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(SshScreen(Draft()))
        await settle(pilot)
        assert app.screen.query_one("#cidrs", Input).value == "0.0.0.0/0"
        assert WARNING in text_of(app, "#whole-internet") and "like 203.0.113.7/32" in text_of(app, "#whole-internet")
        assert text_of(app, "#address") == ""
