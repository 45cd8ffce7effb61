"""The four credentials swarmwiz needs: their OS keyring entries, env var overrides, and offline format checks."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from swarmwiz.core.errors import CredentialError
from swarmwiz.core.secrets import Secret, scrub

SERVICE = "swarmwiz"


@dataclass(frozen=True)
class Field:
    """One credential: its attribute, keyring entry name, environment variable and human label."""

    attr: str
    entry: str
    env: str
    label: str
    secret: bool


FIELDS: tuple[Field, ...] = (
    Field("scw_access_key", "scw_access_key", "SCW_ACCESS_KEY", "Scaleway access key", False),
    Field("scw_secret_key", "scw_secret_key", "SCW_SECRET_KEY", "Scaleway secret key", True),
    Field("scw_project_id", "scw_project_id", "SCW_DEFAULT_PROJECT_ID", "Scaleway project ID", False),
    Field("cloudflare_token", "cloudflare_api_token", "CLOUDFLARE_API_TOKEN", "Cloudflare API token", True),
)
FIELD_BY_ATTR = {f.attr: f for f in FIELDS}

HEADLESS_HINT = (
    "on a machine without a keyring set SCW_ACCESS_KEY, SCW_SECRET_KEY, SCW_DEFAULT_PROJECT_ID and "
    "CLOUDFLARE_API_TOKEN in the environment instead"
)


@dataclass(frozen=True)
class Credentials:
    """Scaleway and Cloudflare credentials; the secret key and the token are `Secret`s (they never print).

    The access key and the project ID are identifiers (shown in the Scaleway console), kept as plain strings.
    """

    scw_access_key: str | None = None
    scw_secret_key: Secret | None = None
    scw_project_id: str | None = None
    cloudflare_token: Secret | None = None

    def __post_init__(self) -> None:
        for f in FIELDS:
            value = getattr(self, f.attr)
            if value == "":
                object.__setattr__(self, f.attr, None)
            elif f.secret and isinstance(value, str):
                object.__setattr__(self, f.attr, Secret(value))

    def value(self, attr: str) -> str | None:
        """The revealed value of one field (None when missing)."""
        v = getattr(self, attr)
        return v.reveal() if isinstance(v, Secret) else v

    def to_env(self) -> dict[str, str]:
        """SCW_ACCESS_KEY, SCW_SECRET_KEY, SCW_DEFAULT_PROJECT_ID, CLOUDFLARE_API_TOKEN for a child process only."""
        return {f.env: self.value(f.attr) for f in FIELDS if self.value(f.attr)}

    def secret_values(self) -> list[str]:
        """The secret key and the token: to scrub from logs and look for in leak tests.

        The access key and the project ID are identifiers: API URLs and Terraform state legitimately hold them.
        """
        return [v for a in ("scw_secret_key", "cloudflare_token") if (v := self.value(a))]

    def missing(self) -> list[Field]:
        return [f for f in FIELDS if not self.value(f.attr)]

    def require(self) -> Credentials:
        """Self, or CredentialError naming the first missing credential and how to provide it."""
        for f in self.missing():
            raise CredentialError(f"The {f.label} is missing: store it with `swarmwiz credentials set` or set {f.env}.")
        return self


# ---------------------------------------------------------------- keyring


class KeyringStore:
    """The OS keyring entries under service "swarmwiz"; every keyring failure becomes one CredentialError.

    `keyring` is imported on first use (it costs ~120 ms, and the TUI draws its first frame before).
    Plaintext backends are refused: no silent fallback to a file.
    """

    def __init__(self, backend=None, service: str = SERVICE) -> None:
        self._backend = backend
        self.service = service

    def _keyring(self):
        if self._backend is None:
            import keyring

            backend = keyring.get_keyring()
            if "plaintext" in type(backend).__name__.lower() or type(backend).__module__.startswith("keyrings.alt"):
                raise CredentialError(
                    f"The configured keyring backend {type(backend).__name__} stores secrets in a plain file; "
                    f"swarmwiz refuses it: {HEADLESS_HINT}."
                )
            self._backend = backend
        return self._backend

    def get(self, entry: str) -> str | None:
        with self._translated("read"):
            return self._keyring().get_password(self.service, entry)

    def set(self, entry: str, value: str | Secret) -> None:
        raw = value.reveal() if isinstance(value, Secret) else value
        with self._translated("write", secret=raw):
            self._keyring().set_password(self.service, entry, raw)

    def delete(self, entry: str) -> bool:
        """Remove one entry; False when there was none."""
        from keyring.errors import PasswordDeleteError

        with self._translated("delete"):
            try:
                self._keyring().delete_password(self.service, entry)
            except PasswordDeleteError:
                return False
        return True

    def read(self) -> dict[str, str]:
        """{attr: value} for every credential present in the keyring."""
        found = {}
        for f in FIELDS:
            value = self.get(f.entry)
            if value:
                found[f.attr] = value
        return found

    def write(self, creds: Credentials) -> list[str]:
        """Store every present field of `creds`; returns the entry names written."""
        written = []
        for f in FIELDS:
            value = creds.value(f.attr)
            if value:
                self.set(f.entry, value)
                written.append(f.entry)
        return written

    def clear(self) -> list[str]:
        """Delete all four entries; returns the names that existed."""
        return [f.entry for f in FIELDS if self.delete(f.entry)]

    @contextlib.contextmanager
    def _translated(self, action: str, secret: str | None = None) -> Iterator[None]:
        try:
            yield
        except CredentialError:
            raise
        except Exception as exc:  # keyring, secretstorage and jeepney each raise their own types
            message = keyring_failure_message(exc, action)
            raise CredentialError(scrub(message, [secret] if secret else []), title="OS keyring") from None


def keyring_failure_message(exc: BaseException, action: str) -> str:
    """One sentence for a keyring failure, naming what is wrong and the way forward."""
    name = type(exc).__name__
    text = str(exc)
    if name == "NoKeyringError":
        return _no_keyring_message()
    if name in ("KeyringLocked", "LockedException"):
        return (
            f"Could not {action} swarmwiz credentials: the keyring collection is locked and could not be unlocked "
            f"(unlock it in your desktop's keyring, or start gnome-keyring-daemon with --unlock); {HEADLESS_HINT}."
        )
    if name == "PromptDismissedException" or "prompt dismissed" in text.lower():
        return (
            f"Could not {action} swarmwiz credentials: the keyring wanted to show an unlock prompt, which was "
            f"dismissed (no desktop session to show it on?); {HEADLESS_HINT}."
        )
    if name == "SecretServiceNotAvailableException" or isinstance(exc, (ConnectionError, OSError)):
        return f"Could not {action} swarmwiz credentials: {_no_keyring_message()}"
    # Other backends' messages are about the backend, never our values; keep the first line.
    first_line = text.splitlines()[0] if text else name
    return f"Could not {action} swarmwiz credentials in the OS keyring ({name}: {first_line}); {HEADLESS_HINT}."


def _no_keyring_message() -> str:
    """Why there is no usable keyring here, as precisely as can be told without side effects."""
    if sys.platform.startswith("linux"):
        address = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
        if not address:
            return (
                "There is no OS keyring: no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset), so no "
                f"Secret Service can be reached; {HEADLESS_HINT}."
            )
        try:
            import secretstorage

            with contextlib.closing(secretstorage.dbus_init()) as conn:
                available = secretstorage.check_service_availability(conn)
        except Exception:
            return f"There is no OS keyring: the D-Bus session bus at {address} cannot be reached; {HEADLESS_HINT}."
        if not available:
            return (
                "There is no OS keyring: no Secret Service (gnome-keyring, KeePassXC) runs on the D-Bus session "
                f"bus; start one, or {HEADLESS_HINT}."
            )
    return f"There is no usable OS keyring on this machine; {HEADLESS_HINT}."


# ---------------------------------------------------------------- loading


def load_credentials(
    env: Mapping[str, str] | None = None, store: KeyringStore | None = None
) -> tuple[Credentials, dict[str, str]]:
    """Credentials from env vars (they win, for CI) then the keyring, and {attr: "env"|"keyring"|"missing"}.

    The keyring is only opened when the environment does not provide all four. Missing ones are None: call
    `.require()` when all are needed. Raises CredentialError when the keyring is needed and unusable.
    """
    env = os.environ if env is None else env
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for f in FIELDS:
        if env.get(f.env):
            values[f.attr], sources[f.attr] = env[f.env], "env"
    if len(values) < len(FIELDS):
        stored = (store or KeyringStore()).read()
        for f in FIELDS:
            if f.attr not in values and stored.get(f.attr):
                values[f.attr], sources[f.attr] = stored[f.attr], "keyring"
    for f in FIELDS:
        sources.setdefault(f.attr, "missing")
    return Credentials(**values), sources


def credentials_from_env(env: Mapping[str, str] | None = None) -> Credentials:
    """Only what the environment variables hold (for `credentials set --from-env`)."""
    env = os.environ if env is None else env
    return Credentials(**{f.attr: env.get(f.env) or None for f in FIELDS})


# ---------------------------------------------------------------- checks


@dataclass(frozen=True)
class Check:
    """The outcome of checking one credential: `reason` is ok, missing, malformed, rejected, expired,
    permission, unknown_zone (the Cloudflare token does not see the chosen domain), unreachable or skipped
    (not checked because another credential failed); `message` is one sentence naming the credential."""

    attr: str
    ok: bool
    reason: str
    message: str

    @property
    def label(self) -> str:
        return FIELD_BY_ATTR[self.attr].label if self.attr in FIELD_BY_ATTR else self.attr


_FORMATS = {
    "scw_access_key": (re.compile(r"^SCW[A-Z0-9]{17}$", re.IGNORECASE), "SCW followed by 17 letters or digits"),
    "scw_secret_key": (
        re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE),
        "a UUID",
    ),
    "scw_project_id": (
        re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE),
        "a UUID",
    ),
    "cloudflare_token": (re.compile(r"^[0-9A-Za-z\-_]{40,80}$"), "40 to 80 letters, digits, '-' or '_'"),
}


def check_format(creds: Credentials) -> list[Check]:
    """Offline checks, one per credential, in FIELDS order: missing, malformed (saying the expected form) or ok."""
    results = []
    for f in FIELDS:
        value = creds.value(f.attr)
        pattern, expected = _FORMATS[f.attr]
        if not value:
            results.append(
                Check(
                    f.attr,
                    False,
                    "missing",
                    f"The {f.label} is missing (set {f.env} or run `swarmwiz credentials set`).",
                )
            )
        elif not pattern.fullmatch(value):
            results.append(Check(f.attr, False, "malformed", f"The {f.label} is malformed: expected {expected}."))
        else:
            results.append(Check(f.attr, True, "ok", f"The {f.label} is well formed."))
    return results


def validate_live(creds: Credentials, endpoints=None, *, domain: str | None = None, write_rights: bool = True) -> None:
    """Format then live checks; CredentialError with the first failure's sentence (see api.validate).

    `write_rights=False`: the key's IAM rules are not read (the caller checks them itself)."""
    from swarmwiz.core.api.validate import require_valid

    require_valid(creds, endpoints, domain=domain, write_rights=write_rights)
