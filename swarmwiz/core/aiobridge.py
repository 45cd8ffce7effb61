"""Running asyncio work (SSH to the nodes) from the pipeline's synchronous event generators, one loop a phase."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from swarmwiz.core import events as ev
from swarmwiz.core.errors import Interrupted


def run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def run_async(
    factory: Callable[[Callable[[ev.Event], None]], Coroutine[Any, Any, Any]],
    cancelled: threading.Event | None = None,
) -> Generator[ev.Event, None, Any]:
    """Run an async phase in its own thread and loop, yielding the events it emits while it runs.

    When `cancelled` is set the phase is abandoned (its remote commands are idempotent, so a re-run converges)
    and Interrupted is raised.
    """
    q: queue.Queue = queue.Queue()
    done = object()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(factory(q.put))
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc
        finally:
            q.put(done)

    thread = threading.Thread(target=target, name="swarmwiz-async-phase", daemon=True)
    thread.start()
    while True:
        try:
            item = q.get(timeout=0.2)
        except queue.Empty:
            if cancelled is not None and cancelled.is_set():
                raise Interrupted("stopped while waiting on the nodes; run deploy again to continue") from None
            continue
        if item is done:
            break
        yield item
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
