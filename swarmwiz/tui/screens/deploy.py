"""Deploy: the pipeline runs live (phases, resources, raw log, elapsed time); Ctrl-C or Stop stops it safely."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Footer, Static

from swarmwiz.core.errors import Interrupted
from swarmwiz.core.events import Phase, PlanSummary
from swarmwiz.flows.errors import describe
from swarmwiz.tui.bridge import QUESTION_TIMEOUT_S, ask, run_events
from swarmwiz.tui.messages import RunEnded, RunFinished, RunStarted
from swarmwiz.tui.screens.base import RunScreen
from swarmwiz.tui.widgets.runpanel import RunPanel
from swarmwiz.tui.widgets.topbar import TopBar

DEPLOY_PHASES = [
    Phase.CREDENTIALS,
    Phase.INIT,
    Phase.PLAN,
    Phase.APPLY,
    Phase.SSH,
    Phase.CLOUD_INIT,
    Phase.SWARM,
    Phase.DNS,
    Phase.STATUS,
]


def _same_plan(a: PlanSummary | None, b: PlanSummary) -> bool:
    return a is not None and (a.add, a.change, a.destroy) == (b.add, b.change, b.destroy)


class DeployScreen(RunScreen):
    TITLE = "Deploying"
    STEP = "deploy"
    HELP = (
        "The checklist shows each phase; the table shows every cloud resource as Terraform creates it; the log\n"
        "shows Terraform's and SSH's raw output (filter it by phase). Ctrl+C or Stop stops safely: Terraform\n"
        "finishes what is in flight and saves its state, so deploying again later picks up where it stopped.\n"
        "A second Ctrl+C offers to force the stop.\n"
        "Before deleting anything (objects of this cluster left by an interrupted run, DNS records in its way with\n"
        "dns.replace_existing) the deploy lists them and asks; Stop, the default, deletes nothing. A question left\n"
        "unanswered for 10 minutes counts as Stop."
    )
    BINDINGS = [
        Binding("ctrl+c", "stop", "Stop", priority=True, show=False),
    ]

    def __init__(
        self,
        spec,
        reviewed: PlanSummary | None,
        pipeline=None,
        *,
        clock: Callable[[], float] = time.monotonic,
        question_timeout: float = QUESTION_TIMEOUT_S,
    ) -> None:
        super().__init__(question_timeout=question_timeout)
        self.spec = spec
        self.reviewed = reviewed
        self.pipeline = pipeline  # injected by benchmarks and tests; built from the spec in the worker otherwise
        self.clock = clock
        self.status = None
        self.stop_requested = False
        self.finished = False
        self.declined = ""  # what the user (or a timeout) refused to delete: the refusal that ends the run is a stop
        self.declined_outcome = "Stopped, nothing was deleted:"

    def compose(self) -> ComposeResult:
        yield TopBar()
        with Vertical(classes="body"):
            yield RunPanel(DEPLOY_PHASES, clock=self.clock, id="run")
            yield Static("", id="outcome")
        with Horizontal(classes="nav"):
            yield Button("Stop \\[ctrl+c]", id="stop", variant="error")
            yield Button("Continue", id="continue", variant="primary", disabled=True)
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.show_title(f"Deploying {self.spec.name}")
        self.query_one("#stop", Button).focus()
        self.deploy()

    @work(thread=True, name="deploy", group="deploy", exclusive=True, exit_on_error=False)
    def deploy(self) -> None:
        if self.pipeline is None:
            self.pipeline = self.services.pipeline_for_spec(self.spec, self.wizard.credentials)
        self.app.post_message(RunStarted(self.pipeline))
        if self.stop_requested:  # Stop was pressed while the pipeline was being built
            self.pipeline.cancel()
        from swarmwiz.flows.access import recording

        # The run log: a failure's message (and so its error dialog) ends with "(run log: PATH)".
        with recording(self.pipeline, "deploy") as run:
            self.run_log = run
            events = self.pipeline.deploy(
                self.confirm,
                confirm_delete=self.confirm_delete,
                confirm_replace_dns=self.confirm_replace_dns,
                confirm_move=self.confirm_move,
            )
            run_events("deploy", run.events(events), self.feed, cancel=self._abandon)

    # -- questions the pipeline asks (each from the worker thread, which waits for the answer) --------------------
    def confirm(self, summary: PlanSummary, cost) -> bool:
        """The plan was confirmed on Review; ask again only if it changed."""
        if _same_plan(self.reviewed, summary):
            return True
        from swarmwiz.tui.dialogs.confirm import ConfirmDialog

        question = (
            f"Since you reviewed it, the plan became: {summary.add} to add, {summary.change} to change, "
            f"{summary.destroy} to destroy ({cost.total_monthly_eur:.2f} EUR/month). Apply it?"
        )
        dialog = ConfirmDialog("The plan changed", question, yes_label="Apply", danger=summary.destroy > 0)
        return self._ask(Phase.PLAN, dialog, question, yes="apply", no="do not apply")

    def confirm_move(self, question: str) -> bool:
        """The cluster was deployed with a local state and now names a [state] bucket: move the state there?"""
        from swarmwiz.tui.dialogs.confirm import ConfirmDialog

        dialog = ConfirmDialog("Share the Terraform state?", f"{question[0].upper()}{question[1:]}?", yes_label="Move")
        if self._ask(Phase.INIT, dialog, question, yes="move the state", no="keep it local, stop"):
            return True
        self.declined, self.declined_outcome = question, "Stopped, the state stays local and nothing was created:"
        return False

    def confirm_delete(self, objects) -> bool:
        """Objects of this cluster (its owner id) that Terraform does not track: delete them before going on?"""
        items = [obj.describe() for obj in objects]
        name = self.spec.name
        return self._ask_to_delete(
            Phase.PLAN,
            items,
            title=f"Delete {_count(items, 'object')} left by an interrupted run?",
            intro=f"These objects carry cluster {name}'s owner id but are not in Terraform's state (left by an "
            "interrupted run). The deploy deletes them, then goes on:",
            after="Stop ends the deploy here and deletes nothing.",
            question=f"delete {_count(items, 'object')} of cluster {name} not in Terraform's state",
        )

    def confirm_replace_dns(self, records) -> bool:
        """DNS records in the cluster's way (dns.replace_existing): delete them before anything is created?"""
        from swarmwiz.core.preflight import describe_record

        items = [describe_record(r) for r in records]
        return self._ask_to_delete(
            Phase.CREDENTIALS,
            items,
            title=f"Replace {_count(items, 'DNS record')}?",
            intro=f"dns.replace_existing is set, and these records stand at the names of cluster {self.spec.name} "
            "without being its own. The deploy deletes them, then goes on:",
            after="Stop ends the deploy here: nothing is deleted, nothing is created.",
            question=f"delete {_count(items, 'DNS record')} in the cluster's way",
        )

    def _ask_to_delete(
        self, phase: Phase, items: list[str], *, title: str, intro: str, after: str, question: str
    ) -> bool:
        """List `items` in a DeletionDialog (Stop is the default) and ask; a refusal is kept as the stop that ends
        the run (`declined`), so it is shown as a stop and not as an error."""
        from swarmwiz.tui.dialogs.deletion import DeletionDialog

        dialog = DeletionDialog(title, intro, items, after=after)
        question = f"{question}: {'; '.join(items)}?"
        if self._ask(phase, dialog, question, yes="delete and continue", no="stop, delete nothing"):
            return True
        self.declined = question
        return False

    def _ask(self, phase: Phase, dialog, question: str, *, yes: str, no: str) -> bool:
        """Show `dialog` and wait (bounded) for the answer; the log pane and the run log say what was asked and
        what the answer was. A timeout, or a deploy being stopped or closed, answers `no`."""
        from textual.worker import get_current_worker

        worker = get_current_worker()
        self.say(phase, f"Asked: {question}")
        answer = ask(
            self.app,
            dialog,
            timeout=self.question_timeout,
            stopped=lambda: worker.is_cancelled or self.stop_requested or self.wizard.quit_requested,
        )
        self.say(phase, answer.said(timeout=self.question_timeout, yes=yes, no=no, run="deploy"))
        return answer.yes

    def _abandon(self) -> None:
        """The screen or the app is closing: stop safely, and never leave a question open."""
        self.feed.close()  # a question still open sees the cancelled worker and is withdrawn
        if self.pipeline is not None and not self.finished:
            self.pipeline.cancel()

    def on_unmount(self) -> None:
        self._abandon()

    def on_run_finished(self, message: RunFinished) -> None:
        self._finished()
        self.status = message.result
        outcome = self.query_one("#outcome", Static)
        if message.stopped:
            self.query_one(RunPanel).stopped("stopped")
            outcome.update(
                "[yellow]Stopped safely.[/] Terraform finished what was in flight and saved its state; "
                "deploy again to continue."
            )
            return
        if self.status is None:
            outcome.update(
                "Nothing was applied."
                if not self.stop_requested
                else "[yellow]Stopped safely.[/] Terraform saved its state; deploy again to continue."
            )
        elif self.status.all_ready:
            outcome.update(
                f"[green]The swarm is running:[/] {len(self.status.nodes)} "
                f"{'node' if len(self.status.nodes) == 1 else 'nodes'} ready. "
                "Press Continue for the status and how to connect."
            )
        else:
            outcome.update("[yellow]The swarm is up, but not every node is ready.[/] Continue shows which.")
        self.query_one(RunPanel).finish()

    def worker_failed(self, name: str, exc: BaseException) -> bool:
        """Show the failure in the outcome line; True when that says all (the App then only notifies)."""
        if name != "deploy":
            return False
        self._finished()
        why = _escape(describe(exc).sentence)  # the words the command line and plain mode use for this error
        if self.declined:
            # The pipeline refused to go on because the user chose Stop: say so as a stop, with its sentence.
            self.query_one(RunPanel).stopped("stopped")
            self.query_one("#outcome", Static).update(f"[yellow]{self.declined_outcome}[/] {why}")
            return True
        stopped = isinstance(exc, Interrupted) or self.stop_requested
        self.query_one(RunPanel).stopped("stopped" if stopped else "failed")
        self.query_one("#outcome", Static).update(
            "[yellow]Stopped safely.[/] Terraform finished what was in flight and saved its state; "
            "deploy again to continue."
            if stopped
            else f"[red]The deploy failed:[/] {why} The workspace keeps the state; fix the cause and "
            "deploy again (it converges)."
        )
        return False

    def _finished(self) -> None:
        self.finished = True
        self.app.post_message(RunEnded())
        button = self.query_one("#continue", Button)
        button.disabled = False
        button.focus()
        # Disabled after Continue has the focus: disabling the focused Stop first would move the focus elsewhere.
        self.query_one("#stop", Button).disabled = True

    # -- stop ----------------------------------------------------------------------------------------------------
    @on(Button.Pressed, "#stop")
    def _stop_pressed(self) -> None:
        self.action_stop()

    def action_stop(self) -> None:
        if self.finished:
            return
        if not self.stop_requested:
            self.stop_requested = True
            if self.pipeline is not None:
                self.pipeline.cancel()
            self.query_one("#outcome", Static).update(
                "[yellow]Stopping safely:[/] Terraform finishes what is in flight and saves its state. "
                "Press Ctrl+C again to force."
            )
            return
        self.ask_force()

    @work(name="confirm force", group="confirm force", exclusive=True, exit_on_error=False)
    async def ask_force(self) -> None:
        from swarmwiz.tui.dialogs.confirm import ConfirmDialog

        if (
            await self.app.push_screen_wait(
                ConfirmDialog(
                    "Force the stop?",
                    "Forcing kills Terraform now: resources being created may exist in the cloud without being in "
                    "the state, and must then be removed by hand. Waiting is safer.",
                    yes_label="Force stop",
                    no_label="Keep waiting",
                    danger=True,
                )
            )
            and not self.finished
            and self.pipeline is not None
        ):
            self.pipeline.force()

    @on(Button.Pressed, "#continue")
    def _continue(self) -> None:
        self.dismiss(self.status)


def _count(items: list, noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
