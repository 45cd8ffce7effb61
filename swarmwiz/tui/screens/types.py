"""Instance types: a table of suitable types (vCPU, RAM, EUR/month, availability in the chosen zones); pick one
for the managers and one for the workers."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Button, DataTable, Footer, Static

from swarmwiz.flows.draft import Draft, problems
from swarmwiz.tui.messages import CatalogLoaded
from swarmwiz.tui.screens.base import DraftScreen
from swarmwiz.tui.widgets.topbar import TopBar

AVAILABILITY_STYLE = {"available": "green", "scarce": "yellow", "shortage": "red"}


class TypesScreen(DraftScreen):
    TITLE = "3/7 Instance types"
    STEP = "types"
    HELP = (
        "Managers keep track of the swarm and agree on every change; a small server is enough for them.\n"
        "Workers run your services. Highlight a row and press Enter to use that type for both and go on,\n"
        "or press m to use it for the managers and w for the workers, then Enter to go on.\n"
        "Prices are per server and month, without VAT, in the first zone you picked. A type must be offered in\n"
        "every zone you picked. The line above the table says whether the prices are live or a saved copy."
    )
    BINDINGS = [
        Binding("m", "pick_role('manager')", "Managers", show=False),
        Binding("w", "pick_role('worker')", "Workers", show=False),
    ]

    def __init__(self, draft: Draft) -> None:
        super().__init__(draft)
        self.catalog = None
        self.picked_by_role = False  # m or w was used: Enter then keeps those choices and only goes on

    def compose(self) -> ComposeResult:
        yield TopBar()
        with Vertical(classes="body"):
            yield Static("Loading the catalogue...", id="source", classes="hint")
            yield Static("", id="chosen")
            yield DataTable(id="types-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="problems", classes="problems", markup=False)
        yield from self.nav(Static("Enter: both  m: managers  w: workers", classes="hint"))
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#types-table", DataTable)
        # Fixed widths: auto-sized columns settle only after a later refresh, which cut type names short
        # ("DEV1" for "DEV1-S") and made the screen differ from run to run.
        table.add_column("Use", key="use", width=3)
        table.add_column("Type", key="type", width=16)
        table.add_column("vCPU", key="cpu", width=4)
        table.add_column("RAM GiB", key="ram", width=7)
        table.add_column("EUR/month", key="price", width=9)
        table.add_column("Availability in " + ", ".join(self.draft.zones), key="avail")
        self._show_chosen()
        if self.wizard.catalog is not None:
            self._show_catalog(self.wizard.catalog)
        else:
            self.load_catalog()

    @work(thread=True, name="load catalogue", group="load catalogue", exclusive=True, exit_on_error=False)
    def load_catalog(self) -> None:
        catalog = self.services.catalog(self.wizard.credentials)
        self.app.call_from_thread(self._show_catalog, catalog)

    def _show_catalog(self, catalog) -> None:
        self.catalog = catalog
        self.app.post_message(CatalogLoaded(catalog))
        self.query_one("#source", Static).update(f"Source: {catalog.source}")
        table = self.query_one("#types-table", DataTable)
        table.clear()
        zones = self.draft.zones
        names = [n for n in (catalog.swarm_candidates or catalog.types) if n in catalog.types]
        for name in names:
            itype = catalog.types[name]
            if itype.end_of_service:
                continue
            offered_everywhere = all(itype.offered_in(z) for z in zones)
            price = itype.monthly_price(zones[0])
            avail = Text()
            for i, zone in enumerate(zones):
                state = itype.availability(zone) if itype.offered_in(zone) else "not offered"
                avail.append(("  " if i else "") + state, AVAILABILITY_STYLE.get(state, "dim"))
            style = "" if offered_everywhere else "dim"
            table.add_row(
                self._use_mark(name),
                Text(name, style),
                Text(str(itype.ncpus), style),
                Text(f"{itype.ram_gib:g}", style),
                Text(f"{price:.2f}" if price else "-", style),
                avail,
                key=name,
            )
        if self.draft.manager_type in names:
            table.move_cursor(row=table.get_row_index(self.draft.manager_type))
        table.focus()

    def _use_mark(self, name: str) -> str:
        return ("M" if name == self.draft.manager_type else "") + ("W" if name == self.draft.worker_type else "")

    def _show_chosen(self) -> None:
        self.query_one("#chosen", Static).update(
            f"Managers: [b]{self.draft.manager_type}[/b]    Workers: [b]{self.draft.worker_type}[/b]"
        )

    def _refresh_marks(self) -> None:
        table = self.query_one("#types-table", DataTable)
        for row_key in table.rows:
            table.update_cell(row_key, "use", self._use_mark(row_key.value))
        self._show_chosen()

    def _highlighted(self) -> str | None:
        table = self.query_one("#types-table", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def action_pick(self, role: str) -> bool:
        """Use the highlighted type for `role`; False (and a problem shown) when it cannot be used."""
        name = self._highlighted()
        if name is None:
            return False
        itype = self.catalog.types[name]
        missing = [z for z in self.draft.zones if not itype.offered_in(z)]
        if missing:
            self.query_one("#problems", Static).update(
                f"{name} is not offered in {', '.join(missing)}; choose a type offered in every chosen zone."
            )
            return False
        self.query_one("#problems", Static).update("")
        self.draft = self.draft.update(**{f"{role}_type": name})
        self._refresh_marks()
        return True

    def action_pick_role(self, role: str) -> None:
        if self.action_pick(role):
            self.picked_by_role = True

    @on(DataTable.RowSelected, "#types-table")
    def _row_selected(self) -> None:
        # Enter uses the highlighted type for both roles and goes on, unless m or w chose them one by one.
        if not self.picked_by_role and not (self.action_pick("manager") and self.action_pick("worker")):
            return
        self.next()

    @on(Button.Pressed, "#next")
    def next(self) -> None:
        found = problems(self.draft, "types", self.catalog)
        self.query_one("#problems", Static).update("\n".join(found))
        if not found:
            self.dismiss(self.draft)
