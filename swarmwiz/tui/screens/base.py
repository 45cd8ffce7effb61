"""What every wizard screen shares: the step title, the Back sentinel, and routing worker failures to the App."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.screen import Screen
from textual.worker import Worker

if TYPE_CHECKING:
    from swarmwiz.tui.app import SwarmwizApp
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

    @property
    def wizard(self) -> SwarmwizApp:
        return self.app  # type: ignore[return-value]

    @property
    def services(self) -> Services:
        return self.wizard.services

    def on_mount(self) -> None:
        self.wizard.set_step(self.STEP, self.TITLE)

    def on_screen_resume(self) -> None:
        self.wizard.set_step(self.STEP, self.TITLE)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # One router for every worker's failure: the App decides between a dialog, a notification, or exiting.
        self.wizard.route_worker_state(event)

    def action_back(self) -> None:
        self.dismiss(BACK)
