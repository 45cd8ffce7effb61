"""`swarmwiz doctor`: check what a first run needs and say what to do about each miss, one line each."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from swarmwiz.core.target import Target
from swarmwiz.flows.errors import EXIT_FAILED, EXIT_OK

HELP = "check what a first run needs (Terraform, keyring, credentials, SSH key, tools, APIs, clock)"
MARKS = {"ok": "ok  ", "warn": "warn", "fail": "FAIL", "skip": "skip"}


def add_parser(subparsers, add: Callable | None = None) -> argparse.ArgumentParser:
    """Register `doctor` on `subparsers` (through the CLI's `add(name, func, help)` helper when given)."""
    if add is not None:
        p = add("doctor", run, HELP)
    else:
        p = subparsers.add_parser("doctor", help=HELP, description=HELP)
        p.set_defaults(func=run)
        p.add_argument("--lab", action="store_true", default=argparse.SUPPRESS, help="use the local lab")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.add_argument("--domain", metavar="ZONE", help="require DNS edit permission on this Cloudflare zone")
    p.add_argument("--offline", action="store_true", help="leave out the APIs, the clock and live credential checks")
    p.epilog = "Exit code 0 when nothing would stop a first run (warnings allowed), 1 otherwise."
    return p


def run(args: argparse.Namespace, target: Target) -> int:
    """Run every check and print one line each (or JSON); 0 when all is well, 1 otherwise."""
    import logging

    from swarmwiz.flows.doctor import run_checks

    # Each check reports its own failure in one line: the API layer's retry warnings (and urllib3's) would only
    # print a dozen lines about the same unreachable host before the table.
    for name in ("swarmwiz.api", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)
    report = run_checks(lab=target.is_lab, domain=args.domain, network=not args.offline)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return EXIT_OK if report.ok else EXIT_FAILED
    width = max(len(f.label) for f in report.findings)
    for f in report.findings:
        fix = f"  -> {f.fix}" if f.fix and f.status != "ok" else ""
        print(f"{MARKS.get(f.status, f.status):<4}  {f.label:<{width}}  {f.detail}{fix}")
    failed = [f for f in report.findings if f.status == "fail"]
    warned = [f for f in report.findings if f.status == "warn"]
    if failed:
        print(f"{len(failed)} of {len(report.findings)} checks failed: fix them before the first run.")
    elif warned:
        print(f"Ready for a first run ({len(warned)} warning{'s' if len(warned) != 1 else ''}).")
    else:
        print("Ready for a first run.")
    sys.stdout.flush()
    return EXIT_OK if report.ok else EXIT_FAILED
