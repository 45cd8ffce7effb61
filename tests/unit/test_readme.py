"""The README shows only commands and flags that exist, keeps its two set-up commands, and states the real cost."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
from pathlib import Path

import pytest

from swarmwiz.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def command_lines() -> list[str]:
    """Every `swarmwiz ...` command shown: lines of fenced blocks and inline code spans, comments cut off."""
    lines = []
    in_block = False
    for raw in README.splitlines():
        stripped = raw.strip()
        if stripped.startswith("```"):
            in_block = not in_block
            continue
        if in_block:
            text = stripped.split(" #", 1)[0].strip()
            lines += [m.group(0) for m in re.finditer(r"(?:\S*/)?swarmwiz(?: [^;&|)\"]*(?:\|[a-z]+)*)?", text)]
        else:
            lines += [m.group(1) for m in re.finditer(r"`((?:\S*/)?swarmwiz(?: [^`]*)?)`", raw)]
    found = []
    for line in lines:
        words = line.split()
        if words and words[0].endswith("swarmwiz") and not words[0].endswith("-venv"):
            found.append(" ".join(words))
    return found


def subparsers(parser):
    return next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices


def options(parser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings}


def positional_choices(parser) -> list[set[str] | None]:
    return [set(a.choices) if a.choices else None for a in parser._actions if not a.option_strings]


COMMANDS = command_lines()


def test_the_readme_shows_commands():
    assert len(COMMANDS) >= 15, COMMANDS
    shown = {c.split()[1] for c in COMMANDS if len(c.split()) > 1 and not c.split()[1].startswith("-")}
    assert {"plan", "deploy", "status", "destroy", "doctor", "credentials"} <= shown


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_and_flag_exists(command):
    parser = build_parser()
    words = [w.strip("[]") for w in shlex.split(command)[1:]]
    target = parser
    positionals: list[str] = []
    for word in words:
        if word.startswith("-"):
            name = word.split("=", 1)[0]
            assert name in options(target), f"{command}: {name} is not an option of `{target.prog}`"
        elif target is parser:
            assert word in subparsers(parser), f"{command}: no subcommand {word!r}"
            target = subparsers(parser)[word]
            out = io.StringIO()
            with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
                main([word, "--help"])
            assert done.value.code == 0 and word in out.getvalue()
        else:
            positionals.append(word)
    choices = positional_choices(target) if target is not parser else []
    for word, allowed in zip(positionals, choices, strict=False):
        if allowed is not None:
            for alternative in word.split("|"):
                assert alternative in allowed, f"{command}: {alternative!r} is not one of {sorted(allowed)}"


def test_setup_commands_kept():
    assert "scripts/setup.sh && .venv/bin/swarmwiz --lab" in README
    assert "\nscripts/test.sh\n" in README


def test_hourly_cost_matches_the_bundled_catalogue():
    catalog = json.loads((ROOT / "assets" / "catalog" / "scaleway.json").read_text())
    price = {t: catalog["instance_types"][t]["per_zone"]["fr-par-1"]["hourly_price_eur"] for t in ("DEV1-S", "DEV1-M")}
    hourly = 3 * price["DEV1-S"] + 2 * price["DEV1-M"] + 5 * catalog["flexible_ipv4"]["hourly_price_eur"]
    assert f"€{hourly:.3f} an hour" in README
    assert catalog["snapshot_date"] in README
