"""`swarmwiz list`: the clusters known on this machine (their workspaces), lab and real alike."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from swarmwiz.core.target import Target
from swarmwiz.flows.errors import EXIT_OK

HELP = "clusters known here"


def add_parser(subparsers, add: Callable[..., argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = add("list", run, HELP)
    p.add_argument("--json", action="store_true", help="print JSON")
    return p


def run(args: argparse.Namespace, target: Target) -> int:
    from swarmwiz.cli.output import Output
    from swarmwiz.core.workspace import list_workspaces

    rows = []
    for ws in list_workspaces():
        meta = ws.meta()
        rows.append(
            {
                "name": ws.name,
                "state": meta.get("state", "unknown"),
                "lab": bool(meta.get("lab")),
                "nodes": meta.get("nodes"),
                "path": str(ws.path),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if not rows:
        print("No clusters known here. Start with `swarmwiz` or `swarmwiz deploy -c cluster.toml`.")
        return EXIT_OK
    Output().table(
        ["NAME", "STATE", "WHERE", "NODES", "WORKSPACE"],
        [[r["name"], r["state"], "lab" if r["lab"] else "scaleway", str(r["nodes"] or "-"), r["path"]] for r in rows],
    )
    return EXIT_OK
