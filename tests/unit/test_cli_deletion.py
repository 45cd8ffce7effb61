"""The command line's deploy questions before deleting: the list first, then a question on a terminal (default No);
a refusal, or no terminal to ask on, says the command line's way out (--yes), which the core's sentence leaves out."""

from __future__ import annotations

import io

import pytest

from swarmwiz.cli.commands.deploy import approve_deletion
from swarmwiz.cli.output import Output

ITEMS = ["server demo-worker-9 (fr-par-2/11111111-2222-3333-4444-555555555555) in fr-par-2"]


class Terminal(io.StringIO):
    """Typed answers on a stdin that is a terminal."""

    def isatty(self) -> bool:
        return True


def approve(monkeypatch, stdin: io.StringIO) -> tuple[bool, str]:
    monkeypatch.setattr("sys.stdin", stdin)
    stream = io.StringIO()
    intro = "1 objects of cluster demo are not in Terraform's state:"
    said = approve_deletion(Output(stream, live=False), intro, ITEMS)
    return said, stream.getvalue()


@pytest.mark.parametrize(("typed", "expected"), [("y\n", True), ("yes\n", True), ("\n", False), ("n\n", False)])
def test_on_a_terminal_the_list_is_shown_then_asked_with_no_as_default(monkeypatch, typed, expected):
    said, printed = approve(monkeypatch, Terminal(typed))
    assert said is expected
    lines = printed.splitlines()
    assert lines[0] == "1 objects of cluster demo are not in Terraform's state:" and lines[1] == f"  {ITEMS[0]}"
    assert "Delete them? [y/N] " in printed
    assert ("--yes" in printed) is not expected  # a No says how to approve without a question


def test_without_a_terminal_nothing_is_asked_and_the_way_out_is_said(monkeypatch):
    said, printed = approve(monkeypatch, io.StringIO("y\n"))  # piped input is never taken as an approval
    assert said is False
    assert "Delete them?" not in printed
    assert "Not deleted: stdin is not a terminal, so nobody can approve; pass --yes to delete them." in printed
