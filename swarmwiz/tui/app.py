"""The Textual wizard: one App that owns the flow of steps, the injected services and the single error router."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive
from textual.worker import Worker, WorkerState

from swarmwiz.core import paths
from swarmwiz.core.errors import Interrupted, SwarmwizError
from swarmwiz.flows.errors import describe
from swarmwiz.tui.messages import CatalogLoaded, RunEnded, RunStarted
from swarmwiz.tui.screens.base import BACK
from swarmwiz.tui.services import Services

if TYPE_CHECKING:
    from swarmwiz.core.target import Target

log = logging.getLogger(__name__)


def _css_paths() -> list[str]:
    return [str(paths.assets_dir() / "tcss" / "app.tcss")]


class SwarmwizApp(App[int]):
    """The wizard. `services` is injected: tests pass a lab-backed or recorded one."""

    TITLE = "swarmwiz"
    CSS_PATH = _css_paths()
    COMMANDS = App.COMMANDS | {lambda: _wizard_commands()}
    BINDINGS = [
        Binding("f1", "help", "Help", tooltip="What this step does and its keys"),
        Binding("ctrl+q", "quit", "Quit", priority=True, tooltip="Quit (asks first while a deploy runs)"),
    ]

    status_text: reactive[str] = reactive("")

    def __init__(self, services: Services, *, lab: bool = False, start: str = "welcome") -> None:
        super().__init__()
        self.services = services
        self.lab = lab
        self.start = start
        # The App's own state, changed only by the flow and by messages from the screens:
        self.credentials: Any = None  # core Credentials once entered (the credentials step's answer)
        self.catalog: Any = None  # core Catalog once loaded (CatalogLoaded)
        self.running: Any = None  # the pipeline of a deploy/destroy in progress (RunStarted .. RunEnded)
        self.quit_requested = False

    # -- start --------------------------------------------------------------------------------------------------
    def on_mount(self) -> None:
        if self.start == "welcome":
            self.run_flow()
        if self.lab:
            self.status_text = "starting the lab..."
        self.call_after_refresh(self.prepare_services)  # after the first frame: the lab's import is heavy

    @work(thread=True, name="prepare services", group="prepare services", exclusive=True, exit_on_error=False)
    def prepare_services(self) -> None:
        # In lab mode this starts the local lab.
        text = self.services.prepare()
        self.call_from_thread(setattr, self, "status_text", text)

    # -- what screens tell the App -------------------------------------------------------------------------------
    def on_catalog_loaded(self, message: CatalogLoaded) -> None:
        self.catalog = message.catalog

    def on_run_started(self, message: RunStarted) -> None:
        self.running = message.pipeline

    def on_run_ended(self, message: RunEnded) -> None:
        """A deploy or teardown is over; a quit that waited for it happens now."""
        self.running = None
        if self.quit_requested:
            self.exit(return_code=130)

    # -- the flow: every step in one place ----------------------------------------------------------------------
    @work(name="flow", group="flow", exclusive=True, exit_on_error=False)
    async def run_flow(self) -> None:
        from swarmwiz.tui.screens.welcome import WelcomeScreen

        while True:
            choice, name = await self.push_screen_wait(WelcomeScreen())
            try:
                if choice == "quit":
                    self.exit(0)
                    return
                if choice == "new":
                    await self.new_cluster()
                elif choice == "status":
                    await self.show_status(name)
                elif choice == "teardown":
                    await self.teardown(name)
            except SwarmwizError as exc:
                await self.show_error(exc)

    async def new_cluster(self) -> None:
        """Credentials, place, types, counts, domain, SSH, review; then deploy and show the result."""
        from swarmwiz.flows.draft import Draft
        from swarmwiz.tui.screens.counts import CountsScreen
        from swarmwiz.tui.screens.credentials import CredentialsScreen
        from swarmwiz.tui.screens.deploy import DeployScreen
        from swarmwiz.tui.screens.domain import DomainScreen
        from swarmwiz.tui.screens.place import PlaceScreen
        from swarmwiz.tui.screens.review import ReviewScreen
        from swarmwiz.tui.screens.ssh import SshScreen
        from swarmwiz.tui.screens.types import TypesScreen

        steps = [CredentialsScreen, PlaceScreen, TypesScreen, CountsScreen, DomainScreen, SshScreen, ReviewScreen]
        draft = Draft()
        reviewed = None
        i = 0
        while 0 <= i < len(steps):
            value = await self.push_screen_wait(steps[i](draft))
            if value is BACK:
                i -= 1
                continue
            if steps[i] is ReviewScreen:
                reviewed = value  # (spec, the plan the user confirmed): the deploy builds its own pipeline
            elif steps[i] is CredentialsScreen:
                self.credentials = value
            else:
                draft = value
            i += 1
        if reviewed is None:
            return
        spec, plan = reviewed
        status = await self.push_screen_wait(DeployScreen(spec, plan))
        if status is not None:
            await self.show_status(spec.name, status, deployed=True)

    async def show_status(self, name: str, status: Any = None, *, deployed: bool = False) -> None:
        from swarmwiz.tui.screens.result import ResultScreen

        await self.push_screen_wait(ResultScreen(name, status, deployed=deployed))

    async def teardown(self, name: str | None) -> None:
        from swarmwiz.tui.screens.teardown import TeardownScreen

        await self.push_screen_wait(TeardownScreen(name))

    async def show_error(self, exc: BaseException) -> None:
        from swarmwiz.tui.dialogs.error import ErrorDialog

        await self.push_screen_wait(ErrorDialog.about(exc))

    # -- the one error router -----------------------------------------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.route_worker_state(event)

    def route_worker_state(self, event: Worker.StateChanged) -> None:
        """Every worker's failure ends here: a dialog with the error's title, and the screen is told to recover."""
        if event.state != WorkerState.ERROR:
            return
        exc = event.worker.error
        shown = False  # a screen whose hook returns True shows the failure itself: a notification is enough
        for screen in self.screen_stack:
            hook = getattr(screen, "worker_failed", None)
            if hook is not None and event.worker.node is screen:
                shown = bool(hook(event.worker.name, exc)) or shown
        if isinstance(exc, Interrupted):
            # A stop the user asked for: the screen says "stopped"; it is not an error to show.
            self.notify(exc.message, title="Stopped", severity="warning")
            return
        said = describe(exc)  # the same words as the command line and plain mode
        if not said.expected:
            log.error("worker %r failed", event.worker.name, exc_info=exc)
        if self.quit_requested and self.running is None:
            return  # quitting: the stop the user asked for is not an error to show
        if shown:
            self.notify(said.sentence, title=said.title, severity="warning", timeout=8)
            return
        from swarmwiz.tui.dialogs.error import ErrorDialog

        self.push_screen(ErrorDialog(said.title, said.lines))
        if event.worker.name == "flow":
            self.run_flow()  # an unexpected failure in the flow itself: start again from the welcome screen

    # -- actions ------------------------------------------------------------------------------------------------
    def open_cluster(self, choice: str, name: str) -> None:
        """From the palette: the status or the teardown of `name`, over the current screen (the welcome screen
        answers with it, so the flow goes on from there)."""
        from swarmwiz.tui.screens.welcome import WelcomeScreen

        if isinstance(self.screen, WelcomeScreen):
            self.screen.dismiss((choice, name))
        elif choice == "status":
            from swarmwiz.tui.screens.result import ResultScreen

            self.push_screen(ResultScreen(name))
        else:
            from swarmwiz.tui.screens.teardown import TeardownScreen

            self.push_screen(TeardownScreen(name))

    def action_help(self) -> None:
        from swarmwiz.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    async def action_quit(self) -> None:
        if self.running is None:
            self.exit(0)
            return
        from swarmwiz.tui.dialogs.confirm import ConfirmDialog

        def answered(yes: bool | None) -> None:
            if yes and self.running is not None:
                self.quit_requested = True
                self.running.cancel()
                self.notify(
                    "Stopping safely: Terraform finishes what is in flight and saves its state; "
                    "swarmwiz quits when that is done.",
                    title="Stopping",
                    timeout=10,
                )

        self.push_screen(
            ConfirmDialog(
                "Quit while running?",
                "A deploy or teardown is running. Quitting stops it safely first (Terraform finishes "
                "what is in flight and saves its state); running it again later converges.",
                yes_label="Stop and quit",
                no_label="Keep running",
                danger=True,
            ),
            answered,
        )


def _wizard_commands():
    # Imported when the palette first opens, not before the first frame.
    from swarmwiz.tui.commands import WizardCommands

    return WizardCommands


def run_app(target: Target) -> int:
    """Run the wizard in this terminal against `target` (built at the entry point); returns the exit code."""
    app = SwarmwizApp(Services(target), lab=target.is_lab)
    with _logs_off_the_terminal():
        app.run()
    return app.return_code or 0


@contextmanager
def _logs_off_the_terminal() -> Iterator[None]:
    """While the wizard draws, log records go to Textual's log (`textual console` shows them), not to the terminal.

    The command line's console handler holds the real stderr, which Textual's redirection cannot catch: a retry
    warning from urllib3 was written over the welcome screen. Deploys and teardowns keep their run logs either way.
    """
    from textual.logging import TextualHandler

    root = logging.getLogger()
    consoles = [h for h in root.handlers if type(h) is logging.StreamHandler]
    for console in consoles:
        handler = TextualHandler()
        handler.setLevel(console.level)
        handler.setFormatter(console.formatter)
        root.removeHandler(console)
        root.addHandler(handler)
    try:
        yield
    finally:
        for handler in [h for h in root.handlers if isinstance(h, TextualHandler)]:
            root.removeHandler(handler)
        for console in consoles:
            root.addHandler(console)
