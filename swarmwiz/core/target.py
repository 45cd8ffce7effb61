"""Where a run talks to: the real clouds or the lab, built once at the entry point and passed down.

Nothing below an entry point asks "am I in the lab?"; it asks its `Target`. The real clouds' target lives here;
the lab's (`swarmwiz.lab.target.LabTarget`) lives in the lab, which builds on core and never the other way round.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from swarmwiz.core.credentials import FIELDS, Credentials, KeyringStore, load_credentials

if TYPE_CHECKING:
    from swarmwiz.core.api import Endpoints

# The variables that move the APIs (the providers read the same names); everything else of the caller's
# environment stays out of Terraform's.
ENDPOINT_VARS = ("SCW_API_URL", "CLOUDFLARE_BASE_URL")


@runtime_checkable
class Target(Protocol):
    """The cloud one run talks to: its credentials, API endpoints and the environment of every Terraform run."""

    #: True for the local lab (recorded in a workspace so that a lab workspace is never run against real clouds).
    is_lab: bool
    #: A short line for people: "Scaleway + Cloudflare" or "local lab".
    label: str

    def prepare(self) -> None:
        """Get ready for API calls (the lab starts its daemon here); idempotent; raises InputError when impossible."""

    def credentials(self) -> Credentials:
        """The credentials of this run (keyring/env for the real clouds, lab-issued in the lab); complete or raise."""

    def credential_sources(self) -> tuple[Credentials, dict[str, str]]:
        """The credentials as found now (possibly incomplete) and where each came from: env, keyring, lab, given or
        missing. Reads again on every call (the wizard asks after the user stored new ones)."""

    def with_credentials(self, credentials: Credentials) -> Target:
        """The same target using `credentials` (the ones a user just typed); the lab keeps its own."""

    def save_credentials(self, credentials: Credentials) -> list[str]:
        """Store credentials where this target reads them; returns the entry names written ([] in the lab)."""

    def forget_credentials(self) -> list[str]:
        """Delete the stored credentials; returns the entry names that existed ([] in the lab)."""

    def endpoints(self) -> Endpoints:
        """API base URLs of this run."""

    def s3_endpoint(self, region: str) -> str:
        """The S3 endpoint of Object Storage in `region` (a shared state's bucket lives there)."""

    def environment(self) -> Mapping[str, str]:
        """The environment for Terraform: credentials as the providers read them, endpoints, CLI config."""

    def secrets(self) -> list[str]:
        """Values to scrub from every log line and message of this run."""


class CloudTarget:
    """Scaleway and Cloudflare: credentials from the environment (they win, for CI) then the OS keyring, or given;
    API endpoints from SCW_API_URL / CLOUDFLARE_BASE_URL in `env` when set (the same for API calls and Terraform)."""

    is_lab = False
    label = "Scaleway + Cloudflare"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        store: KeyringStore | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        """`env` replaces os.environ (read once, here); `store` replaces the OS keyring; `credentials` skip both."""
        self._env = dict(os.environ if env is None else env)
        self.store = store or KeyringStore()
        self._given = credentials
        self._resolved: Credentials | None = None

    def prepare(self) -> None:
        """Nothing to start: the clouds are there."""

    def credential_sources(self) -> tuple[Credentials, dict[str, str]]:
        if self._given is not None:
            return self._given, {f.attr: "given" if self._given.value(f.attr) else "missing" for f in FIELDS}
        return load_credentials(self._env, self.store)

    def credentials(self) -> Credentials:
        if self._resolved is None:
            creds, _sources = self.credential_sources()
            self._resolved = creds.require()
        return self._resolved

    def with_credentials(self, credentials: Credentials) -> CloudTarget:
        return CloudTarget(self._env, store=self.store, credentials=credentials)

    def save_credentials(self, credentials: Credentials) -> list[str]:
        return self.store.write(credentials)

    def forget_credentials(self) -> list[str]:
        return self.store.clear()

    def endpoints(self) -> Endpoints:
        from swarmwiz.core.api import Endpoints

        return Endpoints.from_env(self._env)

    def s3_endpoint(self, region: str) -> str:
        from swarmwiz.core.sharedstate import scaleway_s3_endpoint

        return scaleway_s3_endpoint(region)

    def environment(self) -> dict[str, str]:
        overrides = {k: self._env[k] for k in ENDPOINT_VARS if self._env.get(k)}
        return self.credentials().to_env() | overrides

    def secrets(self) -> list[str]:
        creds = self.credentials()
        # The access key is an identifier, but it has no business in a log line either.
        return [*creds.secret_values(), *([creds.scw_access_key] if creds.scw_access_key else [])]

    def __repr__(self) -> str:
        return f"CloudTarget({self.endpoints()!r})"
