"""The one bridge from the core to the UI: a thread worker iterates a pipeline's event generator and posts messages.

The core's operations are synchronous generators of events whose return value is the result. A screen runs one in
a thread worker with `run_events`; the events reach the screen as `EventsArrived` messages and the result as one
`RunFinished`. There is no second thread and no polling: the worker thread itself appends each event to an
`EventFeed` and posts a message only when the feed was empty, so every event that arrives before the UI gets to
it rides along in the same message (a flood of log lines becomes one batch per UI turn, and progress of a phase
is merged to its latest value). The UI takes at most one batch per frame, and during a stream at most one every
BATCH_INTERVAL_S (the next message is posted after the screen painted and that interval passed), so keys are
handled and painted between batches; a feed far ahead of the UI makes the worker wait, which keeps memory flat
during a flood and leaves the GIL to the UI meanwhile.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from textual.message_pump import MessagePump
from textual.worker import get_current_worker

from swarmwiz.core.errors import Interrupted
from swarmwiz.core.events import Event, PhaseProgress
from swarmwiz.tui.messages import EventsArrived, RunFinished

MAX_BATCH = 12_000  # events applied in one UI turn (one frame) at most: bounds the time a key waits behind a batch
MAX_PENDING = MAX_BATCH  # events waiting for the UI before the worker waits for it to paint
# A stream of events is applied at most this often (10 frames a second; 120k events/s with MAX_BATCH): see EventFeed.
# 0.04 s gave a flood 25 paints a second, each ~10 ms of the UI's time, besides those the keys need: at 0.1 s, paired
# runs took a flood ~1.8x faster with keys painted sooner (medians of 5 pairs: 32k vs 18k lines/s, p50 52 vs 95 ms).
BATCH_INTERVAL_S = 0.1
YIELD_EVERY = 128  # the worker offers the GIL to the UI this often (in events, ~0.5 ms of a flood's work)
ROOM_WAIT_S = 0.25  # the worker re-checks for cancellation this often while it waits for the UI
ANSWER_POLL_S = 0.25  # a worker waiting for an answer re-checks this often whether the run is being stopped


class EventFeed:
    """Events on their way from a worker thread to one message target (a screen), with back-pressure.

    An event arriving after a quiet spell is shown at once. A stream of them (a flood of log lines) is applied in
    batches at most every `interval` seconds: painting the screen costs about the same for 10 lines as for 5000
    (only the visible ones are drawn), so a frame per small batch spent the UI's time painting lines nobody can
    read, and a key pressed meanwhile waited behind those frames.
    """

    def __init__(
        self,
        target: MessagePump,
        *,
        max_batch: int = MAX_BATCH,
        max_pending: int = MAX_PENDING,
        interval: float = BATCH_INTERVAL_S,
    ) -> None:
        self.target = target
        self.max_batch = max_batch
        self.max_pending = max_pending
        self.interval = interval
        self._taken_at = 0.0  # when the UI last took a batch (monotonic)
        self._pending: list[Event] = []
        self._announced = False  # an EventsArrived for this feed is on its way and not handled yet
        self._room = threading.Condition(threading.Lock())
        self.closed = False
        self.abandoned: Callable[[], bool] = lambda: False  # the worker was cancelled: never wait for the UI

    def put(self, event: Event) -> None:
        """From the worker thread: queue `event`; tell the target when it is the first one waiting."""
        with self._room:
            if self.closed:
                return  # nobody will read it: the screen is gone or the run was abandoned
            self._pending.append(event)
            if self._announced:
                while len(self._pending) >= self.max_pending and not (self.closed or self.abandoned()):
                    # The UI is far behind: wait for it (the pipeline's own output waits with us).
                    self._room.wait(ROOM_WAIT_S)
                return
            self._announced = True
        self.target.post_message(EventsArrived(self))

    def take(self) -> list[Event]:
        """From the UI thread: the events waiting (at most `max_batch`), progress merged to its latest value.

        The next message for this feed is posted only after the screen has painted: one batch per frame, so the
        screen goes idle between batches and a key pressed during a flood is painted in the next frame.
        """
        with self._room:
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
        self._taken_at = time.monotonic()
        self.target.call_after_refresh(self._painted)
        return merge_progress(batch)

    def _painted(self) -> None:
        """In the UI thread, after the batch was painted: announce the next one, `interval` after this one."""
        wait = self._taken_at + self.interval - time.monotonic()
        if wait > 0.001:
            self.target.set_timer(wait, self._announce_more)
        else:
            self._announce_more()

    def _announce_more(self) -> None:
        with self._room:
            more = bool(self._pending) and not self.closed
            self._announced = more
            # The worker waits from a full batch until here: the UI works and paints without competing with it
            # for the GIL (which, not the CPU, made keys wait during a flood).
            self._room.notify_all()
        if more:
            self.target.post_message(EventsArrived(self))

    def drain(self) -> None:
        """From the worker thread: wait until the UI has taken every event (so that what follows comes after)."""
        with self._room:
            while self._pending and not (self.closed or self.abandoned()):
                self._room.wait(ROOM_WAIT_S)

    def close(self) -> None:
        """Drop what is waiting and every later event; a waiting worker goes on at once."""
        with self._room:
            self.closed = True
            self._pending = []
            self._room.notify_all()


def merge_progress(batch: list[Event]) -> list[Event]:
    """The batch without phase-wide progress events that a later progress of the same phase in it supersedes.
    Per-node progress (`nodes` set) is always kept: each is the only word on its nodes' state."""
    if sum(1 for e in batch if type(e) is PhaseProgress) < 2:
        return batch
    seen: set = set()
    kept: list[Event] = []
    for event in reversed(batch):
        if type(event) is PhaseProgress:
            if event.phase in seen and not event.nodes:
                continue
            seen.add(event.phase)
        kept.append(event)
    kept.reverse()
    return kept


def run_events(
    kind: str,
    gen: Generator[Event, None, Any],
    feed: EventFeed,
    *,
    cancel: Callable[[], None],
) -> None:
    """Iterate `gen` in the current thread worker, feeding its events to `feed`; post `RunFinished` at the end.

    A cancelled worker (its screen closed, the app quitting) calls `cancel` once: the pipeline then stops safely
    at its next step and says so in its events, so the generator is still run to its end. A stop that was asked
    for ends as `RunFinished(stopped=True)`, not as an error; every other exception propagates to the worker's
    error state, where the App's one router shows it.
    """
    worker = get_current_worker()
    feed.abandoned = lambda: worker.is_cancelled
    _run(kind, gen, feed, cancel=cancel, worker=worker)


def _run(kind: str, gen: Generator[Event, None, Any], feed: EventFeed, *, cancel: Callable[[], None], worker) -> None:
    cancel_sent = False
    count = 0
    try:
        while True:
            count += 1
            if count % YIELD_EVERY == 0:
                # A thread that wants the GIL gets it only when the holder blocks or after the switch interval
                # (5 ms): the UI, which lets go of it at every turn of its event loop, waited that long for it back
                # several times per key while a flood kept the worker busy. Offering it here bounds that wait.
                time.sleep(0)
            if not cancel_sent and worker.is_cancelled:
                cancel_sent = True
                cancel()
                feed.close()  # nobody is looking any more: the rest of the run only needs to end safely
            try:
                event = next(gen)
            except StopIteration as stop:
                result = stop.value
                break
            feed.put(event)
        feed.drain()
    except Interrupted as exc:
        feed.drain()
        feed.target.post_message(RunFinished(kind, None, stopped=True, reason=exc.message))
        return
    feed.target.post_message(RunFinished(kind, result))


QUESTION_TIMEOUT_S = 600.0  # a question asked during a run waits this long for the user, then counts as No


@dataclass(frozen=True)
class Answer:
    """What became of a question asked from a worker: `how` is "answered", "timed out" or "stopped"."""

    value: Any
    how: str

    @property
    def yes(self) -> bool:
        return self.how == "answered" and bool(self.value)

    def said(self, *, timeout: float, yes: str, no: str, run: str) -> str:
        """The answer in one sentence for the log pane and the run log; `yes`/`no` name the two choices, `run`
        what is running ("deploy", "teardown"). Anything but a Yes is taken as `no`."""
        if self.how == "answered":
            return f"Answer: {yes if self.yes else no}."
        if self.how == "timed out":
            return f"No answer within {_duration(timeout)}: taken as {no}."
        return f"Not answered, the {run} is stopping: taken as {no}."


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} minutes" if seconds >= 60 else f"{seconds:g} seconds"


_UNANSWERED = object()


def ask(app: Any, dialog: Any, *, timeout: float, stopped: Callable[[], bool]) -> Answer:
    """From a worker thread: show `dialog` (a ModalScreen) and block until it is answered, for at most `timeout` s.

    `stopped` is polled while waiting (the run is being stopped, the screen closed, the app quitting): the wait then
    ends at once. A question not answered is withdrawn from the screen (or, when another screen covers it, told to
    `expire()`), so a late answer can never act on a run that has moved on.
    """
    answered: concurrent.futures.Future = concurrent.futures.Future()
    # call_later posts a message, which is thread-safe and never blocks (call_from_thread would wait forever for
    # an app whose loop is stopping); False means the app is closing: nobody can answer.
    if stopped() or not app.call_later(app.push_screen, dialog, lambda value: answer_with(answered, value)):
        return Answer(None, "stopped")
    answer = wait_for(answered, timeout=timeout, stopped=stopped)
    if answer.how != "answered":
        app.call_later(_withdraw, app, dialog)
    return answer


def wait_for(answered: concurrent.futures.Future, *, timeout: float, stopped: Callable[[], bool]) -> Answer:
    """From a worker thread: wait for the UI to give `answered` its value (with `answer_with`), for at most `timeout`
    s, ending at once when `stopped()` says so. A question that asks in place, not in a dialog, waits with this; an
    answer given after the wait ended changes nothing (`answer_with` then returns False)."""
    deadline = time.monotonic() + timeout
    how = "timed out"
    while (left := deadline - time.monotonic()) > 0:
        try:
            return Answer(answered.result(timeout=min(ANSWER_POLL_S, left)), "answered")
        except concurrent.futures.TimeoutError:
            pass
        if stopped():
            how = "stopped"
            break
    try:
        answered.set_result(_UNANSWERED)  # from now on a click on the question changes nothing
    except concurrent.futures.InvalidStateError:
        return Answer(answered.result(), "answered")  # answered just as the wait ended: the answer counts
    return Answer(None, how)


def answer_with(answered: concurrent.futures.Future, value: Any) -> bool:
    """From the UI thread: answer a question a worker waits for; False when it was answered or withdrawn already
    (the worker may have given up on it at this very moment: then the answer changes nothing)."""
    try:
        answered.set_result(value)
    except concurrent.futures.InvalidStateError:
        return False
    return True


def _withdraw(app: Any, dialog: Any) -> None:
    """In the UI thread: close an unanswered question, or disarm it when another screen lies on top of it."""
    if app.screen is dialog:
        dialog.dismiss(None)
    elif dialog in app.screen_stack and hasattr(dialog, "expire"):
        dialog.expire()
