"""The welcome screen runs `swarmwiz doctor`'s checks in the background: a check that fails in this test's environment
(no SSH key pair in the wizard's SSH directory, no credentials for the lab API) shows with doctor's own words and
remedy, "r" runs the checks again once it is fixed, "d" lists every check, and lab mode uses the lab's checks."""

from __future__ import annotations

import re
import shutil
import threading

from test_wizard import settle

from swarmwiz.flows import doctor
from swarmwiz.tui.screens import welcome
from swarmwiz.tui.screens.welcome import DoctorList, WelcomeScreen

SIZE = (160, 48)  # wide enough that no path is folded inside a word, tall enough that every row shows


def shown(app, selector: str = "") -> str:
    """The text on the terminal now (every layer composed), whitespace collapsed so that wrapped cells read as one
    line; with `selector`, only the part of the terminal inside that widget (no dialog border between lines)."""
    strips = app.screen._compositor.render_strips()
    if selector:
        region = app.screen.query_one(selector).content_region
        strips = [s.crop(region.x, region.right) for s in strips[region.y : region.bottom]]
    return re.sub(r"\s+", " ", " ".join(strip.text for strip in strips))


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


async def test_missing_ssh_key_shows_doctors_words_and_check_again_clears_it(make_app, ssh_dir, ssh_keypair):
    for leftover in ssh_dir.iterdir():
        leftover.unlink()
    missing = doctor.check_ssh_key(ssh_dir=ssh_dir)  # what `swarmwiz doctor` says for this directory
    assert missing.status == doctor.FAIL
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, WelcomeScreen)
        text = shown(app)
        assert "SSH key pair" in text
        assert flat(missing.detail) in text and f"no key pair in {ssh_dir}" in text
        assert flat(missing.fix) in text and "ssh-keygen -t ed25519" in text
        summary = shown(app, "#doctor-summary")
        assert summary.startswith("A deploy would fail without:") and "SSH key pair" in summary

        # Fixed outside the wizard: the user creates a key pair, then asks for the checks again.
        for part in ssh_keypair:
            shutil.copy(part, ssh_dir / part.name)
        await pilot.press("r")
        await settle(pilot)
        text = shown(app)
        assert "SSH key pair" not in text and "ssh-keygen" not in text
        assert "Checking" not in text  # the checks ended (their summary replaced the one of the run in progress)

        # The full list still has the check, now passing, in doctor's words.
        fixed = doctor.check_ssh_key(ssh_dir=ssh_dir)
        assert fixed.status == doctor.OK
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, DoctorList)
        text = shown(app, "#doctor-all")
        assert f"✓ SSH key pair {flat(fixed.detail)}" in text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, WelcomeScreen)


async def test_every_check_shows_checking_until_it_ends(make_app, lab_api, monkeypatch):
    """The API and credential checks run against the lab API (loopback): while they are held back each row says
    "checking…"; once they end, the missing credentials show with doctor's remedy and the rest of the screen
    worked all along."""
    monkeypatch.setattr(welcome, "DOCTOR_NETWORK", True)
    gate = threading.Event()
    announced = threading.Event()
    real_checks = welcome.doctor_checks

    def held_checks(services, *, lab, progress):
        def held(key, label, findings):
            if findings is not None and not announced.is_set():
                announced.set()
                assert gate.wait(30), "the test never let the checks go on"
            progress(key, label, findings)

        return real_checks(services, lab=lab, progress=held)

    monkeypatch.setattr(welcome, "doctor_checks", held_checks)
    app = make_app(env=lab_api.env)
    async with app.run_test(size=SIZE) as pilot:
        try:
            while not announced.is_set():
                await pilot.pause(0.02)
            await pilot.pause(0.2)
            text = shown(app)
            for label in ("Terraform engine", "SSH key pair", "Credentials", "Scaleway API", "Cloudflare API", "Clock"):
                assert f"… {label} checking…" in text, label
            assert "Checking what a first run needs" in text
            assert "None yet" in text  # the clusters were listed meanwhile
        finally:
            gate.set()
        await settle(pilot)
        text = shown(app)
        assert "checking…" not in text
        assert "SCW_ACCESS_KEY is not set" in text
        assert flat(doctor._FIXES["missing"].format(env="SCW_ACCESS_KEY")) in text
        assert "Scaleway API" not in text  # the lab API answered: that check passed and is not listed
        await pilot.press("d")
        await pilot.pause()
        text = shown(app, "#doctor-all")
        assert re.search(rf"✓ Scaleway API {re.escape(lab_api.url)} answers in \d+ ms", text), text


async def test_lab_mode_runs_the_lab_checks(make_app):
    app = make_app(lab=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "swarmwiz doctor --lab" in shown(app)
        await pilot.press("d")
        await pilot.pause()
        text = shown(app, "#doctor-all")
        assert "Lab parts" in text
        assert "OS keyring not used: the lab issues its own credentials" in text


async def test_checks_that_cannot_run_say_why_and_leave_the_wizard_usable(make_app, monkeypatch):
    from swarmwiz.core.errors import InputError

    def broken(services, *, lab, progress):
        raise InputError("SCW_API_URL: not a URL")

    monkeypatch.setattr(welcome, "doctor_checks", broken)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "could not run: SCW_API_URL: not a URL (r: run them again)" in shown(app, "#doctor-summary")
        assert isinstance(app.screen, WelcomeScreen)  # no error dialog over it
        await pilot.press("n")
        await settle(pilot)
        assert not isinstance(app.screen, WelcomeScreen)
