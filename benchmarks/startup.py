"""First frame in a real terminal (tmux), swarmwiz vs a bare Textual app, and CPU use of the idle wizard."""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

from benchmarks import common
from benchmarks.bare_app import MARKER as BARE_MARKER

log = logging.getLogger(__name__)


def swarmwiz_marker() -> str:
    """Text of the wizard's first screen: the welcome screen's intro (read from the code, so it follows edits)."""
    try:
        from swarmwiz.tui.screens.welcome import INTRO

        first = INTRO.strip().splitlines()[0]
        return first[:40]
    except Exception:  # the welcome screen moved: fall back to the app's title
        return "swarmwiz"


def _targets(tmp: Path) -> dict[str, tuple[list[str], str, dict[str, str]]]:
    # Both apps start as installed ones do, with their bytecode cached: this machine sets PYTHONDONTWRITEBYTECODE,
    # which made swarmwiz (an editable install, whose sources have no __pycache__) compile each of its modules on
    # every start while Textual's came precompiled by pip (~100 ms CPU of the measured gap). The uncounted first
    # run writes both apps' bytecode to a private cache in the run's temporary directory, never into the repository.
    env = {"SWARMWIZ_HOME": str(tmp / "home"), "PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(tmp / "pyc")}
    return {
        "swarmwiz": (common.swarmwiz_argv(), swarmwiz_marker(), env),
        "bare": ([common.python(), str(Path(__file__).with_name("bare_app.py"))], BARE_MARKER, env),
    }


def first_frames(runs: int = 5, timeout: float = 30.0) -> dict:
    """Median time from starting the command to its first screen's text in the pane, both apps interleaved
    (so drift in machine load hits both alike)."""
    samples: dict[str, list[float]] = {"swarmwiz": [], "bare": []}
    cpu: dict[str, list[float]] = {"swarmwiz": [], "bare": []}  # CPU time to the first frame: steadier under load
    failures: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="swarmwiz-bench-") as tmp, common.tmux_server() as tmux:
        targets = _targets(Path(tmp))
        for i in range(runs + 1):  # run 0 warms the page cache and is not counted
            for name, (argv, marker, env) in targets.items():
                session = f"{name}{i}"
                t0 = time.monotonic()
                tmux.start(session, argv, env=env, cwd=common.REPO)
                seen = tmux.wait_for_text(session, marker, timeout=timeout)
                used = common.cpu_seconds(common.descendants(tmux.pane_pid(session)))
                if seen is None:
                    failures[name] = f"no {marker!r} within {timeout}s; pane: {tmux.capture(session).strip()[-300:]}"
                elif i:
                    samples[name].append((seen - t0) * 1000)
                    cpu[name].append(used * 1000)
                tmux.kill(session)
                time.sleep(0.2)  # let the killed app release the CPU before the next start
    return {
        "startup_first_frame_ms": common.median(samples["swarmwiz"]),
        "bare_textual_first_frame_ms": common.median(samples["bare"]),
        "startup_first_frame_samples_ms": [round(x, 1) for x in samples["swarmwiz"]],
        "bare_textual_first_frame_samples_ms": [round(x, 1) for x in samples["bare"]],
        "startup_first_frame_cpu_ms": common.median(cpu["swarmwiz"]),
        "bare_textual_first_frame_cpu_ms": common.median(cpu["bare"]),
        "startup_marker": targets["swarmwiz"][1],
        **({"startup_failures": failures} if failures else {}),
    }


def idle_cpu(seconds: float = 10.0, settle: float = 2.0, timeout: float = 30.0) -> dict:
    """CPU time / wall time of the wizard sitting on its first screen, and of the bare app for comparison."""
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="swarmwiz-bench-") as tmp, common.tmux_server() as tmux:
        for name, (argv, marker, env) in _targets(Path(tmp)).items():
            session = f"idle-{name}"
            tmux.start(session, argv, env=env, cwd=common.REPO)
            if tmux.wait_for_text(session, marker, timeout=timeout) is None:
                out[f"{name}_idle_error"] = f"no first frame within {timeout}s"
                tmux.kill(session)
                continue
            time.sleep(settle)  # start-up workers (cluster list) finish first
            pids = common.descendants(tmux.pane_pid(session))
            c0, t0 = common.cpu_seconds(pids), time.monotonic()
            time.sleep(seconds)
            c1, t1 = common.cpu_seconds(pids), time.monotonic()
            out[name] = round((c1 - c0) / (t1 - t0) * 100, 2)
            tmux.kill(session)
    return {
        "tui_idle_cpu_percent": out.get("swarmwiz"),
        "bare_textual_idle_cpu_percent": out.get("bare"),
        "tui_idle_seconds": seconds,
        **{k: v for k, v in out.items() if k.endswith("_error")},
    }
