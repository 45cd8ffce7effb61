"""Node counts: managers 1, 3, 5 or 7 with what each survives, in plain words; workers; the monthly cost."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Footer, Input, Label, RadioButton, RadioSet, Static

from swarmwiz.flows.draft import Draft, problems, quorum_text
from swarmwiz.tui.screens.base import DraftScreen
from swarmwiz.tui.widgets.topbar import TopBar

MANAGER_CHOICES = (1, 3, 5, 7)


class ChoiceSet(RadioSet):
    """A RadioSet whose highlight starts on the chosen button and where Enter also confirms the button already
    chosen (a plain RadioSet ignores that), so arrows + Enter choose and move on."""

    class Confirmed(Message):
        """Enter (or space) on a button of the set."""

    def on_mount(self) -> None:
        self.call_after_refresh(self._highlight_chosen)

    def _highlight_chosen(self) -> None:
        if self.pressed_index >= 0:
            self._selected = self.pressed_index  # RadioSet keeps its highlight here; it starts at the first button

    def action_toggle_button(self) -> None:
        super().action_toggle_button()
        self.post_message(self.Confirmed())


class CountsScreen(DraftScreen):
    TITLE = "4/7 Node counts"
    STEP = "counts"
    HELP = (
        "Managers agree on every change to the swarm by a majority vote, so an odd number is the sensible choice:\n"
        "4 managers survive no more failures than 3 do. Workers run your services. Managers can run them too,\n"
        "so 0 workers is allowed. Choose the managers with the arrows and Enter, type the workers, then Enter."
    )

    def compose(self) -> ComposeResult:
        yield TopBar()
        with VerticalScroll(classes="body"):
            yield Static("Managers", classes="section")
            with Horizontal(classes="field"):
                with ChoiceSet(id="managers-set"):
                    for n in MANAGER_CHOICES:
                        yield RadioButton(str(n), value=n == self.draft.managers, name=str(n))
                yield Static(quorum_text(self.draft.managers), id="quorum")
            with Horizontal(classes="field"):
                yield Label("Workers (0-100)")
                yield Input(str(self.draft.workers), id="workers", type="integer", max_length=3)
            yield Static("", id="cost")
            yield Static("", id="problems", classes="problems", markup=False)
        yield from self.nav()
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#managers-set", RadioSet).focus()
        self._update_cost()

    def collect(self) -> Draft:
        pressed = self.query_one("#managers-set", RadioSet).pressed_button
        text = self.query_one("#workers", Input).value.strip()
        workers = int(text) if text.lstrip("-").isdigit() else -1
        return self.draft.update(managers=int(pressed.name) if pressed else self.draft.managers, workers=workers)

    def _update_cost(self) -> None:
        draft = self.collect()
        catalog = self.wizard.catalog or self.services.bundled_catalog()
        if draft.workers < 0 or problems(draft, "types", catalog):
            self.query_one("#cost", Static).update("")
            return
        from swarmwiz.core.catalog import estimate

        cost = estimate(
            catalog,
            list(draft.zones),
            [("managers", draft.manager_type, draft.managers), ("workers", draft.worker_type, draft.workers)],
        )
        self.query_one("#cost", Static).update(
            f"{draft.managers + draft.workers} servers, about [b]{cost.total_monthly_eur:.2f} EUR/month[/b] "
            f"(excl. VAT, {cost.source})"
        )

    @on(RadioSet.Changed, "#managers-set")
    def _managers_changed(self, event: RadioSet.Changed) -> None:
        self.query_one("#quorum", Static).update(quorum_text(int(event.pressed.name)))
        self._update_cost()

    @on(ChoiceSet.Confirmed)
    def _managers_chosen(self) -> None:
        self.query_one("#workers", Input).focus()  # the workers come next

    @on(Input.Changed, "#workers")
    def _workers_changed(self) -> None:
        self._update_cost()

    @on(Input.Submitted, "#workers")
    @on(Button.Pressed, "#next")
    def next(self) -> None:
        draft = self.collect()
        found = problems(draft, "counts", self.wizard.catalog)
        if draft.workers < 0:
            found = ["workers.count: give a whole number from 0 to 100"]
        self.query_one("#problems", Static).update("\n".join(found))
        if found:
            self.query_one("#workers", Input).focus()
            return
        self.dismiss(draft)
