"""Ctrl-C during a command: the first press stops safely, a second one asks before forcing."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def safe_interrupts(pipeline: Any, out: Any) -> Iterator[None]:
    """First Ctrl-C: stop safely (Terraform finishes in-flight work and saves state); a second one asks to force."""
    presses = 0

    def handler(signum, frame) -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            out.line(
                "\nStopping safely: Terraform finishes what is in flight and saves its state (Ctrl-C again to force)."
            )
            pipeline.cancel()
            return
        if not sys.stdin.isatty():
            out.line("Still stopping safely; not forcing without a terminal to ask on.")
            return
        answer = out.ask("Force stop now? Resources being created may be left untracked in the cloud. [y/N] ")
        if answer.strip().lower() in ("y", "yes"):
            pipeline.force()

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
