"""Welcome: what swarmwiz does, the clusters known here (status, tear down), or start a new one."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Footer, Static

from swarmwiz.tui.screens.base import WizardScreen
from swarmwiz.tui.widgets.topbar import TopBar

INTRO = (
    "swarmwiz stands up a Docker Swarm cluster on Scaleway, with Cloudflare DNS pointing at it, "
    "and tears it down again. It asks a few questions, shows the cost and the plan, then builds it."
)


class WelcomeScreen(WizardScreen):
    TITLE = "Welcome"
    STEP = "welcome"
    BINDINGS = [
        Binding("n", "new", "New cluster", show=False),
        Binding("s", "status", "Status", show=False),
        Binding("t", "teardown", "Tear down", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield TopBar()
        with Vertical(classes="body"):
            yield Static(INTRO, id="intro")
            yield Static("Clusters known here", classes="section")
            yield DataTable(id="clusters", cursor_type="row", zebra_stripes=True)
            yield Static("", id="empty", classes="hint")
            with Horizontal(classes="buttons"):
                yield Button("New cluster \\[n]", id="new", variant="primary")
                yield Button("Status \\[s]", id="status")
                yield Button("Tear down \\[t]", id="teardown", variant="error")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#clusters", DataTable)
        table.add_columns("Name", "State", "Where", "Nodes")
        self.load_clusters()

    def on_screen_resume(self) -> None:
        self.load_clusters()

    @work(thread=True, name="list clusters", group="list clusters", exclusive=True, exit_on_error=False)
    def load_clusters(self) -> None:
        clusters = self.services.clusters()
        self.app.call_from_thread(self._show_clusters, clusters)

    def _show_clusters(self, clusters) -> None:
        table = self.query_one("#clusters", DataTable)
        table.clear()
        for c in clusters:
            table.add_row(c.name, c.state, "lab" if c.lab else "scaleway", str(c.nodes or "-"), key=c.name)
        has = bool(clusters)
        table.display = has
        self.query_one("#status", Button).disabled = not has
        self.query_one("#teardown", Button).disabled = not has
        empty = self.query_one("#empty", Static)
        empty.update("" if has else "None yet. Press n to create your first cluster.")
        empty.display = not has
        (table if has else self.query_one("#new", Button)).focus()

    def _selected(self) -> str | None:
        table = self.query_one("#clusters", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        getattr(self, f"action_{event.button.id}")()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.dismiss(("status", event.row_key.value))

    def action_new(self) -> None:
        self.dismiss(("new", None))

    def action_status(self) -> None:
        name = self._selected()
        if name:
            self.dismiss(("status", name))

    def action_teardown(self) -> None:
        name = self._selected()
        if name:
            self.dismiss(("teardown", name))
