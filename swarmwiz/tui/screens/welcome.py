"""Welcome: what swarmwiz does, the clusters known here (status, tear down), or start a new one; and, checked in the
background, what a first run still needs (the checks of `swarmwiz doctor`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Footer, Label, Static

from swarmwiz.tui.screens.base import WizardScreen
from swarmwiz.tui.widgets.topbar import TopBar

if TYPE_CHECKING:
    from swarmwiz.flows.doctor import Finding, Progress, Report
    from swarmwiz.tui.services import Services

log = logging.getLogger(__name__)

INTRO = (
    "swarmwiz stands up a Docker Swarm cluster on Scaleway, with Cloudflare DNS pointing at it, "
    "and tears it down again. It asks a few questions, shows the cost and the plan, then builds it."
)

DOCTOR_NETWORK = True
"""The welcome screen's checks include the APIs, the clock and the live credential checks, as `swarmwiz doctor`
does (each has its own timeout). The wizard's tests turn this off: those checks would reach the real APIs."""

BUTTONS = ("new", "status", "teardown")


class ClusterTable(DataTable):
    """The clusters known here; the arrow down on the last row (or up on the first) leaves for the buttons, so
    New cluster, Status and Tear down are reached with the arrows alone."""

    def action_cursor_down(self) -> None:
        if self.cursor_row >= self.row_count - 1:
            self.screen.query_one("#new", Button).focus()
        else:
            super().action_cursor_down()


MARKS = {"fail": ("✗", "bold red"), "warn": ("!", "bold yellow"), "ok": ("✓", "green"), "skip": ("-", "dim")}


def doctor_checks(services: Services, *, lab: bool, progress: Progress) -> Report:
    """The checks of `swarmwiz doctor` (`--lab` in lab mode) for the wizard's own target: its SSH directory, its
    credentials (keyring or environment) and its API endpoints. The frontend boundary: tests may replace it."""
    from swarmwiz.core.errors import SwarmwizError
    from swarmwiz.flows.doctor import run_checks

    if lab:
        return run_checks(lab=True, network=DOCTOR_NETWORK, ssh_dir=services.ssh_dir, progress=progress)
    credentials = None
    if DOCTOR_NETWORK:
        try:
            credentials = services.load_credentials()
        except SwarmwizError:
            credentials = None  # the keyring's row says why it cannot be read; the environment's are judged
    return run_checks(
        network=DOCTOR_NETWORK,
        ssh_dir=services.ssh_dir,
        credentials=credentials,
        endpoints=services.target.endpoints(),
        progress=progress,
    )


@dataclass
class DoctorProgress(Message):
    """One check of run number `run` ended (`findings`), or is about to run (None)."""

    run: int
    key: str
    label: str
    findings: list[Finding] | None


@dataclass
class DoctorFinished(Message):
    """Run number `run` of the checks ended with `report`, or could not run (`error` says why)."""

    run: int
    report: Report | None
    error: str = ""


class DoctorRows:
    """The checks of one run as they arrive: each key's label and findings (None while it is being checked)."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, list[Finding] | None]] = {}
        self.done = False
        self.error = ""

    def update(self, key: str, label: str, findings: list[Finding] | None) -> None:
        if findings is not None or key not in self.rows:
            self.rows[key] = (label, findings)

    @property
    def pending(self) -> list[str]:
        return [label for label, found in self.rows.values() if found is None]

    @property
    def findings(self) -> list[Finding]:
        return [f for _label, found in self.rows.values() for f in found or []]

    def with_status(self, *statuses: str) -> list[Finding]:
        return [f for f in self.findings if f.status in statuses]


def finding_rows(findings: list[Finding], pending: list[str]):
    """A compact grid: mark, the check's name, then what is wrong and (below it) what to do, as doctor says them."""
    from rich.table import Table

    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=1)
    grid.add_column(no_wrap=True)
    grid.add_column(ratio=1)
    for f in findings:
        mark, style = MARKS.get(f.status, ("?", ""))
        body = Text(f.detail, overflow="fold")  # a long path folds rather than loses its end
        if f.fix and f.status != "ok":
            body.append("\n→ " + f.fix, style="bold" if f.status == "fail" else "")
        grid.add_row(Text(mark, style=style), Text(f.label, style=style if f.status != "ok" else ""), body)
    for label in pending:
        grid.add_row(Text("…", style="dim"), Text(label), Text("checking…", style="dim italic"))
    return grid


class WelcomeScreen(WizardScreen):
    TITLE = "Welcome"
    STEP = "welcome"
    HELP = (
        "Start a new cluster, or pick one known on this machine to see its status or tear it down.\n"
        "Below, the checks of `swarmwiz doctor` say what a first run still needs (they run in the background;\n"
        "nothing here stops you from going on). r runs them again after you fixed something; d lists every check."
    )
    BINDINGS = [
        Binding("n", "new", "New cluster", show=False),
        Binding("s", "status", "Status", show=False),
        Binding("t", "teardown", "Tear down", show=False),
        Binding("r", "recheck", "Check again", tooltip="Run the checks of `swarmwiz doctor` again"),
        Binding("d", "checks", "All checks", tooltip="Every check of `swarmwiz doctor` and its result"),
        # On the buttons (which take no arrows themselves): left/right move between them, up goes back to the list.
        Binding("left", "move_button(-1)", "Previous button", show=False),
        Binding("right", "move_button(1)", "Next button", show=False),
        Binding("up", "to_clusters", "Clusters", show=False),
    ]
    DEFAULT_CSS = """
    WelcomeScreen #doctor { height: 1fr; margin-top: 1; }
    WelcomeScreen #doctor-summary { height: auto; }
    WelcomeScreen #doctor-rows { height: auto; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.doctor_run = 0
        self.doctor = DoctorRows()
        self._destroyed: set[str] = set()  # clusters whose workspace outlived their destroy

    def compose(self) -> ComposeResult:
        yield TopBar()
        with Vertical(classes="body"):
            yield Static(INTRO, id="intro")
            yield Static("Clusters known here", classes="section")
            yield ClusterTable(id="clusters", cursor_type="row", zebra_stripes=True)
            yield Static("", id="empty", classes="hint")
            with Horizontal(classes="buttons"):
                yield Button("New cluster \\[n]", id="new", variant="primary")
                yield Button("Status \\[s]", id="status")
                yield Button("Tear down \\[t]", id="teardown", variant="error")
            with VerticalScroll(id="doctor"):
                yield Static("", id="doctor-summary", classes="hint", markup=False)
                yield Static("", id="doctor-rows")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#clusters", DataTable)
        # Text, not str: a str label goes through Rich markup, whose emoji table takes a few ms to import.
        table.add_columns(*(Text(label) for label in ("Name", "State", "Where", "Nodes")))
        # The clusters are listed by on_screen_resume, which follows mounting after the first frame: loading them
        # here too started a thread (importing the workspace and spec modules) that competed with that frame.
        self.query_one("#doctor", VerticalScroll).can_focus = False  # Tab goes from button to button
        # Enter works from the first frame: the clusters' listing (a thread) moves the focus to them if there are any.
        self.query_one("#new", Button).focus()
        # After the first frame: the checks import the keyring, httpx and the Terraform engine's module.
        self.call_after_refresh(self.action_recheck)

    def on_screen_resume(self) -> None:
        self.load_clusters()

    @work(thread=True, name="list clusters", group="list clusters", exclusive=True, exit_on_error=False)
    def load_clusters(self) -> None:
        clusters = self.services.clusters()
        self.app.call_from_thread(self._show_clusters, clusters)

    def _show_clusters(self, clusters) -> None:
        table = self.query_one("#clusters", DataTable)
        table.clear()
        self._destroyed = {c.name for c in clusters if c.state == "destroyed"}
        # Running clusters first: a kept workspace of a destroyed cluster is history, not something to look at.
        for c in sorted(clusters, key=lambda c: (c.name in self._destroyed, c.name)):
            table.add_row(c.name, c.state, "lab" if c.lab else "scaleway", str(c.nodes or "-"), key=c.name)
        has = bool(clusters)
        table.display = has
        self.query_one("#status", Button).disabled = not has
        self.query_one("#teardown", Button).disabled = not has
        empty = self.query_one("#empty", Static)
        empty.update(
            "Enter shows the highlighted cluster's status; the arrow down past the last one reaches the buttons."
            if has
            else "None yet. Press Enter (or n) to create your first cluster."
        )
        (table if has else self.query_one("#new", Button)).focus()

    # -- the checks of `swarmwiz doctor` ------------------------------------------------------------------------
    def action_recheck(self) -> None:
        """Run the checks again (a run still going is abandoned: its late answers are ignored)."""
        self.doctor_run += 1
        self.doctor = DoctorRows()
        self._show_doctor()
        self.run_doctor(self.doctor_run, self.wizard.lab)

    @work(thread=True, name="doctor", group="doctor", exclusive=True, exit_on_error=False)
    def run_doctor(self, run: int, lab: bool) -> None:
        def progress(key: str, label: str, findings: list[Finding] | None) -> None:
            self.post_message(DoctorProgress(run, key, label, findings))

        try:
            report = doctor_checks(self.services, lab=lab, progress=progress)
        except Exception as exc:  # shown in place of the checks: the wizard itself works without them
            from swarmwiz.flows.errors import describe

            said = describe(exc)
            if not said.expected:
                log.error("the doctor's checks failed", exc_info=exc)  # a bug: `swarmwiz --debug` has the details
            self.post_message(DoctorFinished(run, None, said.sentence))
            return
        self.post_message(DoctorFinished(run, report))

    def on_doctor_progress(self, message: DoctorProgress) -> None:
        if message.run == self.doctor_run:
            self.doctor.update(message.key, message.label, message.findings)
            self._show_doctor()

    def on_doctor_finished(self, message: DoctorFinished) -> None:
        if message.run != self.doctor_run:
            return
        if message.report is not None:  # the report is the whole truth (its order is doctor's)
            rows = DoctorRows()
            for f in message.report.findings:
                label, found = rows.rows.get(f.key, (f.label, []))
                rows.rows[f.key] = (label, [*(found or []), f])
            self.doctor = rows
        self.doctor.done = True
        self.doctor.error = message.error
        self._show_doctor()

    @property
    def doctor_command(self) -> str:
        return "swarmwiz doctor --lab" if self.wizard.lab else "swarmwiz doctor"

    def _show_doctor(self) -> None:
        summary = self.query_one("#doctor-summary", Static)
        rows = self.query_one("#doctor-rows", Static)
        doctor = self.doctor
        command = self.doctor_command
        failed, warned = doctor.with_status("fail"), doctor.with_status("warn")
        pending = doctor.pending if not doctor.done else []
        summary.set_classes("hint")
        if doctor.error:
            summary.set_classes("bad")
            text = f"The checks of `{command}` could not run: {doctor.error} (r: run them again)"
        elif not doctor.done:
            text = f"Checking what a first run needs, as `{command}` does…"
        elif not failed and not warned:
            summary.set_classes("ok")
            text = f"✓ All checks passed ({command}; d lists them)."
        else:
            warnings = f"{len(warned)} warning{'s' if len(warned) != 1 else ''}"
            if failed:
                # Named, not counted: a missing engine or keyring is what makes the first deploy fail.
                names = ", ".join(dict.fromkeys(f.label for f in failed))
                also = f" (and {warnings})" if warned else ""
                text = f"A deploy would fail without: {names}{also}; `{command}` says the same. You can go on."
            else:
                text = f"{warnings} from `{command}`; nothing here stops a deploy."
            summary.set_classes("bad" if failed else "hint")
            text += " r: check again, d: all checks."
        summary.update(text)
        shown = failed + warned
        rows.update(finding_rows(shown, pending) if shown or pending else "")
        rows.display = bool(shown or pending)

    def action_checks(self) -> None:
        """Every check of the last run and its result, as `swarmwiz doctor` lists them."""
        if not isinstance(self.app.screen, DoctorList):
            self.app.push_screen(DoctorList(self.doctor, self.doctor_command))

    # -- clusters -----------------------------------------------------------------------------------------------
    def action_move_button(self, step: int) -> None:
        focused = self.focused
        if not isinstance(focused, Button) or focused.id not in BUTTONS:
            return
        enabled = [b for b in (self.query_one(f"#{i}", Button) for i in BUTTONS) if not b.disabled]
        if focused in enabled:
            enabled[(enabled.index(focused) + step) % len(enabled)].focus()

    def action_to_clusters(self) -> None:
        table = self.query_one("#clusters", DataTable)
        if table.display and isinstance(self.focused, Button):
            table.focus()

    def _selected(self) -> str | None:
        table = self.query_one("#clusters", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        getattr(self, f"action_{event.button.id}")()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_status()

    def action_new(self) -> None:
        self.dismiss(("new", None))

    def action_status(self) -> None:
        name = self._selected()
        if name in self._destroyed:  # it has no servers: a status read could only fail
            self.notify(
                f"{name} was destroyed: it has no servers to show, only its workspace is kept. "
                "New cluster (n) starts another.",
                title="Nothing to show",
            )
        elif name:
            self.dismiss(("status", name))

    def action_teardown(self) -> None:
        name = self._selected()
        if name:
            self.dismiss(("teardown", name))


class DoctorList(ModalScreen[None]):
    """Every check and its result (the ones still running say so), in the words `swarmwiz doctor` prints."""

    BINDINGS = [Binding("escape,d,q", "close", "Close", show=False)]

    def __init__(self, doctor: DoctorRows, command: str) -> None:
        super().__init__()
        self.doctor = doctor
        self.command = command

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog doctor-list"):
            yield Label(f"Every check ({self.command})", classes="dialog-title")
            with VerticalScroll(classes="dialog-scroll"):
                findings = self.doctor.findings
                pending = [] if self.doctor.done else self.doctor.pending
                yield Static(finding_rows(findings, pending), id="doctor-all", classes="dialog-body")
                if self.doctor.error:
                    yield Static(self.doctor.error, classes="dialog-body bad", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="close", variant="primary")

    def on_mount(self) -> None:
        # Wider and lower than the other dialogs (the app's stylesheet wins over DEFAULT_CSS): rows are long.
        dialog = self.query_one("#dialog")
        dialog.styles.width = "96%"
        dialog.styles.padding = (0, 1)
        self.query_one(".dialog-scroll").styles.max_height = "55vh"
        self.query_one("#close", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
