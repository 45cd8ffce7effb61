"""Drive a synchronous pipeline generator from a thread worker and hand its events to the UI in batches."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

from swarmwiz.core.events import Event

MAX_BATCH = 1000
MAX_WAIT_S = 0.05


class _Outcome:
    """The generator's return value or the exception it raised, carried through the queue."""

    def __init__(self, value: Any = None, error: BaseException | None = None) -> None:
        self.value = value
        self.error = error


def pump(
    gen: Generator[Event, None, Any],
    deliver: Callable[[list[Event]], None],
    *,
    cancelled: Callable[[], bool] = lambda: False,
    on_cancel: Callable[[], None] = lambda: None,
    max_batch: int = MAX_BATCH,
    max_wait: float = MAX_WAIT_S,
) -> Any:
    """Run `gen` to the end and return its return value (re-raising what it raised).

    Events reach `deliver` in lists of at most `max_batch`, at most `max_wait` seconds late: the generator runs in
    its own thread so that a quiet spell inside it (terraform waiting on the cloud) never holds back lines already
    produced. `on_cancel` is called once when `cancelled()` turns true; the generator is still drained, because
    the pipeline stops safely and says so through its events.
    """
    q: queue.SimpleQueue = queue.SimpleQueue()

    def drive() -> None:
        try:
            while True:
                q.put(next(gen))
        except StopIteration as stop:
            q.put(_Outcome(stop.value))
        except BaseException as exc:  # handed over to the caller's thread, raised there
            q.put(_Outcome(error=exc))

    threading.Thread(target=drive, name="swarmwiz-pipeline", daemon=True).start()
    batch: list[Event] = []
    outcome: _Outcome | None = None
    cancel_sent = False
    deadline = time.monotonic() + max_wait
    while outcome is None:
        if not cancel_sent and cancelled():
            cancel_sent = True
            on_cancel()
        try:
            item = q.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            item = None
        if isinstance(item, _Outcome):
            outcome = item
        elif item is not None:
            batch.append(item)
        if batch and (outcome is not None or len(batch) >= max_batch or time.monotonic() >= deadline):
            deliver(batch)
            batch = []
        if time.monotonic() >= deadline:
            deadline = time.monotonic() + max_wait
    if outcome.error is not None:
        raise outcome.error
    return outcome.value
