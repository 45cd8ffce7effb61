"""Ask before deleting: a ModalScreen[bool] listing what would be deleted; Stop (focused) or Escape is False."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class DeletionDialog(ModalScreen[bool]):
    """`items` are what would be deleted, one line each, as a person recognises them (kind, name, id, zone).

    Only the "Delete and continue" button answers True; a question that nobody answered in time is `expire`d by
    the worker that asked it (the button goes away and the dialog only closes).
    """

    BINDINGS = [
        Binding("escape", "stop", "Stop", show=False),
        # As in ConfirmDialog: the arrows move between the answers.
        Binding("left,up", "app.focus_previous", "Previous answer", show=False),
        Binding("right,down", "app.focus_next", "Next answer", show=False),
    ]

    def __init__(
        self, title: str, intro: str, items: list[str], *, after: str = "", delete_label: str = "Delete and continue"
    ) -> None:
        super().__init__()
        self.title_text = title
        self.intro = intro
        self.items = items
        self.after = after
        self.delete_label = delete_label
        self.expired = False  # the asking worker gave up: no answer can delete anything any more

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog error deletion"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.intro, classes="dialog-body", markup=False)
            with VerticalScroll(classes="dialog-scroll", id="items"):
                for item in self.items:
                    # Names come from the cloud: never read as markup.
                    yield Static(f"• {item}", classes="dialog-body deletion-item", markup=False)
            # The answers (and what Stop means) stay at the bottom, whatever the length of the list.
            with Vertical(classes="deletion-foot"):
                yield Static(self.after, classes="dialog-body", id="after", markup=False)
                with Horizontal(classes="dialog-buttons"):
                    yield Button("Close" if self.expired else "Stop", id="stop", variant="primary")
                    if not self.expired:
                        yield Button(self.delete_label, id="delete", variant="error")

    def on_mount(self) -> None:
        # The safe answer has the focus: Enter alone never deletes anything.
        self.query_one("#stop", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "delete" and not self.expired)

    def action_stop(self) -> None:
        self.dismiss(False)

    def expire(self, reason: str = "Nobody answered in time: the deploy went on as if Stop was chosen.") -> None:
        """The question is no longer asked: only closing the dialog remains possible."""
        self.expired = True
        self.after = reason  # also when the dialog is composed after this
        for button in self.query("#delete"):
            button.remove()
        for button in self.query("#stop").results(Button):
            button.label = "Close"
        for after in self.query("#after").results(Static):
            after.update(reason)
