"""The deploy screen's log pane under a flood: RunLog paints what Textual's Log paints, keeps the newest lines, and
the event feed applies a stream of events in few, large batches without losing or reordering any."""

from __future__ import annotations

import threading
import time

from textual.app import App, ComposeResult
from textual.widgets import Log

from swarmwiz.core.events import LogLine, Phase
from swarmwiz.tui.bridge import EventFeed
from swarmwiz.tui.messages import EventsArrived
from swarmwiz.tui.widgets.runpanel import RunLog

LINES = [
    'scaleway_instance_server.node["worker-01"]: Still creating... [10s elapsed]',
    "\ttabbed\tcolumns",
    "bell\x07 and carriage\r return and escape \x1b[31mred\x1b[0m",
    "wide: 日本語 and emoji 🚀",
    "",
    "x" * 300,
]


class TwoLogs(App):
    def compose(self) -> ComposeResult:
        yield Log(id="log", max_lines=50)
        yield RunLog(id="run", max_lines=50)


async def test_run_log_paints_like_log_and_keeps_the_newest_lines():
    app = TwoLogs()
    async with app.run_test(size=(80, 30)) as pilot:
        log, run = app.query_one("#log", Log), app.query_one("#run", RunLog)
        for widget in (log, run):
            widget.write_lines(LINES)
        app.set_focus(None)  # a focused pane has another background
        await pilot.pause()
        assert run.lines == log.lines and run.virtual_size == log.virtual_size
        for y in range(len(LINES) + 1):
            for x in (0, 5):
                assert list(run._render_line(y, x, 40)) == list(log._render_line(y, x, 40)), (y, x)
        # A batch longer than the pane keeps: its last max_lines, as Log would after writing it all.
        many = [f"line {i}" for i in range(120)]
        for widget in (log, run):
            widget.write_lines(many)
        await pilot.pause()
        assert run.lines == log.lines == many[-50:]


class FeedTarget(App):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list] = []

    def compose(self) -> ComposeResult:
        yield RunLog(id="run", max_lines=100_000)

    def on_events_arrived(self, message: EventsArrived) -> None:
        batch = message.take()
        self.batches.append(batch)
        self.query_one(RunLog).write_lines([e.text for e in batch])


async def test_a_stream_arrives_whole_in_order_in_few_batches():
    app = FeedTarget()
    async with app.run_test(size=(80, 24)) as pilot:
        feed = EventFeed(app, max_batch=5000, max_pending=5000, interval=0.04)
        n = 30_000

        def produce() -> None:
            for i in range(n):
                feed.put(LogLine(Phase.APPLY, f"line {i}"))

        thread = threading.Thread(target=produce)
        started = time.monotonic()
        thread.start()
        while len(app.query_one(RunLog).lines) < n and time.monotonic() - started < 30:
            await pilot.pause(0.05)
        thread.join(5)
        took = time.monotonic() - started
        assert app.query_one(RunLog).lines == [f"line {i}" for i in range(n)]
        # Batches follow each other at most every 40 ms (a frame per small batch was what made keys wait) ...
        assert len(app.batches) <= took / 0.04 + 2, (len(app.batches), took)
        # ... and one arriving alone after a quiet spell is shown at once, not 40 ms later.
        await pilot.pause(0.1)
        before = len(app.batches)
        sent = time.monotonic()
        feed.put(LogLine(Phase.APPLY, "alone"))
        while len(app.batches) == before and time.monotonic() - sent < 5:
            await pilot.pause(0.001)
        assert app.batches[-1][0].text == "alone"
