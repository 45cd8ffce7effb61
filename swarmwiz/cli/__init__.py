"""Command line: the same pipeline as the wizard, without a UI. `main` parses, builds the run's target once and hands
it to one module per subcommand (`swarmwiz.cli.commands.*`, each `add_parser` + `run(args, target) -> exit code`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from swarmwiz import __version__
from swarmwiz.core.errors import SwarmwizError
from swarmwiz.flows.errors import EXIT_CODES_HELP, EXIT_USAGE, describe

log = logging.getLogger("swarmwiz")

EPILOG = f"""\
{EXIT_CODES_HELP}
files: everything swarmwiz writes goes under $SWARMWIZ_HOME (default: the platform's user data directory).
credentials: the OS keyring (service "swarmwiz"); SCW_ACCESS_KEY, SCW_SECRET_KEY, SCW_DEFAULT_PROJECT_ID and
CLOUDFLARE_API_TOKEN in the environment take precedence (for CI); SCW_API_URL and CLOUDFLARE_BASE_URL move the APIs.
"""

# The subcommands in --help order; each module registers its parser and runs it.
COMMANDS = ("deploy", "plan", "status", "destroy", "clone", "list", "credentials", "doctor", "lab")


class _Parser(argparse.ArgumentParser):
    """argparse that prints one line and exits 2 on a usage error (instead of the full usage block)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"swarmwiz: error: {message} (see `{self.prog} --help`)\n")


WIZARD_FLAGS = frozenset({"--lab", "--plain", "--debug"})


def build_parser(*, commands: bool = True) -> argparse.ArgumentParser:
    """The whole command line: global options, then one subparser per module in `COMMANDS` (without `commands`, the
    global options only: what starting the wizard needs)."""
    import importlib

    parser = _Parser(
        prog="swarmwiz",
        description="Stand up a Docker Swarm mode cluster on Scaleway with Cloudflare DNS, and tear it down again. "
        "Without a command, the wizard starts.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"swarmwiz {__version__}")
    parser.add_argument("--lab", action="store_true", help="use the local lab instead of Scaleway and Cloudflare")
    parser.add_argument("--plain", action="store_true", help="ask the wizard's questions line by line (no full screen)")
    parser.add_argument("--debug", action="store_true", help="show debug logs and tracebacks")
    if not commands:
        return parser
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add(name: str, func: Callable[..., int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        p.add_argument("--lab", action="store_true", default=argparse.SUPPRESS, help="use the local lab")
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        return p

    for name in COMMANDS:
        importlib.import_module(f"swarmwiz.cli.commands.{name}").add_parser(sub, add)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: parse, build the target (real clouds or `--lab`), run one command; returns an exit code."""
    from swarmwiz.flows.target import build_target

    argv = list(sys.argv[1:] if argv is None else argv)
    # Starting the wizard needs no subcommand's module: importing the nine of them (and what they import) only to
    # register their parsers came before the wizard's first frame.
    parser = build_parser(commands=not WIZARD_FLAGS.issuperset(argv))
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False) or bool(os.environ.get("SWARMWIZ_DEBUG"))
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        target = build_target(args.lab)
        func = getattr(args, "func", None)
        if func is None:
            return run_wizard(args, target)
        return func(args, target)
    except (SwarmwizError, OSError, KeyboardInterrupt) as exc:
        if debug:
            log.exception("failed")
        said = describe(exc)
        for line in said.lines:
            print(f"swarmwiz: {'error: ' if not isinstance(exc, KeyboardInterrupt) else ''}{line}", file=sys.stderr)
        return said.exit_code


def run_wizard(args: argparse.Namespace, target) -> int:
    """No subcommand: the Textual wizard, or its questions line by line with --plain."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        # Without a terminal the wizard would wait for keys forever (and Textual would keep a core busy drawing).
        print(
            "swarmwiz: error: the wizard asks its questions in a terminal and this is not one (stdin or stdout is "
            "redirected); run a command instead, e.g. swarmwiz plan -c cluster.toml (swarmwiz --help lists them)",
            file=sys.stderr,
        )
        return 2
    if args.plain:
        from swarmwiz.cli.plain import run_plain

        return run_plain(target)
    from swarmwiz.tui.app import run_app  # the one place the command line reaches into the wizard

    return run_app(target)
