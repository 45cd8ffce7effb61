"""Yes/no confirmation as a ModalScreen[bool]: Escape or No is False, only an explicit Yes is True."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class ConfirmDialog(ModalScreen[bool]):
    """Ask one question; `yes_label` names the action (e.g. "Deploy") so the button says what it does."""

    BINDINGS = [
        Binding("escape", "answer(False)", "Cancel", show=False),
        # The arrows move between the answers, so a dialog is answered with the arrows and Enter alone.
        Binding("left,up", "app.focus_previous", "Previous answer", show=False),
        Binding("right,down", "app.focus_next", "Next answer", show=False),
    ]

    def __init__(
        self, title: str, question: str, *, yes_label: str = "Yes", no_label: str = "No", danger: bool = False
    ) -> None:
        super().__init__()
        self.title_text = title
        self.question = question
        self.yes_label = yes_label
        self.no_label = no_label
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.question, classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.no_label, id="no")
                yield Button(self.yes_label, id="yes", variant="error" if self.danger else "primary")

    def on_mount(self) -> None:
        # The safe answer has the focus: Enter alone never confirms something destructive.
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)
