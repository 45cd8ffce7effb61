"""The Secret type never shows its value: repr, str, f-strings, logging, tracebacks, exceptions, pickling."""

from __future__ import annotations

import copy
import dataclasses
import logging
import pickle
import traceback

import pytest

from swarmwiz.core.credentials import Credentials, check_format, credentials_from_env, load_credentials
from swarmwiz.core.errors import CredentialError
from swarmwiz.core.secrets import ScrubFilter, Secret, scrub

VALUE = "7f3c2a9e-5b1d-4c8e-9a6f-0d2e4b6c8a10"
TOKEN = "cfTOKEN_abcdefghijklmnopqrstuvwxyz0123456789"
GOOD = {
    "SCW_ACCESS_KEY": "SCW1234567890ABCDEFG",
    "SCW_SECRET_KEY": VALUE,
    "SCW_DEFAULT_PROJECT_ID": "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9",
    "CLOUDFLARE_API_TOKEN": TOKEN,
}


def test_repr_str_format_hide_the_value():
    s = Secret(VALUE)
    for text in (repr(s), str(s), f"{s}", f"{s!r}", f"{s:>60}", "%s %r" % (s, s), "{}".format(s)):  # noqa: UP031, UP032
        assert VALUE not in text
        assert "********" in text
    assert s.reveal() == VALUE


def test_containers_and_dataclasses_hide_the_value():
    creds = Credentials(**{"scw_secret_key": VALUE, "cloudflare_token": TOKEN})
    for text in (repr(creds), str(creds), repr([creds]), str(dataclasses.asdict(creds)), repr({"k": creds})):
        assert VALUE not in text and TOKEN not in text
    assert creds.scw_secret_key.reveal() == VALUE


def test_logging_hides_the_value(caplog):
    s = Secret(VALUE)
    log = logging.getLogger("swarmwiz.test")
    with caplog.at_level(logging.DEBUG):
        log.debug("key %s", s)
        log.debug("key %r", s)
        log.info(f"key {s}")
        log.warning("creds %s", Credentials(scw_secret_key=VALUE))
    assert caplog.records
    assert VALUE not in caplog.text


def test_traceback_and_exception_text_hide_the_value():
    s = Secret(VALUE)

    def fail(secret):
        raise ValueError(f"bad secret {secret}")

    with pytest.raises(ValueError) as info:
        fail(s)
    text = "".join(traceback.format_exception(info.value))
    assert VALUE not in text
    # Tracebacks with locals (pytest --showlocals, rich) render locals with repr.
    tb = traceback.TracebackException.from_exception(info.value, capture_locals=True)
    assert "secret = Secret('********')" in "".join(tb.format())
    assert VALUE not in "".join(tb.format())


def test_pickle_is_refused_and_copy_keeps_the_object():
    s = Secret(VALUE)
    with pytest.raises(TypeError):
        pickle.dumps(s)
    with pytest.raises(TypeError):
        pickle.dumps(Credentials(scw_secret_key=VALUE))
    assert copy.deepcopy(s) is s and copy.copy(s) is s


def test_secret_is_immutable_and_compares_by_value():
    s = Secret(VALUE)
    with pytest.raises(AttributeError):
        s._value = "x"
    assert s == Secret(VALUE) and s != Secret("other")
    with pytest.raises(TypeError):
        hash(s)


def test_scrub_filter_masks_raw_values_in_messages_and_tracebacks(caplog):
    log = logging.getLogger("swarmwiz.test.scrub")
    handler = logging.Handler()
    records = []
    handler.emit = records.append
    handler.addFilter(ScrubFilter([Secret(VALUE), TOKEN]))
    log.addHandler(handler)
    try:
        log.error("header X-Auth-Token: %s", VALUE)
        try:
            raise RuntimeError(f"token {TOKEN}")
        except RuntimeError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    text = "\n".join(logging.Formatter().format(r) for r in records)
    assert "X-Auth-Token: ********" in text and "RuntimeError: token ********" in text
    assert VALUE not in text and TOKEN not in text
    assert scrub(f"a {VALUE} b", [VALUE]) == "a ******** b"


def test_to_env_and_secret_values():
    creds = credentials_from_env(GOOD)
    assert creds.to_env() == GOOD
    assert set(creds.secret_values()) == {VALUE, TOKEN}
    assert isinstance(creds.scw_secret_key, Secret) and isinstance(creds.cloudflare_token, Secret)


def test_env_wins_and_the_keyring_is_not_opened_when_env_has_everything():
    class Exploding:
        def read(self):
            raise AssertionError("keyring opened")

    creds, sources = load_credentials(env=GOOD, store=Exploding())
    assert set(sources.values()) == {"env"}
    assert creds.value("scw_secret_key") == VALUE


def test_sources_mix_env_and_keyring_and_missing():
    class Store:
        def read(self):
            return {"scw_secret_key": "from-keyring", "scw_project_id": GOOD["SCW_DEFAULT_PROJECT_ID"]}

    creds, sources = load_credentials(env={"SCW_SECRET_KEY": VALUE}, store=Store())
    assert sources == {
        "scw_access_key": "missing",
        "scw_secret_key": "env",
        "scw_project_id": "keyring",
        "cloudflare_token": "missing",
    }
    assert creds.value("scw_secret_key") == VALUE
    with pytest.raises(CredentialError, match="Scaleway access key is missing.*SCW_ACCESS_KEY"):
        creds.require()


@pytest.mark.parametrize(
    ("env_name", "bad", "needle"),
    [
        ("SCW_ACCESS_KEY", "SCW123", "Scaleway access key is malformed"),
        ("SCW_ACCESS_KEY", "AKIA1234567890ABCDEF", "Scaleway access key is malformed"),
        ("SCW_SECRET_KEY", "not-a-uuid", "Scaleway secret key is malformed: expected a UUID"),
        ("SCW_DEFAULT_PROJECT_ID", "1234", "Scaleway project ID is malformed: expected a UUID"),
        ("CLOUDFLARE_API_TOKEN", "short", "Cloudflare API token is malformed"),
        ("CLOUDFLARE_API_TOKEN", "x" * 39 + "!", "Cloudflare API token is malformed"),
        ("CLOUDFLARE_API_TOKEN", "", "Cloudflare API token is missing"),
    ],
)
def test_format_checks_name_the_credential_and_never_echo_the_value(env_name, bad, needle):
    checks = check_format(credentials_from_env({**GOOD, env_name: bad}))
    failed = [c for c in checks if not c.ok]
    assert len(failed) == 1
    assert needle in failed[0].message
    if bad:
        assert bad not in failed[0].message


def test_format_checks_accept_good_values_case_insensitive_access_key():
    assert all(c.ok for c in check_format(credentials_from_env(GOOD)))
    lower = {**GOOD, "SCW_ACCESS_KEY": GOOD["SCW_ACCESS_KEY"].lower()}
    assert all(c.ok for c in check_format(credentials_from_env(lower)))
