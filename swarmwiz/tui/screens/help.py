"""F1 help: what the current step is for and the keys that work everywhere."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Label, Static

GENERAL = """\
Keys that work everywhere
  Tab / Shift+Tab   move between fields and buttons
  Enter / Space     press the focused button, pick the highlighted row
  Escape            go back one step (nothing is lost)
  F1                this help
  Ctrl+Q            quit (asks first while a deploy or teardown runs)

Nothing is created in your cloud account before you confirm Deploy on the Review step.
Credentials go to the OS keyring, never to a file. Each cluster has a workspace folder with a plain
Terraform module and cluster.toml: `swarmwiz list` shows where."""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "close", "Close", show=False)]

    def __init__(self, under: Screen) -> None:
        super().__init__()
        self.topic = getattr(under, "HELP", "") or ""
        self.step = getattr(under, "TITLE", "") or ""

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog help"):
            yield Label(f"Help: {self.step}" if self.step else "Help", classes="dialog-title")
            with VerticalScroll(classes="dialog-scroll"):
                if self.topic:
                    yield Static(self.topic, classes="dialog-body", markup=False)
                yield Static(GENERAL, classes="dialog-body", markup=False)
            yield Button("Close", id="close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#close").focus()

    def on_button_pressed(self) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
