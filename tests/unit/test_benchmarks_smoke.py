"""The benchmark report is assembled correctly from fake numbers (no timing is measured or asserted here)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

# benchmarks/ lives beside the package, not in it; pytest does not put the repository root on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks import common, lab, report  # noqa: E402

FAKE = {
    "startup_first_frame_ms": 450.0,
    "bare_textual_first_frame_ms": 300.0,
    "log_ingest_lines_per_s": 60_000,
    "log_key_latency_p95_ms": 80.0,
    "log_peak_rss_mb": 90.0,
    "log_peak_rss_mb_100k": 70.0,
    "log_rss_growth_100k_to_200k_mb": 20.0,
    "log_rss_samples_mb": [[0, 35.0], [50_000, 60.0], [100_000, 80.0], [150_000, 81.0], [200_000, 82.0]],
    "tui_idle_cpu_percent": 0.4,
    "lab_deploy_s": {"1": 7.0, "5": 10.0, "20": 30.0, "50": None},
    "lab_barrier_deploy_s": {"1": 7.5, "5": 12.0, "20": 40.0},
    "lab_realtime_deploy_s": {"5": 120.0, "20": 150.0},
    "lab_baseline_sequential_s": 12.5,
    "lab_runs": [{"nodes": n, "ok": True, "deploy_s": s} for n, s in ((1, 7.0), (5, 10.0), (20, 30.0))],
    "lab_baseline_runs": [{"nodes": 5, "ok": True, "deploy_s": 12.5}, {"nodes": 20, "ok": True, "deploy_s": 40.0}],
    "lab_baseline_sequential_by_nodes_s": {"5": 12.5, "20": 40.0},
}


def test_assemble_ratios_and_verdicts():
    result = report.assemble(FAKE, {"date": "2026-01-01T00:00:00Z", "cpu": "fake"}, "full")
    assert result["startup_ratio"] == 1.5
    assert result["lab_20_vs_5_ratio"] == 3.0
    assert result["lab_5_vs_baseline_ratio"] == 0.8
    assert result["log_rss_growth_last_half_mb"] == 2.0
    verdicts = {name: t["met"] for name, t in result["targets"].items()}
    assert verdicts == {
        "startup_within_1_5x_bare": True,
        "log_ingest_50k_per_s": True,
        "log_key_latency_50ms": False,
        "log_memory_bounded": False,
        "idle_cpu_below_2pct": True,
        "lab_20_within_1_5x_5": False,
        "lab_beats_baseline": True,
        "lab_20_within_1_3x_5": False,
        "lab_50_within_2x_5": None,  # 50 did not deploy
        "realtime_3_2_under_3_min": True,
        "lab_beats_barrier": True,
    }
    assert result["lab_vs_barrier_ratio"] == {"1": 0.933, "5": 0.833, "20": 0.75}
    json.dumps(result)  # the document must be plain JSON


def test_quick_mode_leaves_lab_targets_unmeasured():
    quick = {k: v for k, v in FAKE.items() if not k.startswith("lab_")}
    result = report.assemble(quick, {"date": "2026-01-01T00:00:00Z"}, "quick")
    assert result["targets"]["lab_beats_baseline"]["met"] is None
    table = report.table(result)
    assert "not measured" in table and "**missed**" in table  # key latency 80 ms > 50 ms
    assert report.plot(result, None) is None  # no lab figures: no plot


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    result = report.assemble(FAKE, {"date": "2026-01-01T00:00:00Z"}, "full")
    path = report.plot(result, tmp_path / "deploy.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_statistics_helpers():
    assert common.percentile([5, 1, 4, 2, 3], 95) == 5
    assert common.percentile(list(range(1, 101)), 95) == 95
    assert common.percentile([], 95) is None
    assert common.median([3, 1, 2]) == 2
    assert common.ratio(1.0, 0) is None


def test_cli_output_parsing():
    stamped = [
        (0.0, "==> Bootstrap swarm"),
        (0.7, "    manager-1: docker swarm init (advertise 10.0.0.1)"),
        (2.0, "    worker-1: joining as worker via 10.0.0.1:2377"),
        (3.1, "    worker-1: joined as worker"),
        (4.0, "<== Bootstrap swarm ok (4.0s) - 1 managers, 1 workers"),
    ]
    assert lab.swarm_steps(stamped) == {
        "connect_and_inspect": 0.7,
        "init_and_tokens": 1.3,
        "joins": 1.1,
        "after_joins_until_ready": 0.9,
    }
    assert lab.phases("<== Terraform apply ok (2.1s) - 16 resources changed\n==> Wait for SSH") == {
        "Terraform apply": 2.1
    }
    assert lab.shape(1) == (1, 0) and lab.shape(20) == (3, 17)


def test_table_and_plot_carry_every_approach(tmp_path):
    result = report.assemble(FAKE, {"date": "2026-01-01T00:00:00Z"}, "full")
    text = report.table(result)
    assert "10.0 s / 30.0 s / n/a" in text  # 5, 20, and 50 not measured
    assert "7.5 s / 12.0 s / 40.0 s / n/a" in text  # the barrier variant
    assert "120.0 s / 150.0 s" in text  # time scale 1


def test_lab_variants_and_size_option():
    from benchmarks.__main__ import _sizes

    assert lab.SIZES == (1, 5, 20, 50)
    assert lab.VARIANTS["barrier"] == {"SWARMWIZ_SCHEDULING": "barrier"}
    assert lab.VARIANTS["realtime"] == {"SWARMWIZ_LAB_TIME_SCALE": "1"}
    assert _sizes("1,5") == (1, 5) and _sizes("") == ()
    with pytest.raises(Exception, match="node counts"):
        _sizes("0,5")


def test_a_failed_deploys_run_log_outlives_the_benchmarks_home(tmp_path):
    """The benchmark's home is temporary: a failed deploy's run log is copied out (the newest one, its mode kept)."""
    run = lab.LabRun(tmp_path)  # only makes its SSH key here
    runs = run.home / "clusters" / "b20-r0" / "runs"
    runs.mkdir(parents=True)
    for stamp in ("20261201T134001.000Z", "20261201T134908.731Z"):
        (runs / f"{stamp}-deploy.log").write_text(f"deploy at {stamp}\n")
        (runs / f"{stamp}-deploy.log").chmod(0o600)
    (runs / "20261201T135500.000Z-destroy.log").write_text("a destroy, not the deploy\n")
    kept = run.keep_run_log("b20-r0", keep=tmp_path / "kept")
    assert kept == str(tmp_path / "kept" / "b20-r0-20261201T134908.731Z-deploy.log")
    assert Path(kept).read_text() == "deploy at 20261201T134908.731Z\n"
    assert Path(kept).stat().st_mode & 0o777 == 0o600
    assert run.keep_run_log("never-deployed", keep=tmp_path / "kept") is None
