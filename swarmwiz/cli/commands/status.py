"""`swarmwiz status NAME`: the node table; exit 0 only if every node is Ready."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from swarmwiz.core.target import Target
from swarmwiz.flows.errors import EXIT_FAILED, EXIT_OK

HELP = "node table of a cluster; exit 0 only if every node is Ready"


def add_parser(subparsers, add: Callable[..., argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = add("status", run, HELP)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--json", action="store_true", help="print JSON")
    return p


def run(args: argparse.Namespace, target: Target) -> int:
    from swarmwiz.cli.output import Output
    from swarmwiz.core.pipeline import Pipeline

    result = Pipeline.for_name(args.name, target).read_status()
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        Output().status(result)
    return EXIT_OK if result.all_ready else EXIT_FAILED
