"""`swarmwiz credentials set|check|delete`: the OS keyring entries, and a live check of what swarmwiz would use."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import NamedTuple

from swarmwiz.core.credentials import FIELDS, SERVICE, Credentials, KeyringStore, check_format, credentials_from_env
from swarmwiz.core.target import Target
from swarmwiz.flows.errors import ERROR_PREFIX, EXIT_FAILED, EXIT_OK, EXIT_USAGE

_VARIABLES = ", ".join(f.env for f in FIELDS[:-1]) + f" and {FIELDS[-1].env}"
# What works on a machine without a keyring (CI, a headless server): swarmwiz reads the variables at each run.
SET_THEM = (
    f"set {_VARIABLES} in the environment of each swarmwiz run instead, as CI does (swarmwiz reads them there and "
    "nothing needs storing)"
)
KEEP_THEM_SET = (
    "keep them set in the environment of each swarmwiz run instead, as CI does (swarmwiz reads them there and "
    "nothing needs storing)"
)
HELP = "OS keyring entries: set (prompt, or --from-env), check (live), delete"


def add_parser(subparsers, add: Callable[..., argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register `credentials` through the CLI's `add(name, func, help)` helper."""
    p = add("credentials", run, HELP)
    p.add_argument("action", choices=["set", "check", "delete"], help="set, check or delete")
    p.add_argument(
        "--from-env",
        action="store_true",
        help="set: read SCW_ACCESS_KEY, SCW_SECRET_KEY, "
        "SCW_DEFAULT_PROJECT_ID and CLOUDFLARE_API_TOKEN instead of prompting",
    )
    p.add_argument("-y", "--yes", action="store_true", help="delete: do not ask first")
    p.add_argument("--domain", metavar="ZONE", help="check: require DNS edit permission on this Cloudflare zone")
    p.epilog = (
        'Entries live in the OS keyring under the service "swarmwiz". Environment variables take precedence '
        "over the keyring; without a keyring (headless machines, CI) set them instead."
    )
    return p


def run(args: argparse.Namespace, target: Target) -> int:
    """Run one action against `target`; 0 ok, 1 failed, 2 bad input. Keyring failures raise CredentialError."""
    if args.action == "check":
        return _check(args, target)
    if target.is_lab:
        if args.action == "set":
            _err("the lab issues its own credentials; `credentials set` stores real ones, run it without --lab.")
        else:
            _err("the lab's credentials are not in the keyring; `swarmwiz lab clean` removes them.")
        return EXIT_USAGE
    store: KeyringStore = target.store  # type: ignore[attr-defined]  # the real clouds' target keeps the keyring
    if args.action == "set":
        return _set(args, store)
    return _delete(args, store)


def _print(text: str) -> None:
    print(text, flush=True)


def _err(text: str) -> None:
    print(f"{ERROR_PREFIX}{text}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- set


def _set(args: argparse.Namespace, store: KeyringStore) -> int:
    if args.from_env:
        creds = credentials_from_env()
        problems = [c.message for c in check_format(creds) if not c.ok]
        if problems:
            for p in problems:
                _err(p)
            _err("nothing was stored.")
            return EXIT_USAGE
        unusable = _keyring_unusable(store)
        if unusable:
            # The variables are already where swarmwiz reads them: storing them is what cannot be done here.
            _err(
                "`credentials set --from-env` stores these variables in the OS keyring, which cannot be used here "
                f"({unusable.reason}); {KEEP_THEM_SET}"
            )
            return EXIT_FAILED
    else:
        if not sys.stdin.isatty():
            unusable = _keyring_unusable(store)
            if unusable:
                # `--from-env` stores in the keyring too: point at what works without one.
                _err(
                    "`credentials set` prompts on a terminal (this is not one) and `--from-env` stores in the OS "
                    f"keyring, which cannot be used here ({unusable.reason}); {SET_THEM}"
                )
                return EXIT_USAGE
            _err("`credentials set` prompts on a terminal; without one use `credentials set --from-env`.")
            return EXIT_USAGE
        unusable = _keyring_unusable(store)
        if unusable:
            # Say it before the four prompts, not after them: the answers would have nowhere to go.
            _err(f"{unusable.sentence}; nothing was asked or stored.")
            return EXIT_FAILED
        creds = _prompt(store)
        if creds is None:
            _err("cancelled; nothing was stored.")
            return EXIT_USAGE
    written = store.write(creds)
    _print(f'Stored {len(written)} entries under "{SERVICE}" in the OS keyring: {", ".join(written)}.')
    _print("Run `swarmwiz credentials check` to validate them against Scaleway and Cloudflare.")
    return EXIT_OK


class _Unusable(NamedTuple):
    """Why the OS keyring cannot be used, as a clause (`reason`), and as a sentence with the doctor's fix."""

    reason: str
    sentence: str


def _keyring_unusable(store: KeyringStore) -> _Unusable | None:
    """Why the OS keyring cannot take the entries (the doctor's probe: a backend, reachable and unlocked), or None.

    A store built on a given backend (tests) is taken as it is."""
    if getattr(store, "_backend", None) is not None:
        return None
    from swarmwiz.flows.doctor import FAIL, check_keyring

    finding = check_keyring(environ={})  # the environment does not matter here: these entries go to the keyring
    if finding.status != FAIL:
        return None
    detail = finding.detail.rstrip(".")
    return _Unusable(detail[:1].lower() + detail[1:], f"{detail}; {finding.fix}" if finding.fix else detail)


def _prompt(store: KeyringStore) -> Credentials | None:
    """Ask for each credential (secrets masked); an empty answer keeps the stored value. None when cancelled."""
    import questionary

    stored = store.read()
    values = {}
    for f in FIELDS:
        keep = f.attr in stored
        hint = " (Enter keeps the stored one)" if keep else ""

        def valid(text: str, f=f, keep=keep) -> bool | str:
            if not text:
                return True if keep else f"The {f.label} is required."
            check = next(c for c in check_format(Credentials(**{f.attr: text})) if c.attr == f.attr)
            return True if check.ok else check.message

        ask = questionary.password if f.secret else questionary.text
        answer = ask(f"{f.label}{hint}:", validate=valid).ask()
        if answer is None:  # Ctrl-C
            return None
        values[f.attr] = answer or stored.get(f.attr)
    return Credentials(**values)


# ---------------------------------------------------------------- check


def _check(args: argparse.Namespace, target: Target) -> int:
    from swarmwiz.core.api.validate import validate_credentials

    target.prepare()
    creds, sources = target.credential_sources()
    endpoints = target.endpoints()
    checks = validate_credentials(creds, endpoints, domain=args.domain)
    width = max(len(f.label) for f in FIELDS)
    for check in checks:
        mark = "ok  " if check.ok else "FAIL"
        source = f"({sources[check.attr]})"
        _print(f"{mark}  {check.label:<{width}}  {source:<9}  {check.message}")
    failed = [c for c in checks if not c.ok]
    if failed:
        _print(f"{len(failed)} of {len(checks)} credentials failed the check.")
        return EXIT_FAILED
    _print(f"All {len(checks)} credentials work (APIs: {endpoints.scaleway}, {endpoints.cloudflare}).")
    return EXIT_OK


# ---------------------------------------------------------------- delete


def _delete(args: argparse.Namespace, store: KeyringStore) -> int:
    if not args.yes:
        if not sys.stdin.isatty():
            _err("`credentials delete` asks on a terminal; pass --yes to delete without asking.")
            return EXIT_USAGE
        import questionary

        sure = questionary.confirm(
            f'Delete the four swarmwiz entries (service "{SERVICE}") from the OS keyring?', default=False
        ).ask()
        if not sure:
            _print("Nothing deleted.")
            return EXIT_OK
    deleted = store.clear()
    if deleted:
        _print(f"Deleted {len(deleted)} entries from the OS keyring: {', '.join(deleted)}.")
    else:
        _print(f'No swarmwiz entries were stored under "{SERVICE}"; nothing to delete.')
    still = [f.env for f in FIELDS if os.environ.get(f.env)]
    if still:
        _print(
            f"Note: {', '.join(still)} {'is' if len(still) == 1 else 'are'} still set in this environment "
            "and would be used."
        )
    return EXIT_OK
