"""`swarmwiz plan -c cluster.toml`: resources to add, change and destroy, and the monthly cost."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from swarmwiz.core.target import Target
from swarmwiz.flows.errors import EXIT_OK

HELP = "preview: resources to add, change and destroy, and the monthly cost"


def add_parser(subparsers, add: Callable[..., argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = add("plan", run, HELP)
    p.add_argument("-c", "--config", required=True, metavar="FILE", help="the cluster.toml to plan")
    p.add_argument("--offline", action="store_true", help="only validate, render the workspace and estimate cost")
    return p


def run(args: argparse.Namespace, target: Target) -> int:
    from swarmwiz.cli.output import Output
    from swarmwiz.core.pipeline import Pipeline
    from swarmwiz.core.spec import load_spec
    from swarmwiz.flows.myaddress import whole_internet_warning

    spec = load_spec(args.config)
    pipeline = Pipeline.for_spec(spec, target)
    out = Output()
    if args.offline:
        with pipeline.workspace.lock("plan"):
            pipeline.workspace.render(spec, lab=target.is_lab)
    else:
        out.run(pipeline.plan())
    out.line(f"workspace: {pipeline.workspace.path}")
    out.cost(pipeline.cost())
    # Allowed, but said once the plan stands (never beside an error sentence); the exit code stays 0.
    if warning := whole_internet_warning(spec.allowed_cidrs):
        print(f"swarmwiz: warning: {warning}", file=sys.stderr)
    return EXIT_OK
