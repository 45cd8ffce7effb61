"""The one-line bar at the top: app name, the current step, and a LAB badge in lab mode."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label


class TopBar(Horizontal):
    """Every screen composes one and sets its step with `show_step`; it follows the App's `lab` and `status_text`."""

    def compose(self) -> ComposeResult:
        yield Label("swarmwiz", id="tb-brand")
        yield Label("", id="tb-step")
        yield Label("", id="tb-status")
        if getattr(self.app, "lab", False):
            yield Label(" LAB ", id="lab-badge")

    def on_mount(self) -> None:
        self.watch(self.app, "status_text", self._show_status)

    def show_step(self, text: str) -> None:
        self.query_one("#tb-step", Label).update(text)

    def _show_status(self, text: str) -> None:
        self.query_one("#tb-status", Label).update(text)
