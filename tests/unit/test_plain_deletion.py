"""Plain mode's deploy questions before deleting (issue 12): the list is printed first, then questionary asks with
No as the default, through a real prompt_toolkit session fed from a pipe."""

from __future__ import annotations

import io

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from swarmwiz.cli.output import Output
from swarmwiz.cli.plain import deletion_questions
from swarmwiz.core.api.inventory import CloudObject, DnsRecord

STRAY = CloudObject("server", "demo-worker-9", "fr-par-2/11111111-2222-3333-4444-555555555555", zone="fr-par-2")
RECORD = DnsRecord("*.example.com", "A", "203.0.113.7", id="rec1", zone_id="zone1")


def answer(keys: str, question: str, items: list):
    stream = io.StringIO()
    approvals = deletion_questions("demo", Output(stream, live=False))
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        pipe.send_text(keys)
        said = approvals[question](items)
    return said, stream.getvalue()


@pytest.mark.parametrize(("keys", "expected"), [("\r", False), ("n", False), ("y", True)])
def test_untracked_objects_are_listed_then_asked_with_no_as_default(keys, expected):
    said, printed = answer(keys, "confirm_delete", [STRAY])
    assert said is expected
    assert "1 objects of cluster demo are not in Terraform's state" in printed
    assert f"  {STRAY.describe()}" in printed.splitlines()
    assert ("Deleting them." if expected else "Not deleted: the deploy stops here.") in printed


@pytest.mark.parametrize(("keys", "expected"), [("\r", False), ("y", True)])
def test_dns_records_in_the_way_are_listed_then_asked(keys, expected):
    said, printed = answer(keys, "confirm_replace_dns", [RECORD])
    assert said is expected
    assert "  A *.example.com -> 203.0.113.7" in printed.splitlines()


def test_ctrl_c_at_the_question_deletes_nothing():
    said, printed = answer("\x03", "confirm_delete", [STRAY])
    assert said is False and "Not deleted" in printed
