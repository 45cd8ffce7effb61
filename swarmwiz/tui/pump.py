"""Drive a synchronous pipeline generator from a thread worker and hand its events to the UI in batches."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
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

    Events reach `deliver` in lists of at most `max_batch`, at most about `max_wait` seconds late: the generator
    runs in its own thread so that a quiet spell inside it (terraform waiting on the cloud) never holds back lines
    already produced. The hand-over is a deque (an append costs far less than a queue.Queue put, which capped a
    flood at ~40k lines/s) bounded by `2 * max_batch`: a generator faster than the UI waits instead of piling up
    memory. `on_cancel` is called once when `cancelled()` turns true; the generator is still drained, because the
    pipeline stops safely and says so through its events.
    """
    buffer: deque = deque()
    limit = 2 * max_batch

    def drive() -> None:
        try:
            while True:
                item = next(gen)
                while len(buffer) >= limit:
                    time.sleep(0.002)
                buffer.append(item)
        except StopIteration as stop:
            buffer.append(_Outcome(stop.value))
        except BaseException as exc:  # handed over to the caller's thread, raised there
            buffer.append(_Outcome(error=exc))

    threading.Thread(target=drive, name="swarmwiz-pipeline", daemon=True).start()
    outcome: _Outcome | None = None
    cancel_sent = False
    poll = min(max_wait, 0.01)
    while outcome is None:
        if not cancel_sent and cancelled():
            cancel_sent = True
            on_cancel()
        batch: list[Event] = []
        while buffer and len(batch) < max_batch:
            item = buffer.popleft()
            if isinstance(item, _Outcome):
                outcome = item
                break
            batch.append(item)
        if batch:
            deliver(batch)
        elif outcome is None:
            time.sleep(poll)
    if outcome.error is not None:
        raise outcome.error
    return outcome.value


def deliver_to(screen: Any, handler: Callable[[Any], None], message: Callable[[list[Event]], Any]) -> Callable:
    """A `deliver` for `pump` that runs `handler(message(batch))` on the UI thread and waits until it has.

    Waiting is the back-pressure that keeps the UI responsive during a flood: the next batch is only gathered once
    the previous one is on screen, so keys never queue behind thousands of pending lines. A batch for a screen that
    has gone (closed while its run is stopping) is dropped.
    """

    def run_on_ui(batch: list[Event]) -> None:
        if screen.is_attached:
            handler(message(batch))

    def deliver(batch: list[Event]) -> None:
        with contextlib.suppress(RuntimeError):  # the app is no longer running: nothing to show it on
            screen.app.call_from_thread(run_on_ui, batch)

    return deliver
