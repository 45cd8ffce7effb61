"""Review: everything chosen, the monthly cost and the Terraform plan; Deploy asks for an explicit confirmation."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, DataTable, Footer, Static

from swarmwiz.core.events import PhaseFinished, PhaseStarted, PlanSummary
from swarmwiz.flows.draft import Draft, to_spec
from swarmwiz.tui.bridge import EventFeed, run_events
from swarmwiz.tui.messages import EventsArrived, RunFinished
from swarmwiz.tui.screens.base import WizardScreen
from swarmwiz.tui.widgets.topbar import TopBar


def summary_lines(spec) -> list[str]:
    shared = f"State       shared in bucket {spec.state_bucket} (Object Storage, {spec.region})"
    return [
        f"Name        {spec.name}",
        f"Where       {spec.region}: {', '.join(spec.zones)}",
        f"Managers    {spec.managers.count} x {spec.managers.type}",
        f"Workers     {spec.workers.count} x {spec.workers.type}",
        f"DNS         *.{spec.dns_name}" + (f" and {spec.dns_name}" if spec.apex else "") + " -> the managers",
        f"SSH key     {_short(spec.ssh_public_key_path)}",
        f"SSH from    {', '.join(spec.allowed_cidrs)}",
        f"Image       {spec.image}",
        *([shared] if spec.state_bucket else []),  # a local state, the default, goes unsaid
    ]


def _short(path) -> str:
    """A path with the home directory written as ~ (shorter, and the same on every machine)."""
    from pathlib import Path

    try:
        return "~/" + str(Path(path).relative_to(Path.home()))
    except ValueError:
        return str(path)


class ReviewScreen(WizardScreen):
    TITLE = "7/7 Review"
    STEP = "review"
    HELP = (
        "Nothing has been created yet. swarmwiz has written the cluster's folder (a plain Terraform module and\n"
        "cluster.toml) and asked Terraform what it would do. Deploy creates exactly that, after you confirm.\n"
        "Only a state bucket you named is created now if it did not exist: Terraform keeps its state there.\n"
        "The cost is an estimate: the servers plus one public IPv4 address each, per month, without VAT.\n"
        "When the plan is ready the Deploy button has the focus: Enter, then the arrows to choose the answer."
    )
    BINDINGS = [Binding("escape", "back", "Back", show=False)]

    def __init__(self, draft: Draft) -> None:
        super().__init__()
        self.draft = draft
        self.spec = None
        self.pipeline = None
        self.plan_summary: PlanSummary | None = None
        self.cost = None  # the pipeline's estimate: the same figure the deploy quotes if the plan changes
        self.feed: EventFeed | None = None

    def compose(self) -> ComposeResult:
        yield TopBar()
        with VerticalScroll(classes="body"):
            yield Static("", id="summary", markup=False)
            yield Static("Monthly cost (estimate)", classes="section")
            yield DataTable(id="cost", cursor_type="none", show_cursor=False)
            yield Static("Terraform plan", classes="section")
            yield Static("", id="plan", markup=False)
        with Horizontal(classes="nav"):
            yield Button("Back", id="back")
            yield Button("Re-plan", id="replan")
            yield Button("Deploy...", id="deploy", variant="success", disabled=True)
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.spec = to_spec(self.draft, self.wizard.catalog)
        self.query_one("#summary", Static).update("\n".join(summary_lines(self.spec)))
        self.query_one("#cost", DataTable).add_columns("Item", "Count", "EUR/month each", "EUR/month")
        self.query_one("#back", Button).focus()
        self.start_plan()

    def start_plan(self) -> None:
        self.plan_summary = None
        self.query_one("#deploy", Button).disabled = True
        self.query_one("#replan", Button).disabled = True
        self.query_one("#plan", Static).update("Writing the workspace and asking Terraform for a plan...")
        self.run_plan()

    @work(thread=True, name="plan", group="plan", exclusive=True, exit_on_error=False)
    def run_plan(self) -> None:
        if self.pipeline is None:
            self.pipeline = self.services.pipeline_for_spec(self.spec, self.wizard.credentials)
        if self.cost is None:
            self.app.call_from_thread(self._show_cost, self.pipeline.cost())
        self.feed = EventFeed(self)
        run_events("plan", self.pipeline.plan(), self.feed, cancel=self.pipeline.cancel)

    def _show_cost(self, cost) -> None:
        self.cost = cost
        table = self.query_one("#cost", DataTable)
        for row in cost.as_table():
            table.add_row(*row)

    def on_unmount(self) -> None:
        if self.feed is not None:
            self.feed.close()

    def on_events_arrived(self, message: EventsArrived) -> None:
        for event in message.take():
            if isinstance(event, PhaseStarted):
                self.query_one("#plan", Static).update(f"{event.phase.label}...")
            elif isinstance(event, PhaseFinished) and not event.ok:
                self.query_one("#plan", Static).update(f"{event.phase.label} failed: {event.message}")

    def on_run_finished(self, message: RunFinished) -> None:
        if message.stopped or message.result is None:
            self.query_one("#plan", Static).update("The plan was stopped. Press Re-plan, or go back.")
            self.query_one("#replan", Button).disabled = False
            return
        summary: PlanSummary = message.result
        self.plan_summary = summary
        lines = [f"{summary.add} to add, {summary.change} to change, {summary.destroy} to destroy"]
        for rtype, counts in sorted(summary.by_type.items()):
            parts = [f"{counts[k]} to {k}" for k in ("add", "change", "destroy") if counts.get(k)]
            lines.append(f"  {rtype:<36} {', '.join(parts)}")
        self.query_one("#plan", Static).update("\n".join(lines))
        self.query_one("#replan", Button).disabled = False
        deploy = self.query_one("#deploy", Button)
        deploy.disabled = False
        deploy.focus()

    def worker_failed(self, name: str, exc: BaseException) -> None:
        self.query_one("#plan", Static).update(f"The plan failed: {exc}. Fix it and press Re-plan, or go back.")
        self.query_one("#replan", Button).disabled = False

    @on(Button.Pressed, "#back")
    def _back(self) -> None:
        self.action_back()

    @on(Button.Pressed, "#replan")
    def _replan(self) -> None:
        self.start_plan()

    @on(Button.Pressed, "#deploy")
    @work(name="confirm deploy", group="confirm deploy", exclusive=True, exit_on_error=False)
    async def confirm_deploy(self) -> None:
        from swarmwiz.tui.dialogs.confirm import ConfirmDialog

        spec, plan = self.spec, self.plan_summary
        if plan is None or self.cost is None:
            return
        question = (
            f"Create {spec.node_count} servers for about {self.cost.total_monthly_eur:.2f} EUR/month "
            f"({plan.add} resources to add, {plan.change} to change, {plan.destroy} to destroy)?"
        )
        if self.wizard.lab:
            question += " This is the local lab: nothing is billed."
        if await self.app.push_screen_wait(ConfirmDialog("Deploy?", question, yes_label="Deploy")):
            self.dismiss((spec, plan))
