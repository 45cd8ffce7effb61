"""What every wizard screen shares: the step title, the Back sentinel, and routing worker failures to the App; and
what the screens that run an operation (deploy, teardown) share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button
from textual.worker import Worker

if TYPE_CHECKING:
    from swarmwiz.core.events import Phase
    from swarmwiz.flows.draft import Draft
    from swarmwiz.tui.app import SwarmwizApp
    from swarmwiz.tui.messages import EventsArrived
    from swarmwiz.tui.services import Services


class _Back:
    """Returned by a step whose user chose to go back."""

    def __repr__(self) -> str:
        return "BACK"


BACK: Any = _Back()


class WizardScreen(Screen):
    """A step of the wizard. Subclasses set TITLE; they dismiss with their value, or BACK."""

    TITLE = ""
    STEP = ""
    BINDINGS = [
        # Buttons take no arrows themselves: left/right move along the bottom bar (Back, Re-plan, Deploy...).
        Binding("left", "nav_move(-1)", "Previous button", show=False),
        Binding("right", "nav_move(1)", "Next button", show=False),
    ]

    @property
    def wizard(self) -> SwarmwizApp:
        return self.app  # type: ignore[return-value]

    @property
    def services(self) -> Services:
        return self.wizard.services

    def on_mount(self) -> None:
        self.show_title(self.TITLE)

    def show_title(self, text: str) -> None:
        """The step's name in this screen's top bar."""
        from swarmwiz.tui.widgets.topbar import TopBar

        for bar in self.query(TopBar):
            bar.show_step(text)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # One router for every worker's failure: the App decides between a dialog, a notification, or exiting.
        self.wizard.route_worker_state(event)

    def action_back(self) -> None:
        self.dismiss(BACK)

    def action_nav_move(self, step: int) -> None:
        focused = self.focused
        if not isinstance(focused, Button) or focused.parent is None or not focused.parent.has_class("nav"):
            return
        buttons = [b for b in focused.parent.query(Button) if b.focusable]
        if focused in buttons:
            buttons[max(0, min(len(buttons) - 1, buttons.index(focused) + step))].focus()


class RunScreen(WizardScreen):
    """A screen that runs one pipeline operation in a thread worker (deploy, teardown): its events reach the
    screen's RunPanel through `feed`; what the user is asked meanwhile goes to the log pane and the run log (`say`)."""

    def __init__(self, *, question_timeout: float) -> None:
        from swarmwiz.tui.bridge import EventFeed

        super().__init__()
        self.question_timeout = question_timeout  # a question waits this long for the user, then counts as No
        self.run_log = None  # the run log while the operation runs: questions and answers are written to it too
        self.feed = EventFeed(self)

    def say(self, phase: Phase, text: str) -> None:
        """From the worker thread: a line in the log pane and in the run log."""
        from swarmwiz.core.events import Notice

        notice = Notice(phase, text)
        if self.run_log is not None:
            self.run_log.event(notice)
        self.feed.put(notice)

    def on_events_arrived(self, message: EventsArrived) -> None:
        from swarmwiz.tui.widgets.runpanel import RunPanel

        self.query_one(RunPanel).feed(message.take())


class DraftScreen(WizardScreen):
    """A step that edits the draft cluster: Escape or the Back button go back; `nav()` gives the Back/Next bar."""

    BINDINGS = [
        Binding("escape", "back", "Back", show=False),
        Binding("ctrl+n", "next", "Next step", tooltip="Go on to the next step when this one is complete"),
    ]

    def __init__(self, draft: Draft) -> None:
        super().__init__()
        self.draft = draft

    def nav(self, *extra: Widget) -> ComposeResult:
        """The bottom bar: `extra` (hints) then Back and Next."""
        yield Horizontal(*extra, Button("Back", id="back"), Button("Next", id="next", variant="primary"), classes="nav")

    @on(Button.Pressed, "#back")
    def _back(self) -> None:
        self.action_back()

    def action_next(self) -> None:
        """Ctrl+N and Enter in a step's last field: check the step and go on if it is complete."""
        self.next()

    def next(self) -> None:
        raise NotImplementedError
