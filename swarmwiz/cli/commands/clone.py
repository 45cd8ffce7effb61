"""`swarmwiz clone NAME --bucket B`: fetch a cluster's workspace from its shared state onto this machine."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from swarmwiz.core.target import Target
from swarmwiz.flows.errors import EXIT_OK

HELP = "fetch a cluster whose state is shared in Object Storage ([state] bucket) onto this machine"


def add_parser(subparsers, add: Callable[..., argparse.ArgumentParser]) -> argparse.ArgumentParser:
    from swarmwiz.flows.share import DEFAULT_REGION

    p = add("clone", run, HELP)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--bucket", required=True, help="the Object Storage bucket of the cluster's shared state")
    p.add_argument("--region", default=DEFAULT_REGION, help=f"the bucket's region (default {DEFAULT_REGION})")
    return p


def run(args: argparse.Namespace, target: Target) -> int:
    from swarmwiz.flows.share import clone

    pipeline = clone(args.name, args.bucket, target, region=args.region)
    print(
        f"cluster {args.name} cloned into {pipeline.workspace.path}; "
        f"`swarmwiz status {args.name}`, deploy and destroy now work here"
    )
    return EXIT_OK
