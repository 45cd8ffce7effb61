"""The first frame comes before any heavy import: keyring, httpx, asyncssh, the cloud SDKs and the pipeline load
later, on demand."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import asyncio, json, sys
from swarmwiz.tui.app import SwarmwizApp
from swarmwiz.tui.services import Services

async def main():
    app = SwarmwizApp(Services(lab=False))
    async with app.run_test(size=(80, 24)) as pilot:
        while type(app.screen).__name__ != "WelcomeScreen":
            await pilot.pause(0.01)
        await app.workers.wait_for_complete([w for w in app.workers if w.name != "flow"])
        heavy = ["keyring", "httpx", "asyncssh", "swarmwiz.core.pipeline", "swarmwiz.core.terraform", "questionary",
                 "scaleway", "scaleway_core", "cloudflare", "requests"]
        print(json.dumps({name: name in sys.modules for name in heavy}))

asyncio.run(main())
"""


def test_welcome_screen_needs_no_heavy_imports(swarmwiz_home):
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert not any(loaded.values()), loaded
