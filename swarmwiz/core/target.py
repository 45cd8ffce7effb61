"""Where a run talks to: the real clouds or the lab, built once at the entry point and passed down.

Nothing below an entry point asks "am I in the lab?"; it asks its `Target`. The real clouds' target lives here;
the lab's (`swarmwiz.lab.target.LabTarget`) lives in the lab, which may import core but not the other way round.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from swarmwiz.core.api import Endpoints
    from swarmwiz.core.credentials import Credentials


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

    def endpoints(self) -> Endpoints:
        """API base URLs of this run."""

    def environment(self) -> Mapping[str, str]:
        """The environment for Terraform: credentials as the providers read them, endpoints, CLI config."""

    def secrets(self) -> list[str]:
        """Values to scrub from every log line and message of this run."""
