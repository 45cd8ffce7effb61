"""SSH: pick a public key from ~/.ssh or generate a new ed25519 key; the networks allowed to reach port 22 (this
machine's public address suggested, a range open to the whole internet warned about)."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from swarmwiz.flows.draft import ANYWHERE, Draft, problems
from swarmwiz.flows.myaddress import OWN_ADDRESS, whole_internet_warning
from swarmwiz.tui.screens.base import DraftScreen
from swarmwiz.tui.widgets.topbar import TopBar


class SshScreen(DraftScreen):
    TITLE = "6/7 SSH access"
    STEP = "ssh"
    HELP = (
        "Your public key lets you, and swarmwiz, log in to every server as root over SSH. Press g to create a\n"
        "new key in ~/.ssh (swarmwiz_ed25519, without a passphrase); an existing key is never overwritten.\n"
        "Enter on a key moves to the addresses allowed to connect. swarmwiz asks Cloudflare which address this\n"
        "computer comes from and suggests it, written like 203.0.113.7/32 (that one address only). If you will\n"
        "also connect from somewhere else, add that address after a comma. 0.0.0.0/0 lets anyone on the\n"
        "internet try to log in, which is less safe. Enter there goes on. The servers talk to each other over a\n"
        "private network that is never public."
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
                yield Input(", ".join(self.draft.allowed_cidrs), id="cidrs", placeholder="203.0.113.7/32")
            yield Static("", id="whole-internet", classes="warning", markup=False)
            yield Static("", id="address", classes="hint", markup=False)
            yield Static("", id="chosen", markup=False)
            yield Static("", id="problems", classes="problems", markup=False)
        yield from self.nav()
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self._fill(self.services.ssh_public_keys(), self.draft.public_key)
        self.own_cidr: str | None = None
        self.looking = self.draft.allowed_cidrs == ANYWHERE
        self._show_warning()
        if self.looking:
            self.find_public_address()

    @work(thread=True, name="find public address", group="public address", exclusive=True, exit_on_error=False)
    def find_public_address(self) -> None:
        # Up to a few seconds on a slow network: the field stays editable meanwhile.
        cidr = self.services.public_cidr()
        self.app.call_from_thread(self._found_address, cidr)

    def _found_address(self, cidr: str | None) -> None:
        if not self.is_attached:
            return  # the user went on (or back) before the answer came
        self.looking, self.own_cidr = False, cidr
        field = self.query_one("#cidrs", Input)
        if cidr and field.value.strip() == ", ".join(ANYWHERE):  # still the default: nothing typed is replaced
            field.value = cidr
        self._show_warning()

    @on(Input.Changed, "#cidrs")
    def _show_warning(self) -> None:
        own = getattr(self, "own_cidr", None)
        warning = whole_internet_warning(_split(self.query_one("#cidrs", Input).value), own)
        self.query_one("#whole-internet", Static).update(f"Warning: {warning}" if warning else "")
        # The address found, once: the warning names it when it shows.
        if getattr(self, "looking", False):
            hint = "Looking up this computer's public address..."
        else:
            hint = OWN_ADDRESS.format(cidr=own) if own and not warning else ""
        self.query_one("#address", Static).update(hint)

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
        cidrs = _split(self.query_one("#cidrs", Input).value)
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


def _split(text: str) -> tuple[str, ...]:
    """The ranges typed in the field: separated by commas (or semicolons), blanks ignored."""
    return tuple(c.strip() for c in text.replace(";", ",").split(",") if c.strip())


def _key_kind(path: Path) -> str:
    try:
        parts = path.read_text(errors="replace").split()
    except OSError:
        return "(unreadable)"
    return " ".join(parts[:1] + parts[2:3])
