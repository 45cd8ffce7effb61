"""Credentials: Scaleway keys and project, Cloudflare token; masked, saved to the OS keyring, checked live."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Footer, Input, Label, Static

from swarmwiz.flows.draft import Draft
from swarmwiz.tui.screens.base import WizardScreen
from swarmwiz.tui.widgets.topbar import TopBar

# (attribute, label, masked, placeholder); the attributes are core.credentials.FIELDS' (not imported: it is fast
# to draw this screen before the keyring module loads).
FIELDS = (
    ("scw_access_key", "Scaleway access key", False, "SCW..."),
    ("scw_secret_key", "Scaleway secret key", True, "a UUID"),
    ("scw_project_id", "Scaleway project ID", False, "a UUID"),
    ("cloudflare_token", "Cloudflare API token", True, "40+ characters, with DNS:Edit"),
)
SOURCE_TEXT = {
    "env": "from the environment",
    "keyring": "from the OS keyring",
    "lab": "provided by the lab",
    "missing": "",
}


class CredentialsScreen(WizardScreen):
    TITLE = "1/7 Credentials"
    STEP = "credentials"
    HELP = (
        "swarmwiz needs a Scaleway API key (an access key and its secret key), the Scaleway project to create the\n"
        "servers in, and a Cloudflare API token that may edit the DNS records of your domain. They are kept in\n"
        "your system's password store, never in a file. Check tries them and says which one fails and why.\n"
        "Enter moves to the next field and, in the last one, goes on. In lab mode the lab provides them."
    )
    BINDINGS = [
        Binding("escape", "back", "Back", show=False),
        Binding("ctrl+n", "next", "Next step", tooltip="Save the credentials and go on"),
    ]

    def __init__(self, draft: Draft) -> None:
        super().__init__()
        self.draft = draft
        self.sources: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield TopBar()
        with VerticalScroll(classes="body"):
            yield Static(
                "Where swarmwiz creates things. Nothing is created before you confirm the plan.", classes="hint"
            )
            for attr, label, masked, placeholder in FIELDS:
                with Horizontal(classes="field"):
                    yield Label(label)
                    yield Input(id=attr, password=masked, placeholder=placeholder)
                yield Static("", id=f"{attr}-result", classes="check-result")
            yield Static("", id="note", classes="hint")
        with Horizontal(classes="nav"):
            yield Button("Back", id="back")
            yield Button("Check", id="check")
            yield Button("Next", id="next", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#note", Static).update("Loading stored credentials...")
        self.load()

    @work(thread=True, name="load credentials", group="load credentials", exclusive=True, exit_on_error=False)
    def load(self) -> None:
        creds, sources = self.services.load_credentials()
        self.app.call_from_thread(self._fill, creds, sources)

    def _fill(self, creds, sources: dict[str, str]) -> None:
        self.sources = sources
        lab = all(s == "lab" for s in sources.values())
        for attr, *_ in FIELDS:
            field = self.query_one(f"#{attr}", Input)
            field.value = creds.value(attr) or ""
            field.disabled = lab
            self.query_one(f"#{attr}-result", Static).update(SOURCE_TEXT.get(sources.get(attr, ""), ""))
        note = (
            "The lab provides these credentials; press Next."
            if lab
            else ("Saved to the OS keyring when you press Next. Environment variables win over the keyring.")
        )
        self.query_one("#note", Static).update(note)
        self.query_one("#next" if lab else "#scw_access_key").focus()

    def entered(self):
        from swarmwiz.core.credentials import Credentials

        return Credentials(**{attr: self.query_one(f"#{attr}", Input).value.strip() or None for attr, *_ in FIELDS})

    def show_checks(self, checks) -> None:
        for check in checks:
            mark = "[green]✓[/]" if check.ok else "[red]✗[/]"
            self.query_one(f"#{check.attr}-result", Static).update(f"{mark} {_escape(check.message)}")

    # -- actions ------------------------------------------------------------------------------------------------
    @on(Button.Pressed, "#back")
    def _back(self) -> None:
        self.action_back()

    @on(Button.Pressed, "#check")
    def action_check(self) -> None:
        self.query_one("#check", Button).disabled = True
        self.query_one("#note", Static).update("Checking with Scaleway and Cloudflare...")
        self.check(self.entered())

    @work(thread=True, name="check credentials", group="check credentials", exclusive=True, exit_on_error=False)
    def check(self, creds) -> None:
        checks = self.services.check_credentials(creds)
        self.app.call_from_thread(self._checked, checks)

    def _checked(self, checks) -> None:
        self.show_checks(checks)
        self.query_one("#check", Button).disabled = False
        bad = [c for c in checks if not c.ok]
        self.query_one("#note", Static).update(
            "All four credentials work." if not bad else f"{len(bad)} credential(s) need attention (see above)."
        )

    def worker_failed(self, name: str, exc: BaseException) -> None:
        self.query_one("#check", Button).disabled = False
        self.query_one("#next", Button).disabled = False
        self.query_one("#note", Static).update("")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.input.id == FIELDS[-1][0]:
            self.next()
        else:
            self.focus_next()

    def action_next(self) -> None:
        self.next()

    @on(Button.Pressed, "#next")
    def next(self) -> None:
        from swarmwiz.core.credentials import check_format

        creds = self.entered()
        bad = [c for c in check_format(creds) if not c.ok]
        if bad:
            self.show_checks(check_format(creds))
            self.query_one("#note", Static).update("Fix the credentials marked ✗ first.")
            self.query_one(f"#{bad[0].attr}", Input).focus()
            return
        self.query_one("#next", Button).disabled = True
        self.save(creds)

    @work(thread=True, name="save credentials", group="save credentials", exclusive=True, exit_on_error=False)
    def save(self, creds) -> None:
        from swarmwiz.core.credentials import Credentials

        # Values from the environment stay there (they win anyway); only typed or stored ones go to the keyring.
        keep = {attr: creds.value(attr) for attr, *_ in FIELDS if self.sources.get(attr) not in ("env", "lab")}
        if any(keep.values()):
            self.services.save_credentials(Credentials(**keep))
        self.app.call_from_thread(self._saved, creds)

    def _saved(self, creds) -> None:
        self.dismiss(creds)  # the flow keeps them for the steps that call the APIs


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
