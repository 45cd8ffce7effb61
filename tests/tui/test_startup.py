"""The first frame comes before any heavy import: keyring, httpx, asyncssh, the cloud SDKs and the pipeline load
later, on demand (the welcome screen's doctor checks load the keyring and the engine's module after it)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import asyncio, json, sys
from swarmwiz.tui.app import SwarmwizApp
from swarmwiz.tui.screens import welcome
from swarmwiz.tui.services import Services

HEAVY = ["keyring", "httpx", "asyncssh", "swarmwiz.core.pipeline", "swarmwiz.core.terraform", "questionary",
         "scaleway", "scaleway_core", "cloudflare", "requests"]
# The welcome screen's doctor checks start after the first frame and load the keyring and the engine's module:
# record what was loaded when they start; offline, because their API checks would reach the real APIs.
welcome.DOCTOR_NETWORK = False
real_checks = welcome.doctor_checks
at_doctor = {}

def doctor_checks(*args, **kwargs):
    at_doctor.update({name: name in sys.modules for name in HEAVY})
    return real_checks(*args, **kwargs)

welcome.doctor_checks = doctor_checks

async def main():
    app = SwarmwizApp(Services(lab=False))
    async with app.run_test(size=(80, 24)) as pilot:
        while type(app.screen).__name__ != "WelcomeScreen" or not at_doctor:
            await pilot.pause(0.01)
        await app.workers.wait_for_complete([w for w in app.workers if w.name != "flow"])
        after = {name: name in sys.modules for name in HEAVY}
        print(json.dumps({"at_doctor": at_doctor, "after": after}))

asyncio.run(main())
"""

# What the doctor's offline checks load themselves (the keyring backend, the engine finder), after the first frame.
DOCTOR_LOADS = {"keyring", "swarmwiz.core.terraform"}


def test_welcome_screen_needs_no_heavy_imports(swarmwiz_home):
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert not any(loaded["at_doctor"].values()), loaded["at_doctor"]
    assert not any(v for k, v in loaded["after"].items() if k not in DOCTOR_LOADS), loaded["after"]
