"""Run logs: events and swarmwiz log records written to runs/<time>-<op>.log, secrets masked, 0600, 20 kept."""

from __future__ import annotations

import io
import logging
import re
import stat
import time

import pytest

from swarmwiz.core import events as ev
from swarmwiz.core.errors import EngineError
from swarmwiz.core.runlog import FLUSH_S, KEEP, RAW_BLOCK, latest, prune, recording

SECRET = "0f1e2d3c-4b5a-4968-8776-655443322110"


def pipeline_events(fail: bool = False):
    yield ev.PhaseStarted(ev.Phase.APPLY)
    yield ev.LogLine(ev.Phase.APPLY, "Error: a line the frontend shows itself", level="error")
    yield ev.LogLine(ev.Phase.APPLY, f"provider said token={SECRET}")
    yield ev.ResourceChanged(
        ev.Phase.APPLY, "scaleway_instance_server.node[0]", "scaleway_instance_server", "create", "done"
    )
    logging.getLogger("swarmwiz.core.ssh").info("manager-1 (10.0.0.1): `docker info` exited 0 in 0.10s")
    logging.getLogger("swarmwiz.core.terraform").debug("running apply with %s", SECRET)
    if fail:
        raise EngineError(f"terraform apply failed: quota exceeded for {SECRET}")
    yield ev.PhaseFinished(ev.Phase.APPLY, message="1 resources changed")
    return "done"


def test_events_logs_and_timings_without_the_secret(tmp_path):
    console = io.StringIO()
    handler = logging.StreamHandler(console)  # what the CLI's logging.basicConfig installs (level NOTSET)
    logging.getLogger().addHandler(handler)
    try:
        with recording(tmp_path, "deploy", lambda: [SECRET]) as run:
            result = yield_all(run.events(pipeline_events()))
    finally:
        logging.getLogger().removeHandler(handler)
    assert result == "done"
    text = run.path.read_text()
    assert run.path.parent == tmp_path / "runs" and run.path.name.endswith("-deploy.log")
    assert stat.S_IMODE(run.path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "runs").stat().st_mode) == 0o700
    assert "phase started: Terraform apply" in text
    assert "ERROR   run: [apply] Error: a line the frontend shows itself" in text
    assert "phase ok: Terraform apply - 1 resources changed (" in text  # with the phase's duration
    assert "scaleway_instance_server.node[0]" in text
    assert "`docker info` exited 0" in text  # SSH commands through the swarmwiz loggers
    assert "running apply with ********" in text  # debug records too, masked
    assert SECRET not in text
    assert "deploy ok after" in text
    # The console kept its level (WARNING): no info or debug record reached it, and its level is back to NOTSET.
    assert console.getvalue() == "" and handler.level == logging.NOTSET


def test_an_error_ends_with_the_log_path(tmp_path):
    with pytest.raises(EngineError) as caught, recording(tmp_path, "deploy", [SECRET]) as run:
        yield_all(run.events(pipeline_events(fail=True)))
    assert caught.value.message.endswith(f"(run log: {run.path})")
    assert str(caught.value).endswith(f"(run log: {run.path})")
    text = run.path.read_text()
    assert "Terraform failed: terraform apply failed: quota exceeded for ********" in text
    assert "deploy failed (Terraform failed, exit code 1)" in text
    assert SECRET not in text


def test_raw_output_lines_read_like_records_in_order_and_reach_the_file_while_the_run_goes_on(tmp_path):
    """Raw output (info LogLines) skips the logging machinery for speed: same line format, same masking, same order
    with the records around it, and on disk within FLUSH_S although it is not flushed line by line."""
    with recording(tmp_path, "deploy", lambda: [SECRET]) as run:
        for i in range(3):
            run.event(ev.LogLine(ev.Phase.APPLY, f"line {i} token={SECRET}"))
            logging.getLogger("swarmwiz.core.ssh").info("record %d", i)
        run.event(ev.LogLine(ev.Phase.APPLY, "the last line, then a long silence"))
        deadline = time.monotonic() + FLUSH_S + 5
        while "long silence" not in run.path.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "the last line, then a long silence" in run.path.read_text()  # flushed, the run still open
    lines = run.path.read_text().splitlines()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \+ *\d+\.\d{3}s "
    ours = [line for line in lines if re.search(r"line \d|record \d", line)]
    assert [re.sub(stamp, "", line) for line in ours] == [
        "INFO    run: [apply] line 0 token=********",
        "INFO    core.ssh: record 0",
        "INFO    run: [apply] line 1 token=********",
        "INFO    core.ssh: record 1",
        "INFO    run: [apply] line 2 token=********",
        "INFO    core.ssh: record 2",
    ]
    assert all(re.match(stamp, line) for line in ours)


def test_a_flood_of_raw_lines_is_written_whole_masked_and_in_order(tmp_path):
    """Raw lines go to the file in blocks: more than two blocks' worth, each line once, masked, in order, and the
    record that follows them comes after the last one (before the run log ends)."""
    n = 2 * RAW_BLOCK + 7
    with recording(tmp_path, "deploy", lambda: [SECRET]) as run:
        for i in range(n):
            run.event(ev.LogLine(ev.Phase.APPLY, f"flood {i:05d} {SECRET}"))
        logging.getLogger("swarmwiz.core.ssh").info("after the flood")
    lines = run.path.read_text().splitlines()
    flood = [line for line in lines if " flood " in line]
    assert [line.split(" flood ")[1] for line in flood] == [f"{i:05d} ********" for i in range(n)]
    assert all(" INFO    run: [apply] flood " in line for line in flood)
    assert lines.index(flood[-1]) < next(i for i, line in enumerate(lines) if "after the flood" in line)
    assert SECRET not in run.path.read_text()


def test_only_the_newest_logs_are_kept(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    for i in range(KEEP + 5):
        (runs / f"20260101T0000{i:02d}.000Z-status.log").write_text("old")
    with recording(tmp_path, "status") as run:
        pass
    logs = sorted(runs.glob("*.log"))
    assert len(logs) == KEEP and logs[-1] == run.path == latest(tmp_path)
    assert not (runs / "20260101T000000.000Z-status.log").exists()
    assert prune(runs, keep=KEEP) == []


def yield_all(gen):
    while True:
        try:
            next(gen)
        except StopIteration as done:
            return done.value
