"""`swarmwiz deploy -c cluster.toml`: create or converge a cluster, then set up the Docker context."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable

from swarmwiz.core.errors import InputError
from swarmwiz.core.target import Target
from swarmwiz.flows.errors import EXIT_FAILED, EXIT_OK

HELP = "create or converge a cluster from a cluster.toml"


def add_parser(subparsers, add: Callable[..., argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = add("deploy", run, HELP)
    p.add_argument("-c", "--config", required=True, metavar="FILE", help="the cluster.toml to deploy")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask before applying the plan")
    p.add_argument(
        "--replace-dns",
        action="store_true",
        help="delete DNS records already at the cluster's names (listed first; asks unless --yes)",
    )
    p.add_argument(
        "--ssh-config",
        action="store_true",
        help="include the cluster's SSH config (node aliases, pinned host keys) from ~/.ssh/config without asking",
    )
    return p


def run(args: argparse.Namespace, target: Target) -> int:
    from swarmwiz.cli.interrupts import safe_interrupts
    from swarmwiz.cli.output import Output
    from swarmwiz.core.pipeline import Pipeline
    from swarmwiz.core.spec import load_spec
    from swarmwiz.flows.access import access_hints, recording, set_up_access
    from swarmwiz.flows.myaddress import whole_internet_warning

    spec = load_spec(args.config)
    if args.replace_dns:
        spec = dataclasses.replace(spec, replace_existing=True)
    out = Output()
    pipeline = Pipeline.for_spec(spec, target)
    warned = False

    def warn_whole_internet() -> None:
        """Say once (before the question, else after the run) that the whole internet may try SSH: a warning, not
        an error, so the exit code stays; printed only after the input passed its checks (bad input: one sentence)."""
        nonlocal warned
        warning = whole_internet_warning(spec.allowed_cidrs)
        if warning and not warned:
            print(f"swarmwiz: warning: {warning}", file=sys.stderr, flush=True)
        warned = True

    def confirm(summary, cost) -> bool:
        out.cost(cost)
        if summary.empty:
            return True
        if not sys.stdin.isatty():
            raise InputError("deploy: confirmation needed but stdin is not a terminal; pass --yes to apply the plan")
        warn_whole_internet()
        return out.ask("Apply this plan? [y/N] ").strip().lower() in ("y", "yes")

    def confirm_move(question: str) -> bool:
        """A cluster deployed with a local state gained [state] bucket: move its state there? (--yes: moved)"""
        if not sys.stdin.isatty():
            out.line("Not moved: stdin is not a terminal, so nobody can approve; pass --yes to move the state.")
            return False
        return out.ask(f"{question[0].upper()}{question[1:]}? [y/N] ").strip().lower() in ("y", "yes")

    if args.yes:
        out.cost(pipeline.cost())
    with safe_interrupts(pipeline, out), recording(pipeline, "deploy") as run:
        events = pipeline.deploy(
            confirm=confirm,
            auto_approve=args.yes,
            confirm_move=confirm_move,
            **deletion_questions(spec.name, lambda intro, items: approve_deletion(out, intro, items)),
        )
        result = out.run(run.events(events))
        run.note(result.health_line() if result is not None else "nothing applied")
    warn_whole_internet()
    if result is None:
        out.line("Nothing applied.")
        return EXIT_OK
    out.status(result)
    interactive = not args.yes and sys.stdin.isatty()

    def ask(question: str) -> bool:
        return out.ask(question).strip().lower() in ("y", "yes")

    # Access first, so the hints name what now exists (the node alias, the Docker context).
    for line in set_up_access(pipeline, result, consent=args.ssh_config, ask=ask if interactive else None):
        out.line(line)
    out.access(access_hints(pipeline, result))
    if not result.all_ready:
        out.line(f"run log: {run.path}")
    return EXIT_OK if result.all_ready else EXIT_FAILED


def deletion_questions(name: str, approve: Callable[[str, list[str]], bool]) -> dict[str, Callable[[list], bool]]:
    """The deploy's `confirm_delete` and `confirm_replace_dns` on the command line (here and in plain mode): each
    hands `approve` a line saying what would be deleted and the items, one a line; `approve` lists them and asks."""
    from swarmwiz.core.preflight import describe_record

    def confirm_delete(objects) -> bool:
        return approve(
            f"{len(objects)} objects of cluster {name} are not in Terraform's state (left by an interrupted run):",
            [obj.describe() for obj in objects],
        )

    def confirm_replace_dns(records) -> bool:
        return approve(
            f"DNS records at the names of cluster {name} that are not its own (dns.replace_existing):",
            [describe_record(r) for r in records],
        )

    return {"confirm_delete": confirm_delete, "confirm_replace_dns": confirm_replace_dns}


def approve_deletion(out, intro: str, items: list[str]) -> bool:
    """List what the deploy would delete, then ask on a terminal (default No). A refusal says the command line's way
    out (--yes); the core's sentence that follows it names no frontend's flag."""
    out.line(intro)
    for item in items:
        out.line(f"  {item}")
    if sys.stdin.isatty():
        if out.ask("Delete them? [y/N] ").strip().lower() in ("y", "yes"):
            return True
        out.line("Not deleted; `swarmwiz deploy --yes` deletes them without asking.")
    else:
        out.line("Not deleted: stdin is not a terminal, so nobody can approve; pass --yes to delete them.")
    return False
