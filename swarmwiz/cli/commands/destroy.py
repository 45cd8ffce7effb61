"""`swarmwiz destroy NAME`: tear a cluster down and check that nothing of it remains."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable

from swarmwiz.core.errors import InputError
from swarmwiz.core.target import Target
from swarmwiz.flows.errors import EXIT_FAILED, EXIT_OK

HELP = "tear a cluster down and check that nothing remains"


def add_parser(subparsers, add: Callable[..., argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = add("destroy", run, HELP)
    p.add_argument("name", metavar="NAME")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask to type the name")
    p.add_argument("--forget", action="store_true", help="also delete the cluster's local workspace afterwards")
    return p


def run(args: argparse.Namespace, target: Target) -> int:
    from swarmwiz.cli.interrupts import safe_interrupts
    from swarmwiz.cli.output import Output
    from swarmwiz.core.pipeline import Pipeline

    pipeline = Pipeline.for_name(args.name, target)
    out = Output()

    def confirm(inventory) -> bool:
        out.inventory(inventory)
        if args.yes:
            return True
        if not sys.stdin.isatty():
            raise InputError("destroy: confirmation needed but stdin is not a terminal; pass --yes to destroy")
        typed = out.ask(f"Type the cluster name ({args.name}) to destroy it: ")
        return typed.strip() == args.name

    # --forget: the lock is held from the destroy through the removal, so no other run starts in between
    with (
        safe_interrupts(pipeline, out),
        pipeline.workspace.lock("destroy --forget", reentrant=True) if args.forget else contextlib.nullcontext(),
    ):
        report = out.run(pipeline.destroy(confirm=confirm))
        if report is not None and args.forget and report.clean:
            pipeline.workspace.remove()
    if report is None:
        out.line("Nothing destroyed.")
        return EXIT_OK
    out.leftovers(report)
    if args.forget and report.clean:
        out.line(f"Forgot the workspace {pipeline.workspace.path}.")
    return EXIT_OK if report.clean else EXIT_FAILED
