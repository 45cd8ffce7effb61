"""SSH: pick a public key from ~/.ssh or generate a new ed25519 key; the networks allowed to reach port 22."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from swarmwiz.tui.draft import Draft, problems
from swarmwiz.tui.screens.base import DraftScreen
from swarmwiz.tui.widgets.topbar import TopBar


class SshScreen(DraftScreen):
    TITLE = "6/7 SSH access"
    STEP = "ssh"
    HELP = (
        "Your public key lets you, and swarmwiz, log in to every server as root over SSH. Press g to create a\n"
        "new key in ~/.ssh (swarmwiz_ed25519, without a passphrase); an existing key is never overwritten.\n"
        "Enter on a key moves to the addresses allowed to connect: write them like 203.0.113.7/32 (your own\n"
        "address) and separate several with commas. 0.0.0.0/0 lets the whole internet try, which is less safe.\n"
        "Enter there goes on. The servers talk to each other over a private network that is never public."
    )
    BINDINGS = [
        Binding("g", "generate", "Generate key", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield TopBar()
        with VerticalScroll(classes="body"):
            yield Static("Public key for the nodes", classes="section")
            yield OptionList(id="keys")
            with Horizontal(classes="buttons"):
                yield Button("Generate a new ed25519 key \\[g]", id="generate")
            with Horizontal(classes="field"):
                yield Label("SSH allowed from")
                yield Input(", ".join(self.draft.allowed_cidrs), id="cidrs", placeholder="0.0.0.0/0")
            yield Static("", id="chosen", markup=False)
            yield Static("", id="problems", classes="problems", markup=False)
        yield from self.nav()
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self._fill(self.services.ssh_public_keys(), self.draft.public_key)

    def _fill(self, keys: list[Path], chosen: str) -> None:
        options = self.query_one("#keys", OptionList)
        options.clear_options()
        if not keys:
            options.add_option(
                Option(f"No public keys in {self.services.ssh_dir}: press g to generate one.", id="", disabled=True)
            )
            self.query_one("#generate", Button).focus()
            return
        options.add_options([Option(f"{k.name}  {_key_kind(k)}", id=str(k)) for k in keys])
        paths = [str(k) for k in keys]
        options.highlighted = paths.index(chosen) if chosen in paths else 0
        self.chosen = chosen if chosen in paths else paths[0]
        self._show_chosen()
        options.focus()

    def _show_chosen(self) -> None:
        self.query_one("#chosen", Static).update(f"Key: {getattr(self, 'chosen', '') or '(none)'}")

    @on(OptionList.OptionHighlighted, "#keys")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id:
            self.chosen = event.option.id
            self._show_chosen()

    @on(OptionList.OptionSelected, "#keys")
    def _selected(self) -> None:
        self.query_one("#cidrs", Input).focus()

    @on(Button.Pressed, "#generate")
    def action_generate(self) -> None:
        self.query_one("#generate", Button).disabled = True
        self.generate()

    @work(thread=True, name="generate ssh key", group="generate ssh key", exclusive=True, exit_on_error=False)
    def generate(self) -> None:
        path = self.services.generate_ssh_key()
        self.app.call_from_thread(self._generated, path)

    def _generated(self, path: Path) -> None:
        self.query_one("#generate", Button).disabled = False
        self._fill(self.services.ssh_public_keys(), str(path))
        self.query_one("#chosen", Static).update(f"Key: {path} (new; private key {path.with_suffix('')})")

    def worker_failed(self, name: str, exc: BaseException) -> None:
        self.query_one("#generate", Button).disabled = False

    def collect(self) -> Draft:
        text = self.query_one("#cidrs", Input).value
        cidrs = tuple(c.strip() for c in text.replace(";", ",").split(",") if c.strip())
        return self.draft.update(public_key=getattr(self, "chosen", "") or "", allowed_cidrs=cidrs)

    @on(Input.Submitted, "#cidrs")
    @on(Button.Pressed, "#next")
    def next(self) -> None:
        draft = self.collect()
        found = (
            problems(draft, "ssh")
            if draft.public_key
            else ["ssh.public_key: choose a public key, or press g to generate one"]
        )
        self.query_one("#problems", Static).update("\n".join(found))
        if found:
            return
        self.dismiss(draft)


def _key_kind(path: Path) -> str:
    try:
        parts = path.read_text(errors="replace").split()
    except OSError:
        return "(unreadable)"
    return " ".join(parts[:1] + parts[2:3])
