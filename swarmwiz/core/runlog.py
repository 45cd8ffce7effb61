"""Run logs: one file per deploy, destroy or status run in its workspace (`runs/<UTC time>-<operation>.log`).

A log holds every pipeline event, Terraform's raw output (LogLine events), what the `swarmwiz` loggers say (SSH
commands and their exit codes, engine runs) and timings, with the run's credential values masked. Files are 0600,
the last `KEEP` are kept, and a failing run's error ends with "(run log: PATH)" so a user asking for help attaches
one file.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import os
import platform
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from swarmwiz.core import events as ev
from swarmwiz.core.errors import SwarmwizError
from swarmwiz.core.secrets import ScrubFilter, Secret

KEEP = 20
FLUSH_S = 0.2  # a raw output line reaches the file at most this long after it was written
RAW_BLOCK = 2000  # raw output lines formatted, masked and written as one block at most
RUNS_DIR = "runs"
LOGGER = "swarmwiz"
"""The logger tree a run log captures (core.ssh, core.swarm, core.terraform ... all log below it)."""

log = logging.getLogger("swarmwiz.run")

Secrets = Iterable[str | Secret] | Callable[[], Iterable[str | Secret]]


class _Formatter(logging.Formatter):
    """`2026-11-30T23:59:01.123Z +12.345s INFO swarmwiz.core.ssh: text` — wall time and time since the run began."""

    def __init__(self, started: float) -> None:
        super().__init__()
        self.started = started

    def format(self, record: logging.LogRecord) -> str:
        name = record.name.removeprefix("swarmwiz.")
        text = self.line(record.created, record.levelname, name, record.getMessage())
        if record.exc_text:  # already rendered and scrubbed by ScrubFilter
            text += "\n" + record.exc_text
        return text

    _second: tuple[int, str] = (-1, "")  # one tuple, so that threads formatting at once never mix two seconds

    def line(self, created: float, levelname: str, name: str, message: str) -> str:
        return self.head(created, levelname, name) + message

    def head(self, created: float, levelname: str, name: str) -> str:
        """A line up to its message: the same for every line of one millisecond (a flood shares them)."""
        second, prefix = self._second
        if int(created) != second:  # strftime is the dearest part of a line: once a second is enough
            second = int(created)
            prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = (second, prefix)
        millis = int((created - second) * 1000)
        return f"{prefix}.{millis:03d}Z +{created - self.started:8.3f}s {levelname:<7} {name}: "


def describe(event: ev.Event) -> str:
    """One line for an event (its type and fields, without the monotonic timestamp)."""
    if isinstance(event, ev.LogLine):
        return f"[{event.phase.value}] {event.text}"
    if isinstance(event, ev.PhaseStarted):
        return f"phase started: {event.phase.label}"
    if isinstance(event, ev.PhaseFinished):
        state = "skipped" if event.skipped else ("ok" if event.ok else "failed")
        return f"phase {state}: {event.phase.label}" + (f" - {event.message}" if event.message else "")
    if isinstance(event, ev.ResourceChanged):
        took = f" after {event.elapsed_s:g}s" if event.elapsed_s is not None else ""
        ident = f" (id {event.id_value})" if event.id_value else ""
        return f"[{event.phase.value}] {event.address}: {event.action} {event.state}{took}{ident}"
    if isinstance(event, ev.PhaseProgress):
        return f"[{event.phase.value}] {event.done}/{event.total} {event.message}".rstrip()
    fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event) if f.name != "at"}
    text = ", ".join(f"{k}={v.value if isinstance(v, ev.Phase) else v!r}" for k, v in fields.items() if v is not None)
    return f"{type(event).__name__}({text})"


class RunLog:
    """The log of one run; `events(gen)` passes a pipeline's events through while writing each one down."""

    def __init__(self, path: Path, lines: _DeferredFileHandler | None = None) -> None:
        self.path = path
        self._phase_started: dict[ev.Phase, float] = {}
        self._lines = lines  # where raw output lines go without a logging record each (a flood's fast path)

    def events(self, gen: Generator[ev.Event, None, Any]) -> Generator[ev.Event, None, Any]:
        """Yield `gen`'s events unchanged (logging each one) and return its return value."""
        return (yield from ev.tap(gen, self.event))

    def note(self, text: str) -> None:
        """A line of the run's own (a result, a decision) that is not a pipeline event."""
        log.info("%s", text)

    def event(self, event: ev.Event) -> None:
        level = logging.INFO
        if isinstance(event, ev.LogLine):
            if self._lines is not None and event.level == "info":
                # A logging record per line (caller lookup, formatting) cost ~35 us, which capped a flood of
                # Terraform output at ~25k lines/s and held the GIL against the UI: the line goes to a block that is
                # formatted, masked and written at once.
                self._lines.raw_line(event.phase, event.text)
                return
            level = logging.getLevelName(event.level.upper())
            level = level if isinstance(level, int) else logging.INFO
        text = describe(event)
        if isinstance(event, ev.PhaseStarted):
            self._phase_started[event.phase] = event.at
        elif isinstance(event, ev.PhaseFinished) and event.phase in self._phase_started:
            text += f" ({event.at - self._phase_started.pop(event.phase):.2f}s)"
        log.log(level, "%s", text)


def _new_path(runs: Path, operation: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%f")[:-3] + "Z"
    for n in range(100):
        path = runs / f"{stamp}{f'-{n}' if n else ''}-{operation}.log"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        os.close(fd)
        return path
    raise FileExistsError(f"too many run logs named {stamp}-*-{operation}.log in {runs}")


def prune(runs: Path, keep: int = KEEP) -> list[Path]:
    """Delete all but the newest `keep` run logs (names sort by time); returns the deleted ones."""
    logs = sorted(runs.glob("*.log"))
    gone = logs[: max(0, len(logs) - keep)]
    for path in gone:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return gone


@contextlib.contextmanager
def recording(workspace: Any, operation: str, secrets: Secrets = ()) -> Iterator[RunLog]:
    """Record one run of `operation` in `workspace` (a Workspace or its directory).

    While it is open, records of the `swarmwiz` loggers at every level go to the run log too (the console keeps its
    own level); `secrets` (values, or a callable giving them once the run knows its credentials) are masked in every
    line. A SwarmwizError leaving the block gets " (run log: PATH)" at the end of its message.
    """
    directory = Path(getattr(workspace, "path", workspace))
    started = time.time()
    # A run refused before its workspace exists (bad input, a domain outside the account) must leave nothing
    # behind: its lines wait in memory and reach a file only once the workspace exists.
    handler = _DeferredFileHandler()
    path = _open_log(directory, operation, handler) if directory.is_dir() else None
    handler.setLevel(logging.DEBUG)
    handler.addFilter(ScrubFilter(secrets))
    handler.setFormatter(_Formatter(started))
    logger = logging.getLogger(LOGGER)
    root = logging.getLogger()
    # Lowering the tree's level would let debug records through the console handler too: hold that one where it was.
    console_level = logger.getEffectiveLevel()
    quiet = [(h, h.level) for h in root.handlers if h.level == logging.NOTSET]
    for h, _ in quiet:
        h.setLevel(console_level)
    previous_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    # The run's own lines (events, the error) are for the file only: the frontend already shows them.
    log.addHandler(handler)
    log.propagate = False
    run = RunLog(path or directory / RUNS_DIR / f"(not written)-{operation}.log", handler)
    outcome = "ok"
    try:
        log.info(
            "swarmwiz %s %s in %s (python %s, %s %s, pid %d)",
            _version(), operation, directory, platform.python_version(), platform.system(), platform.machine(),
            os.getpid(),
        )  # fmt: skip
        yield run
    except SwarmwizError as exc:
        outcome = f"failed ({exc.title}, exit code {exc.exit_code})"
        log.error("%s: %s", exc.title, exc.message)
        if path is None and directory.is_dir():
            path = run.path = _open_log(directory, operation, handler)
        if path is not None:
            _append_path(exc, path)
        raise
    except BaseException as exc:
        outcome = f"failed ({type(exc).__name__})"
        log.error("unexpected %s", type(exc).__name__, exc_info=True)
        raise
    finally:
        log.info("%s %s after %.2fs", operation, outcome, time.time() - started)
        if path is None and directory.is_dir():
            path = run.path = _open_log(directory, operation, handler)
        logger.removeHandler(handler)
        log.removeHandler(handler)
        log.propagate = True
        handler.close()
        logger.setLevel(previous_level)
        for h, level in quiet:
            h.setLevel(level)
        if path is not None:
            prune(path.parent)


class _DeferredFileHandler(logging.Handler):
    """Keeps formatted lines in memory until `open(path)`, then writes them and everything after to the file.

    Raw output lines (`raw_line`) wait in a block of at most RAW_BLOCK lines that is formatted, masked and written in
    one go, at the latest FLUSH_S after its first line: per line, masking asked the run for its secrets and scanned
    for each, and a write went through the text layer, which made the run log the dearest part of a flood. A record
    (`emit`) writes the block before it, so the file keeps the order in which things happened.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lines: list[str] = []
        self._raw: collections.deque[tuple[float, str, str]] = collections.deque()  # (time.time(), phase, text)
        self._file: Any = None
        self._flush_timer: threading.Timer | None = None

    def open(self, path: Path) -> None:
        with self.lock:  # type: ignore[union-attr] - created by Handler.__init__
            self._file = path.open("a", encoding="utf-8")
            self._file.writelines(line + "\n" for line in self._lines)
            self._lines.clear()
            self._write_raw()
            self._file.flush()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - a log line must never break the run
            self.handleError(record)
            return
        self._write_raw()  # Handler.handle holds the lock
        self._write(line, flush=True)

    def raw_line(self, phase: str, text: str) -> None:
        """An INFO line `[phase] text` of the `run` logger without a LogRecord: formatted and masked as `emit` would,
        and on disk at most FLUSH_S later (a flush per line is a system call per line of a flood)."""
        raw = self._raw
        raw.append((time.time(), phase, text))  # a deque: appending needs no lock, `_write_raw` takes what is there
        if len(raw) >= RAW_BLOCK or self._flush_timer is None:
            with self.lock:  # type: ignore[union-attr]
                if len(raw) >= RAW_BLOCK:
                    self._write_raw()
                elif self._flush_timer is None:
                    self._flush_timer = threading.Timer(FLUSH_S, self._flush_later)
                    self._flush_timer.daemon = True
                    self._flush_timer.start()

    def _write_raw(self) -> None:
        """With the lock held: the waiting raw lines, formatted and masked as one block."""
        if not self._raw:
            return
        take = self._raw.popleft
        raw = [take() for _ in range(len(self._raw))]  # only what is there now: another line may follow meanwhile
        formatter = self.formatter
        lines = []
        if isinstance(formatter, _Formatter):
            millis, head = -1, ""
            for created, phase, text in raw:
                if int(created * 1000) != millis:
                    millis, head = int(created * 1000), formatter.head(created, "INFO", "run")
                lines.append(f"{head}[{phase}] {text}")
        else:
            lines = [f"[{phase}] {text}" for _, phase, text in raw]
        block = "\n".join(lines)
        for f in self.filters:
            if isinstance(f, ScrubFilter):
                block = f.scrub(block)  # secrets hold no line break: masking the block masks each line
        self._write(block, flush=False)

    def _write(self, line: str, *, flush: bool) -> None:
        if self._file is None:
            self._lines.append(line)
            return
        self._file.write(line + "\n")
        if flush:
            self._file.flush()

    def _flush_later(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._flush_timer = None
            self._write_raw()
            if self._file is not None:
                self._file.flush()

    def close(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self._flush_timer is not None:
                self._flush_timer.cancel()
                self._flush_timer = None
            self._write_raw()
            if self._file is not None:
                self._file.close()
                self._file = None
        super().close()


def _open_log(directory: Path, operation: str, handler: _DeferredFileHandler) -> Path:
    """Create `runs/` (0700) and this run's log file (0600) in an existing workspace, and point `handler` at it."""
    runs = directory / RUNS_DIR
    runs.mkdir(exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    os.chmod(runs, 0o700)
    path = _new_path(runs, operation)
    handler.open(path)
    return path


def _append_path(exc: SwarmwizError, path: Path) -> None:
    note = f" (run log: {path})"
    exc.message = exc.message.rstrip() + note
    exc.args = (exc.message,)
    problems = getattr(exc, "problems", None)
    if problems:
        problems[-1] = problems[-1] + note


def _version() -> str:
    try:
        from swarmwiz import __version__

        return __version__
    except ImportError:  # pragma: no cover
        return "?"


def latest(workspace: Any, operation: str | None = None) -> Path | None:
    """The newest run log of the workspace (of `operation` when given), or None."""
    runs = Path(getattr(workspace, "path", workspace)) / RUNS_DIR
    logs = sorted(runs.glob(f"*-{operation}.log" if operation else "*.log"))
    return logs[-1] if logs else None
