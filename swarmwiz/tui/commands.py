"""The command palette's main actions (Ctrl+P): status, refresh, tear down, a shell on a node, copy a command."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class WizardCommands(Provider):
    """What a person does daily, offered from any screen; the App and the current screen say what applies now."""

    async def startup(self) -> None:
        # The clusters known here come from the disk: read them off the UI thread, once per palette opening.
        self.clusters = await asyncio.to_thread(self.app.services.clusters)

    def commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        """(title, help, callback) of every action that applies on the current screen."""
        app = self.app
        found: list[tuple[str, str, Callable[[], object]]] = []
        screen_commands = getattr(self.screen, "palette_commands", None)
        if screen_commands is not None:
            found.extend(screen_commands())
        for cluster in getattr(self, "clusters", []):
            found.append(
                (
                    f"Status of {cluster.name}",
                    "Nodes, leader, quorum and how to connect",
                    partial(app.open_cluster, "status", cluster.name),
                )
            )
            found.append(
                (
                    f"Tear down {cluster.name}",
                    "See everything that would be deleted; nothing is deleted before you type the name",
                    partial(app.open_cluster, "teardown", cluster.name),
                )
            )
        return found

    async def discover(self) -> Hits:
        for title, help_text, callback in self.commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self.commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
