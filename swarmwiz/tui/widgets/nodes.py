"""The deploy's per-node view: one row per node with the phase it is in and what it reached there."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from swarmwiz.core.events import Phase, PhaseProgress, node_order

# What a node has reached, styled by the phase it reached it in: through the swarm phase it is done.
PHASE_STYLE = {Phase.SWARM: "green", Phase.DRAIN: "dim"}


class NodeTable(DataTable):
    """Fed per batch with the nodes that progressed (from `PhaseProgress.nodes`, never parsed from messages).

    Hidden until the first node progresses, so a run without per-node work (destroy, an apply that fails) keeps
    its layout; it is as high as the resource table beside it and scrolls, so fifty nodes leave the log in place.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.display = False

    def on_mount(self) -> None:
        self.add_column("Node", key="node")
        self.add_column("Phase", key="phase", width=10)  # fixed: rows change phase and state as they update
        self.add_column("State", key="state", width=12)

    @staticmethod
    def collect(event: PhaseProgress, into: dict[str, tuple[Phase, str]]) -> None:
        """Note each node `event` names at its state; a batch keeps only every node's latest."""
        for name in event.nodes:
            into[name] = (event.phase, event.state)

    def show(self, states: dict[str, tuple[Phase, str]]) -> None:
        """Apply one batch's latest node states: update rows in place, add new ones and sort once."""
        added = False
        for name, (phase, state) in states.items():
            text = Text(state, PHASE_STYLE.get(phase, ""))
            if name in self.rows:
                self.update_cell(name, "phase", phase.value)
                self.update_cell(name, "state", text)
            else:
                self.add_row(name, phase.value, text, key=name)
                added = True
        if added:
            self.sort("node", key=node_order)
        self.border_title = f"Nodes ({self.row_count})"
        self.display = True

    def state_of(self, name: str) -> tuple[str, str]:
        """(phase, state) shown for node `name`, as plain text."""
        phase, state = self.get_row(name)[1:]
        return str(phase), str(state)
