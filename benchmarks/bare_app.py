"""The baseline for start-up and idle CPU: a minimal Textual app, started the same way swarmwiz is."""

from textual.app import App, ComposeResult
from textual.widgets import Static

MARKER = "bare textual first frame"


class BareApp(App):
    def compose(self) -> ComposeResult:
        yield Static(MARKER)


if __name__ == "__main__":
    BareApp().run()
