"""Turn raw measurements into the result JSON (medians, ratios, targets met or missed) and the deploy-time plot."""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import ratio

# Targets from issues 8 and 14; each is (key it reads, test, how it reads in words).
TARGETS = {
    "startup_within_1_5x_bare": ("startup_ratio", lambda v: v <= 1.5, "first frame <= 1.5x bare Textual"),
    "log_ingest_50k_per_s": ("log_ingest_lines_per_s", lambda v: v >= 50_000, ">= 50k log lines/s"),
    "log_key_latency_50ms": ("log_key_latency_p95_ms", lambda v: v <= 50, "key latency p95 <= 50 ms"),
    "log_memory_bounded": (
        "log_rss_growth_100k_to_200k_mb",
        lambda v: v <= 10,
        "peak RSS after 200k lines within 10 MB of that after 100k",
    ),
    "idle_cpu_below_2pct": ("tui_idle_cpu_percent", lambda v: v < 2, "idle CPU < 2%"),
    "lab_20_within_1_5x_5": ("lab_20_vs_5_ratio", lambda v: v <= 1.5, "20-node deploy <= 1.5x 5-node"),
    "lab_beats_baseline": ("lab_5_vs_baseline_ratio", lambda v: v < 1, "5-node deploy faster than sequential"),
    "lab_20_within_1_3x_5": ("lab_20_vs_5_ratio", lambda v: v <= 1.3, "20-node deploy <= 1.3x 5-node (issue 14)"),
    "lab_50_within_2x_5": ("lab_50_vs_5_ratio", lambda v: v <= 2, "50-node deploy <= 2x 5-node"),
    "realtime_3_2_under_3_min": ("lab_realtime_5_s", lambda v: v < 180, "3+2 at time scale 1 < 3 min"),
    "lab_beats_barrier": (
        "lab_vs_barrier_worst_ratio",
        lambda v: v < 1,
        "faster than the barrier variant at every size measured",
    ),
}


def rss_growth_last_half(samples: list) -> float | None:
    """RSS growth while the second half of the lines arrived: near zero when the pane's memory is bounded."""
    if not samples:
        return None
    total = samples[-1][0]
    mid = [rss for lines, rss in samples if lines >= total / 2 and rss is not None]
    return round(mid[-1] - mid[0], 1) if len(mid) >= 2 else None


def assemble(raw: dict, machine: dict, mode: str) -> dict:
    """The result document: machine and date, every raw figure, the ratios, and each target's verdict."""
    out = {"mode": mode, "machine": machine, "date": machine.get("date"), **raw}
    out["startup_ratio"] = ratio(raw.get("startup_first_frame_ms"), raw.get("bare_textual_first_frame_ms"))
    out["log_rss_growth_last_half_mb"] = rss_growth_last_half(raw.get("log_rss_samples_mb") or [])
    deploy = raw.get("lab_deploy_s") or {}
    out["lab_20_vs_5_ratio"] = ratio(deploy.get("20"), deploy.get("5"))
    out["lab_5_vs_baseline_ratio"] = ratio(deploy.get("5"), raw.get("lab_baseline_sequential_s"))
    out["lab_50_vs_5_ratio"] = ratio(deploy.get("50"), deploy.get("5"))
    out["lab_realtime_5_s"] = (raw.get("lab_realtime_deploy_s") or {}).get("5")
    barrier = raw.get("lab_barrier_deploy_s") or {}
    vs_barrier = {n: ratio(deploy.get(n), s) for n, s in barrier.items() if ratio(deploy.get(n), s) is not None}
    out["lab_vs_barrier_ratio"] = vs_barrier
    out["lab_vs_barrier_worst_ratio"] = max(vs_barrier.values(), default=None)
    out["targets"] = {}
    for name, (key, test, words) in TARGETS.items():
        value = out.get(key)
        out["targets"][name] = {"target": words, "value": value, "met": None if value is None else bool(test(value))}
    return out


def plot(result: dict, path: Path) -> Path | None:
    """Lab deploy time against node count (medians and every run), with the sequential baseline at its size."""
    deploy = result.get("lab_deploy_s") or {}
    points = sorted((int(n), s) for n, s in deploy.items() if s is not None)
    if not points:
        return None
    try:
        import matplotlib
    except ImportError:  # the plot needs the bench extra; the JSON and the table do not
        print("no plot: matplotlib is missing (pip install -e '.[bench]')")
        return None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    ax.plot([n for n, _ in points], [s for _, s in points], "o-", label="swarmwiz deploy --lab (median)")
    for key, style, words in (
        ("lab_barrier_deploy_s", "^-.", "swarmwiz, node barrier (old scheduling)"),
        ("lab_realtime_deploy_s", "d:", "swarmwiz at time scale 1 (real boot durations)"),
        ("lab_realtime_barrier_deploy_s", "v:", "swarmwiz at time scale 1, node barrier"),
    ):
        line = sorted((int(n), s) for n, s in (result.get(key) or {}).items() if s is not None)
        if line:
            ax.plot([n for n, _ in line], [s for _, s in line], style, label=words)
    runs = [r for r in result.get("lab_runs") or [] if r.get("ok")]
    if runs:
        ax.scatter([r["nodes"] for r in runs], [r["deploy_s"] for r in runs], s=12, alpha=0.4, label="each run")
    failed = [r for r in result.get("lab_runs") or [] if not r.get("ok") and r.get("deploy_s") is not None]
    if failed:
        ax.scatter(
            [r["nodes"] for r in failed], [r["deploy_s"] for r in failed], marker="x", color="black", label="failed run"
        )
    base = result.get("lab_baseline_sequential_by_nodes_s") or {}
    if not base and result.get("lab_baseline_sequential_s") is not None:
        base = {"5": result["lab_baseline_sequential_s"]}
    base_points = sorted((int(n), s) for n, s in base.items() if s is not None)
    if base_points:
        ax.plot(
            [n for n, _ in base_points],
            [s for _, s in base_points],
            "s--",
            color="tab:red",
            zorder=3,
            label="old recipe: apply, then SSH node by node",
        )
    ax.set_xlabel("nodes")
    ax.set_ylabel("seconds to a running swarm")
    ax.set_xticks(sorted({n for n, _ in points} | {r["nodes"] for r in failed}))
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.set_title(f"Lab deploy time vs node count ({result.get('date', '')[:10]})")
    ax.legend(fontsize=8, loc="center right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def table(result: dict) -> str:
    """The README's results table (Markdown)."""
    m = result.get("machine", {})

    def f(key: str, unit: str = "", digits: int = 0) -> str:
        value = result.get(key)
        return "n/a" if value is None else f"{value:,.{digits}f}{unit}"

    def times(key: str) -> str:
        return "n/a" if result.get(key) is None else f"x{result[key]:.2f}"

    def verdict(name: str) -> str:
        met = result["targets"][name]["met"]
        return {True: "met", False: "**missed**", None: "not measured"}[met]

    deploy = result.get("lab_deploy_s") or {}
    failed = result.get("lab_errors") or {}

    def size(n: str) -> str:
        if deploy.get(n) is not None:
            return f"{deploy[n]:.1f} s"
        return "failed" if f"default:{n}" in failed else "n/a"

    d = {n: size(n) for n in ("1", "5", "20", "50")}

    def sizes(key: str, ns: tuple[str, ...]) -> str:
        values = result.get(key) or {}
        return " / ".join("n/a" if values.get(n) is None else f"{values[n]:.1f} s" for n in ns)

    rows = [
        (
            "First frame (tmux 120x40), swarmwiz / bare Textual",
            f"{f('startup_first_frame_ms', ' ms')} / {f('bare_textual_first_frame_ms', ' ms')} "
            f"({times('startup_ratio')})",
            "<= 1.5x",
            verdict("startup_within_1_5x_bare"),
        ),
        (
            "Log flood: lines/s into the deploy screen's pane",
            f("log_ingest_lines_per_s"),
            ">= 50,000",
            verdict("log_ingest_50k_per_s"),
        ),
        (
            "Log flood: key latency p95",
            f("log_key_latency_p95_ms", " ms", 1),
            "<= 50 ms",
            verdict("log_key_latency_50ms"),
        ),
        (
            "Log flood: peak RSS after 100k / 200k lines",
            f"{f('log_peak_rss_mb_100k', ' MB', 1)} / {f('log_peak_rss_mb', ' MB', 1)}",
            "bounded (+<10 MB)",
            verdict("log_memory_bounded"),
        ),
        ("Idle CPU on the welcome screen", f("tui_idle_cpu_percent", " %", 2), "< 2 %", verdict("idle_cpu_below_2pct")),
        ("Lab deploy 1 / 5 / 20 / 50 nodes", f"{d['1']} / {d['5']} / {d['20']} / {d['50']}", "", ""),
        (
            "Lab deploy with node barrier, 1 / 5 / 20 / 50",
            sizes("lab_barrier_deploy_s", ("1", "5", "20", "50")),
            "",
            "",
        ),
        ("Lab deploy at time scale 1, 5 / 20 nodes", sizes("lab_realtime_deploy_s", ("5", "20")), "", ""),
        (
            "Lab deploy 20 vs 5 nodes",
            times("lab_20_vs_5_ratio"),
            "<= 1.5x (#8), <= 1.3x (#14)",
            f"{verdict('lab_20_within_1_5x_5')}, {verdict('lab_20_within_1_3x_5')}",
        ),
        (
            "Lab deploy 50 vs 5 nodes",
            "50 failed" if d["50"] == "failed" else times("lab_50_vs_5_ratio"),
            "<= 2x",
            "**missed**" if d["50"] == "failed" else verdict("lab_50_within_2x_5"),
        ),
        (
            "Lab deploy vs barrier variant (worst size)",
            times("lab_vs_barrier_worst_ratio"),
            "< 1x",
            verdict("lab_beats_barrier"),
        ),
        (
            "3+2 at time scale 1, end to end",
            f("lab_realtime_5_s", " s", 1),
            "< 180 s",
            verdict("realtime_3_2_under_3_min"),
        ),
        (
            "Lab 5 nodes, swarmwiz vs old recipe (sequential)",
            f"{d['5']} vs {f('lab_baseline_sequential_s', ' s', 1)} ({times('lab_5_vs_baseline_ratio')})",
            "< 1x",
            verdict("lab_beats_baseline"),
        ),
    ]
    head = (
        f"Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('mem_mb', '?')} MB RAM, "
        f"{m.get('os', '')}, Python {m.get('python', '')}, Textual {m.get('versions', {}).get('textual', '?')}; "
        f"date {result.get('date', '?')}; mode {result.get('mode')}.\n\n"
    )
    lines = ["| measure | result | target | verdict |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {v} |" for a, b, c, v in rows]
    return head + "\n".join(lines) + "\n"
