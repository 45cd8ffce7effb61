"""Plain mode's SSH question offers this machine's public address (from the lab's Cloudflare trace) as its default
and prints the whole-internet warning when the answer is 0.0.0.0/0 (questionary driven through a pipe input)."""

from __future__ import annotations

import io

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from swarmwiz.cli import plain
from swarmwiz.cli.output import Output
from swarmwiz.core.credentials import credentials_from_env
from swarmwiz.flows.services import Services

WARNING = "the whole internet can try to log in"


def ask_access(services: Services, keys: str) -> tuple[dict, str]:
    """Run the domain-and-access questions with `keys` typed ahead; returns the answers and what was printed."""
    printed = io.StringIO()
    creds = credentials_from_env(services.target.environment())
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        pipe.send_text(keys)
        own = plain._look_up_public_address(services)
        answers = plain._ask_domain_and_access(services, Output(printed, live=False), creds, own)
    return answers, printed.getvalue()


@pytest.fixture
def services(lab_api, ssh_dir, keyring_backend):
    return Services(env={**lab_api.env, **lab_api.raw}, ssh_dir=ssh_dir, keyring_backend=keyring_backend)


def test_the_default_is_this_machines_address(services):
    # Enter on: the zone, the subdomain (none), "also the apex?" (No), the key, and the addresses as offered.
    answers, printed = ask_access(services, "\r\r\r\r\r")
    assert answers["allowed_cidrs"] == ("127.0.0.1/32",)
    assert "This computer's public address, as Cloudflare sees it: 127.0.0.1/32" in printed
    assert WARNING not in printed


def test_the_whole_internet_is_warned_about(services):
    erase = "\x7f" * len("127.0.0.1/32")  # backspaces over the offered default
    answers, printed = ask_access(services, "\r\r\r\r" + erase + "0.0.0.0/0\r")
    assert answers["allowed_cidrs"] == ("0.0.0.0/0",)
    warning = [line for line in printed.splitlines() if WARNING in line]
    assert warning == ["Warning: ssh.allowed_cidrs includes 0.0.0.0/0: " + WARNING + " over SSH; this computer's "
                       "public address is 127.0.0.1/32."]  # fmt: skip
