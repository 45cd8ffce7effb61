"""`python -m benchmarks [--quick] [--out FILE]`: run the measurements, write JSON, the plot and a Markdown table."""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path

from benchmarks import common, report

HERE = Path(__file__).resolve().parent


def run(quick: bool, only: set[str] | None = None, lab_options: dict | None = None) -> dict:
    """Every section; one failing section is reported in the JSON and does not stop the others."""
    from benchmarks import lab, logflood, startup

    sections = {
        "startup": lambda: startup.first_frames(runs=3 if quick else 7),
        "idle": lambda: startup.idle_cpu(seconds=5 if quick else 15),
        "logflood": _logflood,
    }
    if not quick:
        sections["logflood_fixes"] = lambda: {
            "log_fix_variants": {
                v: _brief(logflood.measure(lines=200_000, variant=v)) for v in logflood.VARIANTS if v != "as-is"
            }
        }
        sections["lab"] = lambda: lab.measure(**({"repeats": 3, "big_repeats": 2} | (lab_options or {})))
    raw: dict = {}
    for name, fn in sections.items():
        if only and name not in only:
            continue
        if name == "startup" and not shutil.which("tmux"):
            raw["startup_error"] = "tmux not found"
            continue
        t0 = time.monotonic()
        logging.info("benchmark %s...", name)
        try:
            raw.update(fn())
        except Exception as exc:  # noqa: BLE001 - a broken section is a result, not a crash
            raw[f"{name}_error"] = f"{type(exc).__name__}: {exc}"[-600:]
        raw.setdefault("section_seconds", {})[name] = round(time.monotonic() - t0, 1)
        logging.info("benchmark %s done in %.1fs", name, time.monotonic() - t0)
    return raw


def _logflood() -> dict:
    """The 200k-line flood, plus a 100k one: a pane whose memory is bounded peaks at the same RSS for both."""
    from benchmarks import logflood

    half = logflood.measure(lines=100_000)
    full = logflood.measure(lines=200_000)
    full["log_peak_rss_mb_100k"] = half.get("log_peak_rss_mb")
    if full.get("log_peak_rss_mb") is not None and half.get("log_peak_rss_mb") is not None:
        full["log_rss_growth_100k_to_200k_mb"] = round(full["log_peak_rss_mb"] - half["log_peak_rss_mb"], 1)
    return full


def _brief(flood: dict) -> dict:
    """The headline figures of a log-flood run with a proposed fix patched in, for comparison with as-is."""
    keys = (
        "log_ingest_lines_per_s",
        "log_key_latency_p50_ms",
        "log_key_latency_p95_ms",
        "log_peak_rss_mb",
        "log_keys_pressed",
        "log_keys_seen_painted",
        "log_error",
    )
    return {k: flood[k] for k in keys if k in flood}


def _sizes(text: str) -> tuple[int, ...]:
    """`1,5,20` -> (1, 5, 20); each a positive node count."""
    try:
        sizes = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes: {text!r} is not a comma-separated list of node counts") from None
    if any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError(f"--sizes: node counts must be 1 or more, not {text!r}")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="about a minute: fewer runs, no lab deploys")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="result JSON (default: benchmarks/results/latest[-quick].json); the plot and the "
        "Markdown table go beside it",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=["startup", "idle", "logflood", "logflood_fixes", "lab"],
        help="run only these sections (repeatable)",
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=None,
        help="lab: node counts to deploy, comma-separated (default 1,5,20,50), e.g. --sizes 1,5 --only lab",
    )
    parser.add_argument(
        "--realtime-sizes",
        type=_sizes,
        default=None,
        help="lab: node counts to deploy at time scale 1 (default 5,20; empty string for none)",
    )
    parser.add_argument(
        "--barrier-sizes",
        type=_sizes,
        default=None,
        help="lab: node counts for the barrier variant (default: the --sizes), e.g. --barrier-sizes 5,20",
    )
    parser.add_argument(
        "--realtime-barrier-sizes",
        type=_sizes,
        default=None,
        help="lab: node counts for the barrier variant at time scale 1 (default none), e.g. 5",
    )
    parser.add_argument("--repeats", type=int, default=None, help="lab: runs per size (default 3)")
    parser.add_argument("--no-barrier", action="store_true", help="lab: skip the barrier variant")
    parser.add_argument("--no-baseline", action="store_true", help="lab: skip the old recipe's sequential flow")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="measure nothing: recompute ratios, targets, the plot and the table from the existing result JSON",
    )
    args = parser.parse_args(argv)
    lab_options: dict = {}
    if args.sizes is not None:
        lab_options["sizes"] = args.sizes
    if args.realtime_sizes is not None:
        lab_options["realtime_sizes"] = args.realtime_sizes
    if args.barrier_sizes is not None:
        lab_options["barrier_sizes"] = args.barrier_sizes
    if args.realtime_barrier_sizes is not None:
        lab_options["realtime_barrier_sizes"] = args.realtime_barrier_sizes
    if args.repeats is not None:
        lab_options |= {"repeats": args.repeats, "big_repeats": min(2, args.repeats)}
    if args.no_barrier:
        lab_options["barrier"] = False
    if args.no_baseline:
        lab_options["baseline"] = False
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    out = args.out or HERE / "results" / ("latest-quick.json" if args.quick else "latest.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        stored = json.loads(out.read_text())
        result = report.assemble(stored, stored.get("machine", {}), stored.get("mode", "full"))
    else:
        machine = common.machine_info()
        result = report.assemble(
            run(args.quick, set(args.only) if args.only else None, lab_options),
            machine,
            "quick" if args.quick else "full",
        )
    out.write_text(json.dumps(result, indent=2) + "\n")
    png = report.plot(result, out.with_suffix(".png"))
    out.with_suffix(".md").write_text(report.table(result))
    print(report.table(result))
    print(f"wrote {out}" + (f" and {png}" if png else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
