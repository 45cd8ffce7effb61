"""Teardown: pick a cluster, see everything that will be deleted, type its name, watch the destroy, see the check
that nothing remains; optionally forget its workspace and the stored credentials."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, DataTable, Footer, Input, Select, Static

from swarmwiz.core.errors import Interrupted
from swarmwiz.core.events import Phase
from swarmwiz.tui.bridge import QUESTION_TIMEOUT_S, Answer, answer_with, run_events, wait_for
from swarmwiz.tui.messages import RunEnded, RunFinished, RunStarted
from swarmwiz.tui.screens.base import RunScreen
from swarmwiz.tui.widgets.runpanel import RunPanel
from swarmwiz.tui.widgets.topbar import TopBar

TEARDOWN_PHASES = [Phase.DRAIN, Phase.DESTROY, Phase.VERIFY]


class TeardownScreen(RunScreen):
    TITLE = "Tear down"
    STEP = "teardown"
    HELP = (
        "Teardown deletes every server, IP, security group, private network and DNS record of the cluster,\n"
        "then asks the APIs whether anything is left. To confirm, type the cluster's name exactly.\n"
        "Afterwards you may forget the local workspace (cluster.toml, Terraform state) and the stored credentials.\n"
        "The question waits 10 minutes; left unanswered, nothing is destroyed."
    )
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", show=False),
        Binding("ctrl+c", "stop", "Stop", priority=True, show=False),
        # After the run: the arrows move between the two "Forget" boxes and Done (space ticks a box), so they are
        # reached without Tab.
        Binding("up,left", "move_after_run(-1)", "Previous", show=False),
        Binding("down,right", "move_after_run(1)", "Next", show=False),
    ]

    def __init__(
        self,
        name: str | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        question_timeout: float = QUESTION_TIMEOUT_S,
    ) -> None:
        super().__init__(question_timeout=question_timeout)
        self.cluster = name
        self.clock = clock
        self.pipeline = None
        self.answer: concurrent.futures.Future[bool] | None = None
        self.unanswered = ""  # what became of a question nobody answered (timed out): shown instead of closing
        self.report = None
        self.running = False
        self.stop_requested = False
        self.left_early = False

    def compose(self) -> ComposeResult:
        yield TopBar()
        with Vertical(classes="body"):
            with Horizontal(classes="field", id="pick"):
                yield Select([], prompt="Choose a cluster", id="cluster", allow_blank=True)
            with Vertical(id="confirm-box"):
                yield Static("", id="inventory-title", classes="section")
                yield DataTable(id="inventory", cursor_type="none", show_cursor=False)
                with Horizontal(classes="field"):
                    yield Input(id="typed", placeholder="type the cluster name to confirm", disabled=True)
                    yield Button("Destroy", id="destroy", variant="error", disabled=True)
            yield RunPanel(TEARDOWN_PHASES, clock=self.clock, id="run")
            yield Static("", id="outcome")
            yield Static("", id="access-removed")
            with Horizontal(id="forget", classes="buttons"):
                yield Checkbox("Forget the workspace", id="forget-workspace")
                yield Checkbox("Forget the stored credentials", id="forget-credentials")
        with Horizontal(classes="nav"):
            yield Button("Cancel", id="cancel")
            yield Button("Done", id="done", variant="primary", disabled=True)
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#run").display = False
        self.query_one("#access-removed").display = False
        self.query_one("#forget").display = False
        self.query_one("#confirm-box").display = False
        if self.cluster:
            self.query_one("#pick").display = False
            self.begin(self.cluster)
        else:
            self.list_clusters()

    @work(thread=True, name="list clusters", group="list clusters", exclusive=True, exit_on_error=False)
    def list_clusters(self) -> None:
        names = [c.name for c in self.services.clusters()]
        self.app.call_from_thread(self._show_clusters, names)

    def _show_clusters(self, names: list[str]) -> None:
        select = self.query_one("#cluster", Select)
        select.set_options([(n, n) for n in names])
        select.focus()

    @on(Select.Changed, "#cluster")
    def _picked(self, event: Select.Changed) -> None:
        if event.value != Select.NULL and not self.running:
            self.query_one("#pick").display = False
            self.begin(str(event.value))

    def begin(self, name: str) -> None:
        self.cluster = name
        self.show_title(f"Tear down {name}")
        self.query_one("#confirm-box").display = True
        self.query_one("#inventory-title", Static).update(f"Reading what {name} has in the cloud...")
        self.running = True
        self.destroy()

    @work(thread=True, name="destroy", group="destroy", exclusive=True, exit_on_error=False)
    def destroy(self) -> None:
        self.pipeline = self.services.pipeline_for_name(self.cluster)
        self.app.post_message(RunStarted(self.pipeline))
        from swarmwiz.flows.access import recording

        with recording(self.pipeline, "destroy") as run:
            self.run_log = run
            run_events("destroy", run.events(self.pipeline.destroy(self.confirm)), self.feed, cancel=self._abandon)

    @work(thread=True, name="remove access", group="remove access", exit_on_error=False)
    def remove_access(self) -> None:
        """After a clean destroy: the cluster's SSH config, its Include line and its Docker context go too."""
        from swarmwiz.flows import ssh_config

        said = ssh_config.tear_down(self.pipeline.workspace)
        if said:
            self.app.call_from_thread(self._access_removed, said)

    def _access_removed(self, said: list[str]) -> None:
        access = self.query_one("#access-removed", Static)
        access.update("\n".join(said))
        access.display = True

    def confirm(self, inventory) -> bool:
        """Called from the pipeline's thread with what will be deleted; waits (bounded) until the user decides.
        The log pane and the run log say what was asked and what the answer was; no answer in time, or a teardown
        being closed or quit meanwhile, destroys nothing."""
        from textual.worker import get_current_worker

        worker = get_current_worker()
        if self.left_early:
            return False
        self.answer = concurrent.futures.Future()
        listing = "; ".join(f"{item.kind} {item.name}" for item in inventory)
        count = f"{len(inventory)} thing{'' if len(inventory) == 1 else 's'}"
        self.say(Phase.DESTROY, f"Asked: destroy {count} of cluster {self.cluster}: {listing}?")
        # call_later, not call_from_thread: the latter would wait forever for an app whose loop is stopping.
        if self.app.call_later(self._show_inventory, inventory):
            answer = wait_for(
                self.answer,
                timeout=self.question_timeout,
                stopped=lambda: worker.is_cancelled or self.left_early or self.wizard.quit_requested,
            )
        else:
            answer = Answer(None, "stopped")
        said = answer.said(timeout=self.question_timeout, yes="destroy", no="destroy nothing", run="teardown")
        self.say(Phase.DESTROY, said)
        if answer.how == "timed out":
            self.unanswered = said
            self.app.call_later(self._withdraw_question)
        return answer.yes

    def _withdraw_question(self) -> None:
        """The question was not answered in time: the name field and Destroy go, so no late answer can act."""
        self.query_one("#typed", Input).disabled = True
        self.query_one("#destroy", Button).disabled = True

    def _abandon(self) -> None:
        """The screen or the app is closing: stop safely; an open question sees `left_early` and ends as a No."""
        self.left_early = True
        self.feed.close()
        if self.pipeline is not None and self.running:
            self.pipeline.cancel()

    def on_unmount(self) -> None:
        self._abandon()

    def _show_inventory(self, inventory) -> None:
        self.query_one("#inventory-title", Static).update(
            f"{len(inventory)} things will be deleted. Type [b]{self.cluster}[/b] and press Destroy."
        )
        table = self.query_one("#inventory", DataTable)
        table.clear(columns=True)
        table.add_columns("Kind", "Name", "Details")
        for item in inventory:
            # `detail` says what a person recognises (zone and IP of a server, a record's content, a subnet).
            table.add_row(item.kind, item.name, getattr(item, "detail", "") or item.id or "")
        typed = self.query_one("#typed", Input)
        typed.disabled = False
        typed.focus()

    @on(Input.Changed, "#typed")
    def _typed(self, event: Input.Changed) -> None:
        self.query_one("#destroy", Button).disabled = event.value.strip() != self.cluster

    @on(Input.Submitted, "#typed")
    @on(Button.Pressed, "#destroy")
    def _destroy_confirmed(self) -> None:
        if self.query_one("#typed", Input).value.strip() != self.cluster or self.answer is None:
            return
        if not answer_with(self.answer, True):
            return  # the question was withdrawn (no answer in time): this late Destroy changes nothing
        self.query_one("#confirm-box").display = False
        self.query_one("#run").display = True
        self.query_one("#cancel", Button).label = "Stop"

    def on_run_finished(self, message: RunFinished) -> None:
        self._finished()
        self.report = message.result
        outcome = self.query_one("#outcome", Static)
        if message.stopped:
            self.query_one(RunPanel).stopped("stopped")
            outcome.update("[yellow]Stopped safely.[/] Run the teardown again to finish it.")
            return
        if self.report is None:
            outcome.update("Nothing was destroyed.")
            if not self.unanswered:
                self.dismiss(None)  # the user said No: back where they came from
                return
            # Nobody answered: stay, so whoever comes back reads what happened (the log pane has the question).
            self.query_one("#confirm-box").display = False
            self.query_one("#run").display = True
            from rich.markup import escape

            outcome.update(f"[yellow]Nothing was destroyed:[/] {escape(self.unanswered)}")
            return
        self.query_one(RunPanel).finish()
        if self.report.clean:
            outcome.update(
                f"[green]Nothing remains of {self.cluster}:[/] the APIs list no servers, IPs, groups, "
                "networks or records of it."
            )
            self.query_one("#forget").display = True
            self.remove_access()
        else:
            outcome.update(
                "[red]Some things remain:[/] "
                + "; ".join(self.report.leftovers)
                + ". Run the teardown again, or remove them in the consoles."
            )

    def worker_failed(self, name: str, exc: BaseException) -> None:
        if name != "destroy":
            return
        self._finished()
        stopped = isinstance(exc, Interrupted) or self.stop_requested
        self.query_one(RunPanel).stopped("stopped" if stopped else "failed")
        self.query_one("#outcome", Static).update(
            "[yellow]Stopped safely.[/] Run the teardown again to finish it."
            if stopped
            else "[red]The teardown failed.[/] The state is kept; run the teardown again."
        )

    def _finished(self) -> None:
        self.running = False
        self.app.post_message(RunEnded())
        done = self.query_one("#done", Button)
        done.disabled = False
        done.focus()
        self.query_one("#cancel", Button).disabled = True  # after Done has the focus, so the focus stays there

    def action_move_after_run(self, step: int) -> None:
        if not self.query_one("#forget").display:
            return
        order = [self.query_one(f"#{i}") for i in ("forget-workspace", "forget-credentials", "done")]
        order = [w for w in order if w.focusable]
        if self.focused in order:
            order[max(0, min(len(order) - 1, order.index(self.focused) + step))].focus()

    def action_stop(self) -> None:
        if self.running and self.pipeline is not None and self.answer is not None and self.answer.done():
            if not self.stop_requested:
                self.stop_requested = True
                self.pipeline.cancel()
                self.query_one("#outcome", Static).update(
                    "[yellow]Stopping safely:[/] Terraform finishes what is in flight and saves its state."
                )
            else:
                self.pipeline.force()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        if self.answer is None and self.running:
            # Still reading the inventory: nothing is deleted before the confirmation, so leaving is safe.
            self.left_early = True
            self.app.post_message(RunEnded())
            self.dismiss(None)
            return
        if self.answer is not None and answer_with(self.answer, False):
            return  # the pipeline returns None: nothing destroyed
        if self.running:
            self.action_stop()
            return
        self.dismiss(None)

    @on(Button.Pressed, "#done")
    def _done(self) -> None:
        clean = self.report is not None and self.report.clean
        self.forget(
            clean and self.query_one("#forget-workspace", Checkbox).value,
            clean and self.query_one("#forget-credentials", Checkbox).value,
        )

    @work(thread=True, name="forget", group="forget", exclusive=True, exit_on_error=False)
    def forget(self, workspace: bool, credentials: bool) -> None:
        if workspace:
            self.services.forget_workspace(self.cluster)
        if credentials:
            self.services.forget_credentials()
        self.app.call_from_thread(self.dismiss, None)
