"""`swarmwiz lab status|clean|env`: look at, empty, or export the environment of the local lab."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from swarmwiz.core.target import Target
from swarmwiz.flows.errors import EXIT_OK

HELP = "the local lab: a local Scaleway + Cloudflare with real sshd and dockerd hosts"


def add_parser(subparsers, add: Callable[..., argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = add("lab", run, HELP)
    p.add_argument("action", choices=["status", "clean", "env"], help="status, clean, or env (shell exports)")
    p.add_argument("--json", action="store_true", help="status as JSON")
    return p


def run(args: argparse.Namespace, target: Target) -> int:
    """Manages the lab itself, so it works on the lab whatever target the run was given."""
    from swarmwiz.cli.output import Output
    from swarmwiz.lab import Lab, env_exports

    lab = Lab()
    if args.action == "clean":
        lab.clean()
        print("The lab is clean: no servers, namespaces, bridges, processes or state left.")
        return EXIT_OK
    lab.check_prerequisites()
    if args.action == "env":
        lab.ensure_running()
        print(env_exports(lab))
        return EXIT_OK
    status = lab.status()
    if args.json:
        print(json.dumps(status, indent=2))
        return EXIT_OK
    Output().lab_status(status)
    return EXIT_OK
