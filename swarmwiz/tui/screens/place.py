"""Name and place: the cluster's name, a region, one or more of its zones (with what each zone offers), and an
optional bucket that shares the cluster's Terraform state."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Footer, Input, Label, RadioButton, RadioSet, SelectionList, Static
from textual.widgets.selection_list import Selection

from swarmwiz.flows.draft import Draft, Problem, problems
from swarmwiz.tui.screens.base import DraftScreen
from swarmwiz.tui.widgets.topbar import TopBar

BUCKET_PLACEHOLDER = "optional; none keeps the state on this computer"
BUCKET_HINT = (
    "Name a bucket of your Scaleway Object Storage to share the Terraform state with a team or CI; leave it empty "
    "to keep it here."
)
# The field each problem is about, to put the cursor there.
FOCUS = {"name": "#name", "state.bucket": "#bucket"}


class PlaceScreen(DraftScreen):
    TITLE = "2/7 Name and place"
    STEP = "place"
    HELP = (
        "The name appears in the names of the servers and in the folder where swarmwiz keeps the cluster's files.\n"
        "It starts with a lowercase letter and may go on with lowercase letters, digits and dashes.\n"
        "A cluster lives in one region. Picking two or three zones of that region spreads the managers over them,\n"
        "so the swarm keeps running if one zone goes down. Space ticks or unticks the highlighted zone.\n"
        "The state bucket is optional. Left empty, Terraform's record of what it created stays in the cluster's\n"
        "folder on this computer. A bucket of your Scaleway Object Storage shares it, so a teammate, another\n"
        "computer or CI can run status, deploy and destroy too (swarmwiz clone). If the bucket does not exist,\n"
        "swarmwiz creates it on Review, where Terraform first needs it for the plan.\n"
        "Press Enter in the name or the bucket to go on with the region and zones shown, or Ctrl+N from anywhere."
    )

    def __init__(self, draft: Draft) -> None:
        super().__init__(draft)
        self.catalog = None

    def compose(self) -> ComposeResult:
        yield TopBar()
        with VerticalScroll(classes="body"):
            with Horizontal(classes="field"):
                yield Label("Cluster name")
                yield Input(self.draft.name, id="name", placeholder="e.g. demo", max_length=31)
            yield Static("Region", classes="section")
            yield RadioSet(id="region")
            yield Static("Zones (space to toggle; managers are spread over them)", classes="section")
            yield SelectionList(id="zones")
            with Horizontal(classes="field"):
                yield Label("State bucket")
                yield Input(self.draft.state_bucket, id="bucket", placeholder=BUCKET_PLACEHOLDER)
            yield Static(BUCKET_HINT, id="bucket-help", classes="hint check-result", markup=False)
            yield Static("", id="problems", classes="problems", markup=False)
        yield from self.nav()
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.catalog = self.wizard.catalog or self.services.bundled_catalog()
        regions = self.query_one("#region", RadioSet)
        for region, info in self.catalog.regions.items():
            regions.mount(
                RadioButton(f"{region}  {info.get('name', '')}", value=region == self.draft.region, name=region)
            )
        self._fill_zones(self.draft.region, self.draft.zones)
        self.query_one("#name", Input).focus()

    def _zone_line(self, zone: str) -> str:
        candidates = self.catalog.swarm_candidates or tuple(self.catalog.types)
        offered = [t for t in candidates if t in self.catalog.types and self.catalog.types[t].offered_in(zone)]
        available = [t for t in offered if self.catalog.types[t].availability(zone) == "available"]
        return f"{zone}  {len(available)} of {len(offered)} suitable types available now"

    def _fill_zones(self, region: str, chosen) -> None:
        zones = self.query_one("#zones", SelectionList)
        zones.clear_options()
        names = self.catalog.zones_of(region)
        picked = [z for z in chosen if z in names] or names[:1]
        zones.add_options([Selection(self._zone_line(z), z, z in picked) for z in names])

    @on(RadioSet.Changed, "#region")
    def _region_changed(self, event: RadioSet.Changed) -> None:
        self._fill_zones(event.pressed.name, ())

    def collect(self) -> Draft:
        pressed = self.query_one("#region", RadioSet).pressed_button
        return self.draft.update(
            name=self.query_one("#name", Input).value.strip(),
            region=pressed.name if pressed else self.draft.region,
            zones=tuple(self.query_one("#zones", SelectionList).selected),
            # Taken as typed: the spec's own rule for [state] bucket judges it, as in a cluster.toml.
            state_bucket=self.query_one("#bucket", Input).value.strip(),
        )

    @on(Input.Submitted, "#name")
    @on(Input.Submitted, "#bucket")
    @on(Button.Pressed, "#next")
    def next(self) -> None:
        draft = self.collect()
        found = problems(draft, "place", self.catalog)
        if not draft.zones:
            found = [Problem("zones: choose at least one zone (space toggles the highlighted zone)", "zones"), *found]
        self.query_one("#problems", Static).update("\n".join(found))
        if found:
            self.query_one(FOCUS.get(found[0].field, "#zones")).focus()
            return
        self.dismiss(draft)
