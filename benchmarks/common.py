"""Shared helpers: statistics, machine info, a private tmux server, and CPU time of a process tree."""

from __future__ import annotations

import contextlib
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100): the value at least p% of samples are at or below."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil without floats
    return round(ordered[int(rank) - 1], 3)


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def machine_info() -> dict:
    """Where the numbers come from: they only compare within one run on one machine."""
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_mb = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_mb = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    versions = {}
    for mod in ("textual", "rich"):
        with contextlib.suppress(Exception):
            versions[mod] = __import__(mod).__version__
    with contextlib.suppress(Exception):
        import importlib.metadata as md

        versions["textual"] = md.version("textual")
        versions["swarmwiz"] = md.version("swarmwiz")
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": platform.node(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "mem_mb": mem_mb,
        "loadavg_at_start": [round(x, 2) for x in load] if load else None,
        "pythondontwritebytecode": bool(os.environ.get("PYTHONDONTWRITEBYTECODE")),
        "tmux": _version(["tmux", "-V"]),
        "terraform": _version(["terraform", "version"]),
        "versions": versions,
        "git_commit": _version(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
    }


def _version(argv: list[str]) -> str | None:
    if not shutil.which(argv[0]):
        return None
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.splitlines()[0].strip() if out else None


def python() -> str:
    """The interpreter of this run (the project's venv when started as .venv/bin/python -m benchmarks)."""
    return sys.executable


def swarmwiz_argv() -> list[str]:
    """How a user starts swarmwiz: the console script beside the interpreter, else `python -m swarmwiz`."""
    script = Path(sys.executable).with_name("swarmwiz")
    return [str(script)] if script.exists() else [sys.executable, "-m", "swarmwiz"]


# -- process CPU time -------------------------------------------------------------------------------------------
def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; the rest follows the last ')'.
    return raw[raw.rfind(")") + 2 :].split()


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (tmux runs the command through a shell)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of these processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        fields = _stat(pid)
        if fields:
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / CLK_TCK


def cpu_by_pid(*markers: str) -> dict[int, float]:
    """CPU seconds of every process whose command line contains one of `markers`, and of everything below it."""
    roots = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                cmdline = (entry / "cmdline").read_bytes()
                if any(m.encode() in cmdline for m in markers):
                    roots.append(int(entry.name))
    pids = {p for root in roots for p in descendants(root)}
    return {p: cpu_seconds([p]) for p in pids}


def rss_mb(pid: int | str = "self") -> float | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


# -- a private tmux server: a real terminal for the app under test ----------------------------------------------
class Tmux:
    """A tmux server on its own socket, so nothing here touches a user's sessions; started once so that
    measured commands do not pay for the server's start-up."""

    def __init__(self, width: int = 120, height: int = 40) -> None:
        self.socket = f"swarmwiz-bench-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.width, self.height = width, height
        self._run("new-session", "-d", "-s", "keepalive", "-x", "20", "-y", "5", "sleep 86400")
        # A command that dies keeps its pane, so a failure shows its traceback instead of an empty capture.
        self._run("set-option", "-g", "remain-on-exit", "on")
        self.socket_path = self._run("display-message", "-p", "-t", "keepalive", "#{socket_path}").strip()

    def _run(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30)
        if check and proc.returncode != 0:
            raise RuntimeError(f"tmux {args[0]} failed: {proc.stderr.strip()}")
        return proc.stdout

    def start(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        """Start `argv` in a new detached session of the configured size."""
        prefix = ["env", *(f"{k}={v}" for k, v in (env or {}).items())] if env else []
        command = shlex.join([*prefix, *argv])
        if cwd:
            command = f"cd {shlex.quote(str(cwd))} && exec {command}"
        self._run("new-session", "-d", "-s", name, "-x", str(self.width), "-y", str(self.height), command)

    def capture(self, name: str) -> str:
        return self._run("capture-pane", "-p", "-t", name, check=False)

    def pane_pid(self, name: str) -> int:
        return int(self._run("display-message", "-p", "-t", name, "#{pane_pid}").strip())

    def wait_for_text(self, name: str, text: str, timeout: float = 30.0, poll: float = 0.01) -> float | None:
        """Poll the pane until `text` appears; return the monotonic time it was first seen, or None on timeout."""
        deadline = time.monotonic() + timeout
        polls = 0
        while time.monotonic() < deadline:
            if text in self.capture(name):
                return time.monotonic()
            polls += 1
            if polls % 20 == 0 and self.dead(name):  # checked now and then: each check is one more process
                return None
            time.sleep(poll)
        return None

    def dead(self, name: str) -> bool:
        return self._run("display-message", "-p", "-t", name, "#{pane_dead}", check=False).strip() == "1"

    def kill(self, name: str) -> None:
        self._run("kill-session", "-t", name, check=False)

    def close(self) -> None:
        self._run("kill-server", check=False)
        if self.socket_path:  # tmux leaves its socket file behind
            Path(self.socket_path).unlink(missing_ok=True)


@contextlib.contextmanager
def tmux_server(width: int = 120, height: int = 40) -> Iterator[Tmux]:
    server = Tmux(width, height)
    try:
        yield server
    finally:
        server.close()
