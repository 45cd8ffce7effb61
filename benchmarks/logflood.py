"""The deploy screen's log pane flooded with lines while keys are pressed: ingest rate, key latency, memory.

Runs in its own process (so its RSS is its own), normally inside a tmux pane so Textual paints to a real
terminal: `python -m benchmarks.logflood --out FILE [--lines N] [--headless]`. The real `DeployScreen` gets an
injected pipeline whose deploy() yields N raw log lines as fast as it can; everything after that generator is
swarmwiz's own path (the deploy's thread worker -> batched EventsArrived -> RunPanel -> Log).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import resource
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

from benchmarks import common

KEYS = ["up", "end", "pageup", "end"]  # scroll the log and come back to its end (where it keeps following)
KEY_INTERVAL_S = 0.025
TEXT_POOL = 32_768  # distinct line texts made before the flood (more than the pane keeps)


def line_text(i: int) -> str:
    # About as long as a Terraform progress line.
    return f'scaleway_instance_server.node["worker-{i % 97:02d}"]: Still creating... [{i % 60}s elapsed] #{i:06d}'


# Stand-ins for a run's credentials (the real pipeline masks 3-4 in every run-log line): masking is per-line work.
FAKE_SECRETS = [f"bench-secret-{i}-{'x' * 36}" for i in range(4)]


class FloodPipeline:
    """Stands in for Pipeline: deploy() yields `n` log lines, then returns no status (nothing applied).

    The lines' texts are made before the flood: a real deploy reads them from Terraform's pipe, and formatting them
    in the flood (1.6 us a line, on the worker's GIL time) billed the benchmark's own cost to the screen. Making the
    LogLine events stays in the flood, as the real reader makes them there. `worker_cpu_s` is the worker thread's CPU
    time during the flood (generator, run log, hand-over): with the UI's, it says where a line's cost goes.
    """

    def __init__(self, n: int) -> None:
        from swarmwiz.core.workspace import Workspace

        self.n = n
        # A pool of distinct texts, cycled, with the last line unique (the benchmark waits for it): memory stays
        # the same for any `n` (so RSS still shows whether the pane is bounded), and the pool is larger than the
        # pane keeps, so the pane holds as many distinct strings as in a real flood.
        self.texts = [line_text(i) for i in range(min(n - 1, TEXT_POOL))]
        self.last_text = line_text(n - 1)
        self.first_yield: float | None = None
        self.last_yield: float | None = None
        self.worker_cpu_s: float | None = None
        # The deploy screen records every run in the workspace's run log, as for a real deploy: the flood goes
        # there too (SWARMWIZ_HOME is the benchmark's temporary directory).
        self.workspace = Workspace.for_name("bench")
        self.workspace.path.mkdir(parents=True, exist_ok=True)

    def secrets(self) -> list[str]:
        return FAKE_SECRETS

    def deploy(self, confirm, **_approvals):
        from swarmwiz.core.events import LogLine, Phase, PhaseFinished, PhaseStarted

        yield PhaseStarted(Phase.APPLY)
        cpu0 = time.thread_time()
        self.first_yield = time.monotonic()
        apply, texts, pool = Phase.APPLY, self.texts, len(self.texts)
        for i in range(self.n - 1):
            yield LogLine(apply, texts[i % pool])
        yield LogLine(apply, self.last_text)
        self.last_yield = time.monotonic()
        self.worker_cpu_s = time.thread_time() - cpu0
        yield PhaseFinished(Phase.APPLY, message="flood done")
        return None

    def alone_cpu_s(self) -> float:
        """CPU seconds the generator alone takes for the flood (no UI, no run log): what it can offer at most."""
        from swarmwiz.core.events import LogLine, Phase

        apply, texts, pool, cpu0 = Phase.APPLY, self.texts, len(self.texts), time.thread_time()
        for i in range(self.n):
            LogLine(apply, texts[i % pool])
        return time.thread_time() - cpu0

    def cancel(self) -> None:
        pass

    def force(self) -> None:
        pass


def _watch_log_writes(last: str, seen: dict) -> None:
    """Record when `last` is written to any Log widget (the moment the whole flood has reached the pane)."""
    from textual.widgets import Log

    original = Log.write_lines

    def write_lines(self, lines, scroll_end=None):
        lines = list(lines)
        seen["lines"] = seen.get("lines", 0) + len(lines)
        if "ui_cpu0" not in seen:
            seen["ui_cpu0"] = time.thread_time()  # the UI thread's CPU time from the flood's first batch...
        if last in lines[-4:]:  # the phase's closing note may follow in the same batch
            seen["last_written"] = time.monotonic()
            seen["ui_cpu1"] = time.thread_time()  # ...to its last (keys, batches, paints)
        return original(self, lines, scroll_end)

    Log.write_lines = write_lines  # this process only exists for the benchmark


class KeyClock:
    """Times each key from the moment it is posted (as the terminal driver posts it) to the first frame painted
    after the action it is bound to has run: the time until the user sees the key take effect."""

    ACTIONS = {"scroll_up", "scroll_end", "page_up", "scroll_down", "page_down", "scroll_home"}

    def __init__(self) -> None:
        self.waiting: collections.deque[float] = collections.deque()  # posted, action not run yet
        self.acted: list[float] = []  # action ran, not painted yet
        self.latencies: list[float] = []
        self.actions: collections.Counter = collections.Counter()

    def install(self) -> None:
        from textual.app import App

        clock = self
        dispatch, display = App._dispatch_action, App._display

        async def _dispatch_action(app, namespace, action_name, params):
            handled = await dispatch(app, namespace, action_name, params)
            if action_name in clock.ACTIONS and clock.waiting:
                clock.actions[action_name] += 1
                clock.acted.append(clock.waiting.popleft())
            return handled

        def _display(app, screen, renderable):
            display(app, screen, renderable)
            if renderable is not None and clock.acted:
                now = time.monotonic()
                clock.latencies.extend(now - t for t in clock.acted)
                clock.acted.clear()

        App._dispatch_action, App._display = _dispatch_action, _display  # this process exists for the benchmark

    def start_typing(self, app, keys: list[str], interval: float, stop: threading.Event) -> threading.Thread:
        """Post keys from a thread every `interval` seconds, as Textual's terminal driver does from its input
        thread (run_coroutine_threadsafe onto the app's loop): a busy UI cannot delay the presses themselves."""
        from textual import events

        loop = asyncio.get_running_loop()

        def typing() -> None:
            i = 0
            while not stop.is_set():
                event = events.Key(keys[i % len(keys)], None)
                event.set_sender(app)
                self.waiting.append(time.monotonic())
                asyncio.run_coroutine_threadsafe(app._post_message(event), loop)
                self.pressed = i = i + 1
                stop.wait(interval)

        self.pressed = 0
        thread = threading.Thread(target=typing, name="bench-keys", daemon=True)
        thread.start()
        return thread


VARIANTS = ["as-is"]  # the proposed fixes once measured here are in the code now (swarmwiz/tui/bridge.py)


async def run(lines: int, headless: bool, variant: str = "as-is") -> dict:
    from textual.widgets import Log

    from swarmwiz.tui.app import SwarmwizApp
    from swarmwiz.tui.screens.deploy import DeployScreen
    from swarmwiz.tui.services import Services

    keys = KeyClock()
    keys.install()
    seen: dict = {}
    _watch_log_writes(line_text(lines - 1), seen)
    pipeline = FloodPipeline(lines)
    alone = pipeline.alone_cpu_s()
    app = SwarmwizApp(Services(lab=False), start="benchmark")
    rss: list[tuple[int, float | None]] = []
    async with app.run_test(headless=headless, size=None if not headless else (120, 40)) as pilot:
        await pilot.pause()
        rss_before = common.rss_mb()
        app.push_screen(DeployScreen(SimpleNamespace(name="bench"), None, pipeline=pipeline))
        while not (isinstance(app.screen, DeployScreen) and app.focused is not None):
            await asyncio.sleep(0.001)  # mounted (it focuses its Stop button): the flood starts now
        # The keys scroll the log, as a person reading it would; focus moves twice while the screen mounts
        # (first focusable, then its Stop button), so insist until the log keeps it.
        pane, steady = app.screen.query_one(Log), 0
        while steady < 3:
            steady = steady + 1 if app.focused is pane else 0
            if app.focused is not pane:
                pane.focus()
            await asyncio.sleep(0.005)
        deadline = time.monotonic() + 120
        stop = threading.Event()
        typing = keys.start_typing(app, KEYS, KEY_INTERVAL_S, stop)
        while "last_written" not in seen and time.monotonic() < deadline:
            rss.append((seen.get("lines", 0), common.rss_mb()))
            await asyncio.sleep(0.25)
        stop.set()
        typing.join()
        await pilot.pause(0.5)  # let the last keys land and paint
        focused = repr(app.focused)
        rss.append((seen.get("lines", 0), common.rss_mb()))
        await app.workers.wait_for_complete()
        app.exit(0)
    load = [round(x, 2) for x in os.getloadavg()]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    first = pipeline.first_yield
    last = seen.get("last_written")
    ms = [x * 1000 for x in keys.latencies]
    return {
        "log_lines": lines,
        "log_ingest_lines_per_s": round(lines / (last - first)) if first and last else None,
        "log_ingest_s": round(last - first, 3) if first and last else None,
        "log_generator_s": round(pipeline.last_yield - first, 3) if first and pipeline.last_yield else None,
        # CPU time per line of the two threads that share the GIL: with a loaded machine the wall-clock figures
        # vary run to run, these much less; their sum bounds the rate (the GIL runs one thread at a time).
        "log_generator_alone_lines_per_s": round(lines / alone) if alone else None,
        "log_worker_cpu_us_per_line": _per_line(pipeline.worker_cpu_s, lines),
        "log_ui_cpu_us_per_line": _per_line(seen.get("ui_cpu1", 0) - seen.get("ui_cpu0", 0), lines)
        if "ui_cpu1" in seen
        else None,
        "log_loadavg_at_end": load,
        "log_key_latency_p50_ms": common.percentile(ms, 50),
        "log_key_latency_p95_ms": common.percentile(ms, 95),
        "log_key_latency_max_ms": round(max(ms), 3) if ms else None,
        "log_keys_pressed": keys.pressed,
        "log_keys_seen_painted": len(ms),
        "log_key_actions": dict(keys.actions),
        "log_focused_at_end": focused,
        "log_key_latency_samples_ms": [round(x) for x in ms],  # in the order pressed, 25 ms apart
        "log_peak_rss_mb": round(peak, 1),
        "log_rss_before_mb": rss_before,
        "log_rss_samples_mb": rss,  # [lines written so far, RSS]: flat means bounded
        "log_terminal": "headless" if headless else "tmux",
        "log_variant": variant,
    }


def _per_line(seconds: float | None, lines: int) -> float | None:
    return round(seconds / lines * 1e6, 2) if seconds is not None and lines else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.logflood")
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--headless", action="store_true", help="no terminal output (when tmux is missing)")
    parser.add_argument(
        "--variant",
        choices=VARIANTS,
        default="as-is",
        help="as-is: swarmwiz's code (kept as an option for the results' format)",
    )
    args = parser.parse_args(argv)
    try:
        result = asyncio.run(run(args.lines, args.headless, args.variant))
    except Exception as exc:  # reported in the JSON, so one broken part does not sink the whole run
        result = {"log_error": f"{type(exc).__name__}: {exc}"}
    args.out.write_text(json.dumps(result))
    return 0


def measure(lines: int = 200_000, timeout: float = 180.0, variant: str = "as-is") -> dict:
    """Run the flood in a child process: in a tmux pane (a real terminal) if tmux exists, else headless."""
    import shutil
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="swarmwiz-bench-") as tmp:
        out = Path(tmp) / "flood.json"
        argv = [
            common.python(),
            "-m",
            "benchmarks.logflood",
            "--lines",
            str(lines),
            "--out",
            str(out),
            "--variant",
            variant,
        ]
        env = {"SWARMWIZ_HOME": str(Path(tmp) / "home")}
        if shutil.which("tmux"):
            with common.tmux_server() as tmux:
                tmux.start("flood", argv, env=env, cwd=common.REPO)
                deadline = time.monotonic() + timeout
                while not out.exists() and time.monotonic() < deadline and not tmux.dead("flood"):
                    time.sleep(0.2)
                if not out.exists():
                    return {"log_error": f"no result; pane: {tmux.capture('flood').strip()[-400:]}"}
        else:
            subprocess.run(
                [*argv, "--headless"],
                env={**__import__("os").environ, **env},
                cwd=common.REPO,
                timeout=timeout,
                check=False,
            )
        for _ in range(20):  # the file is written whole at the end; wait out a partial read
            try:
                return json.loads(out.read_text())
            except (OSError, json.JSONDecodeError):
                time.sleep(0.1)
        return {"log_error": "no result file"}


if __name__ == "__main__":
    sys.exit(main())
