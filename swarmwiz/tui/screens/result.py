"""Result: the swarm's nodes with leader and quorum health, IPs and zones, DNS records, and how to connect."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, DataTable, Footer, OptionList, Static

from swarmwiz.tui.screens.base import WizardScreen
from swarmwiz.tui.widgets.topbar import TopBar

STATUS_STYLE = {"ready": "green", "down": "red", "unknown": "yellow", "disconnected": "red"}


def health_line(status) -> Text:
    """Leader, quorum and readiness in one line, coloured by health."""
    text = Text()
    text.append("Leader: ")
    text.append(status.leader or "none", "bold" if status.leader else "bold red")
    text.append("   Quorum: ")
    quorum = f"{status.managers_reachable}/{status.managers_total} managers reachable"
    text.append(("OK, " if status.quorum_ok else "LOST, ") + quorum, "green" if status.quorum_ok else "bold red")
    text.append("   ")
    text.append(
        "All nodes ready" if status.all_ready else "Not all nodes ready", "green" if status.all_ready else "yellow"
    )
    return text


class ResultScreen(WizardScreen):
    TITLE = "Cluster status"
    STEP = "result"
    HELP = (
        "Every server of the swarm, as the managers see it. The leader coordinates the managers; the swarm can\n"
        "take changes while more than half of the managers are reachable (quorum). r reads the status again.\n"
        "The commands at the bottom connect you to the swarm: highlight one and press Enter to copy it.\n"
        "Ctrl+P opens the command palette: refresh, a shell on any node, tear down."
    )
    BINDINGS = [
        Binding("escape", "done", "Done", show=False),
        Binding("r", "refresh", "Refresh", show=False),
    ]

    def __init__(self, name: str, status=None, pipeline=None, *, deployed: bool = False) -> None:
        super().__init__()
        self.cluster = name
        self.status = status
        self.pipeline = pipeline
        self.deployed = deployed  # right after a deploy: set up the SSH aliases and the Docker context first
        self.access_said: list[str] = []

    def compose(self) -> ComposeResult:
        yield TopBar()
        with VerticalScroll(classes="body"):
            yield Static("", id="health")
            yield DataTable(id="nodes", cursor_type="row", zebra_stripes=True)
            yield Static("DNS records", classes="section")
            yield DataTable(id="dns", cursor_type="none", show_cursor=False)
            yield Static("Connect (Enter copies the highlighted command)", classes="section")
            yield OptionList(id="access", compact=True)
            yield Static("", id="access-said")
        with Horizontal(classes="nav"):
            yield Button("Refresh \\[r]", id="refresh")
            yield Button("Done", id="done", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.show_title(f"Cluster {self.cluster}")
        nodes = self.query_one("#nodes", DataTable)
        nodes.add_columns(
            "Node", "Role", "Status", "Availability", "Manager", "Zone", "Public IP", "Private IP", "Engine"
        )
        self.query_one("#dns", DataTable).add_columns("Name", "Type", "Content")
        self.query_one("#done", Button).focus()
        self.query_one("#access-said").display = False
        if self.status is not None:
            self.show(self.status, None)
        if self.deployed and self.status is not None:
            self.query_one("#refresh", Button).disabled = True
            self.set_up_access()
        else:
            self.action_refresh(initial=self.status is not None)

    @work(thread=True, name="set up access", group="read status", exclusive=True, exit_on_error=False)
    def set_up_access(self) -> None:
        """The cluster's SSH config (node aliases), the Include line when the user says yes, the Docker context."""
        import concurrent.futures

        from swarmwiz.flows.access import set_up_access

        if self.pipeline is None:
            self.pipeline = self.services.pipeline_for_name(self.cluster)

        def ask(question: str) -> bool:
            from swarmwiz.tui.dialogs.confirm import ConfirmDialog

            answer: concurrent.futures.Future[bool] = concurrent.futures.Future()
            self.answer = answer
            dialog = ConfirmDialog("SSH access", question.removesuffix(" [y/N] "), yes_label="Add the Include line")
            self.app.call_from_thread(self.app.push_screen, dialog, lambda yes: answer.set_result(bool(yes)))
            return answer.result()

        said = set_up_access(self.pipeline, self.status, consent=False, ask=ask)
        hints = self.services.access_hints(self.pipeline, self.status)
        self.app.call_from_thread(self._access_ready, said, hints)

    def on_unmount(self) -> None:
        # Never leave the access worker waiting on a question nobody will answer (the app would not exit).
        answer = getattr(self, "answer", None)
        if answer is not None and not answer.done():
            answer.set_result(False)

    def _access_ready(self, said: list[str], hints: list[str]) -> None:
        self.access_said = said
        if said:
            self.query_one("#access-said", Static).update("\n".join(said))
            self.query_one("#access-said").display = True
        self.show(self.status, hints)
        self.query_one("#done", Button).focus()

    def action_refresh(self, initial: bool = False) -> None:
        if not initial:
            self.query_one("#health", Static).update("Reading the swarm's status...")
        self.query_one("#refresh", Button).disabled = True
        self.read_status(initial)

    @work(thread=True, name="read status", group="read status", exclusive=True, exit_on_error=False)
    def read_status(self, hints_only: bool) -> None:
        if self.pipeline is None:
            self.pipeline = self.services.pipeline_for_name(self.cluster)
        if hints_only:
            status = self.status
        else:
            from swarmwiz.flows.access import recording

            with recording(self.pipeline, "status") as run:
                status = self.pipeline.read_status()
                run.note(status.health_line())
        hints = self.services.access_hints(self.pipeline, status)
        self.app.call_from_thread(self.show, status, hints)

    def show(self, status, hints: list[str] | None) -> None:
        self.status = status
        self.query_one("#refresh", Button).disabled = False
        self.query_one("#health", Static).update(health_line(status))
        nodes = self.query_one("#nodes", DataTable)
        nodes.clear()
        for n in status.nodes:
            manager = n.manager_status or ""
            nodes.add_row(
                Text(n.hostname, "bold" if manager == "Leader" else ""),
                n.role,
                Text(n.status, STATUS_STYLE.get(str(n.status).lower(), "")),
                n.availability,
                Text(manager, "bold green" if manager == "Leader" else ""),
                n.zone or "",
                n.public_ip or "",
                n.private_ip or "",
                n.engine_version or "",
            )
        dns = self.query_one("#dns", DataTable)
        dns.clear()
        for record in status.dns:
            dns.add_row(*_record(record))
        if hints is not None:
            self.hints = hints
            access = self.query_one("#access", OptionList)
            access.clear_options()
            access.add_options(hints)

    def worker_failed(self, name: str, exc: BaseException) -> bool:
        # The screen says it in full (with the run log): no dialog on top, so one Enter on Done leaves.
        self.query_one("#refresh", Button).disabled = False
        what = "set up SSH access" if name == "set up access" else "read the status"
        self.query_one("#health", Static).update(Text(f"Could not {what}: {exc}", "red"))
        self.query_one("#done", Button).focus()
        return True

    @on(Button.Pressed, "#refresh")
    def _refresh(self) -> None:
        self.action_refresh()

    @on(OptionList.OptionSelected, "#access")
    def _copy(self, event: OptionList.OptionSelected) -> None:
        self.copy(str(event.option.prompt))

    def copy(self, command: str) -> None:
        """Put `command` on the clipboard (through the terminal, so it works over SSH too) and say so."""
        self.app.copy_to_clipboard(command)
        self.notify(command, title="Copied to the clipboard", timeout=4)

    # -- the command palette ------------------------------------------------------------------------------------
    def palette_commands(self) -> list:
        """Actions of this screen for the command palette: refresh, a shell on each node, copy each command."""
        from functools import partial

        found = [(f"Refresh the status of {self.cluster}", "Ask a manager again", self.action_refresh)]
        ssh = self._ssh_argv()
        if ssh is not None and self.status is not None:
            for node in self.status.nodes:
                if node.public_ip:
                    found.append(
                        (
                            f"Open a shell on {node.hostname}",
                            f"ssh to {node.public_ip} with the cluster's pinned host keys (exit returns here)",
                            partial(self.open_shell, node.public_ip, f"{self.cluster}-{node.key}" if node.key else ""),
                        )
                    )
        for hint in getattr(self, "hints", []):
            found.append((f"Copy: {hint}", "Put this command on the clipboard", partial(self.copy, hint)))
        return found

    def _ssh_argv(self) -> list[str] | None:
        """The ssh command of the connect hints (an alias of the cluster's SSH config, or options that pin the host
        keys), as an argument list."""
        import shlex

        for hint in getattr(self, "hints", []):
            if hint.startswith("ssh "):
                return shlex.split(hint)
        return None

    def open_shell(self, ip: str, alias: str = "") -> None:
        """Suspend the wizard, run ssh to the node (`alias` of the cluster's SSH config when the hint uses one, else
        `ip`) in this terminal, and come back when the shell ends."""
        import subprocess

        argv = self._ssh_argv()
        if argv is None:
            return
        if "@" in argv[-1]:
            argv = [*argv[:-1], f"{argv[-1].split('@', 1)[0]}@{ip}"]
        else:  # the hint names a node alias: every node has its own, with its pinned key
            argv = [*argv[:-1], alias or f"root@{ip}"]
        try:
            with self.app.suspend():
                subprocess.run(argv, check=False)
        except Exception as exc:  # e.g. no terminal to suspend (a test or a web terminal): say it plainly
            self.notify(f"Could not open a shell here ({type(exc).__name__}); run: {' '.join(argv)}", severity="error")

    @on(Button.Pressed, "#done")
    def action_done(self) -> None:
        self.dismiss(None)


def _record(record) -> tuple[str, str, str]:
    if isinstance(record, dict):
        return record.get("name", ""), record.get("type", ""), record.get("content", "")
    return record.name, record.type, record.content
