"""Every error line of the command line has one form, "swarmwiz: error: " (as `main` and argparse print them): the
credentials command's own refusals included, and no other "swarmwiz: ..." form left in the sources."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import swarmwiz
from swarmwiz.flows.errors import ERROR_PREFIX

SOURCES = Path(swarmwiz.__file__).parent
# A string that starts "swarmwiz: " (not a docstring's opening) and goes on with something other than the allowed
# forms: an error, a warning, an interrupt, or main's choice between an error and an interrupt.
OTHER_FORM = re.compile(r"""(?<!["'])f?["']swarmwiz: (?!error: |warning: |interrupted\b|\{'error: ')""")


def test_no_other_swarmwiz_prefix_in_the_sources():
    found = [
        f"{path.relative_to(SOURCES.parent)}:{number}: {line.strip()}"
        for path in sorted(SOURCES.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if OTHER_FORM.search(line)
    ]
    assert not found, "\n".join(found)


def test_the_pattern_finds_the_old_form():
    # The check above can fail: the form the credentials command used to print is caught, the allowed ones are not.
    assert OTHER_FORM.search('    print(f"swarmwiz: {text}", file=sys.stderr, flush=True)')
    assert OTHER_FORM.search('_err("swarmwiz: There is no OS keyring")')
    assert not OTHER_FORM.search('print(f"swarmwiz: error: {line}")')
    assert not OTHER_FORM.search('print(f"swarmwiz: warning: {warning}")')
    assert not OTHER_FORM.search('"""swarmwiz: a terminal wizard."""')


def swarmwiz_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "swarmwiz", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (("credentials", "set", "--lab"), {}, "the lab issues its own credentials"),
        (("credentials", "delete"), {}, "`credentials delete` asks on a terminal"),
        (
            ("credentials", "set", "--from-env"),
            {"SCW_ACCESS_KEY": "bad", "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"},
            "The Scaleway access key is malformed",
        ),
        (("credentials", "set"), {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}, "There is no OS keyring"),
    ],
)
def test_the_credentials_refusals_are_error_lines(args, env, said):
    done = swarmwiz_cli(*args, env=env)
    lines = done.stderr.splitlines()
    assert done.returncode == 2 and lines, done.stderr
    assert all(line.startswith(ERROR_PREFIX) for line in lines), done.stderr
    assert said.lower() in done.stderr.lower()
