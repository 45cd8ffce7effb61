"""The outside world as the wizard and plain mode see it: credentials, catalogue, DNS zones, SSH keys and pipelines,
all of one target.

The App receives one `Services` object (injected, so tests hand it a lab-backed or recorded one); screens call it
only from workers. Heavy imports (keyring, httpx, asyncssh, the pipeline) happen inside the methods, after the
first frame.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from swarmwiz.core.catalog import Catalog
    from swarmwiz.core.credentials import Check, Credentials
    from swarmwiz.core.spec import ClusterSpec
    from swarmwiz.core.target import Target

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClusterInfo:
    """A cluster known on this machine (its workspace), as the welcome screen lists it."""

    name: str
    state: str
    lab: bool
    nodes: int | None
    path: Path


class Services:
    """The core as the wizard uses it, against one target (the real clouds or the lab) built at the entry point."""

    def __init__(
        self,
        target: Target | None = None,
        *,
        ssh_dir: Path | None = None,
        lab: bool = False,
        env: dict[str, str] | None = None,
        keyring_backend: Any = None,
    ) -> None:
        """`target` is where this run talks to; without one, `flows.build_target(lab, env, keyring_backend)` builds
        it (tests pass `env` to replace os.environ and `keyring_backend` to replace the OS keyring)."""
        if target is None:
            from swarmwiz.flows.target import build_target

            target = build_target(lab, env, keyring_backend)
        self.target = target
        self.ssh_dir = ssh_dir or Path.home() / ".ssh"
        self._public_cidr: tuple[str | None] | None = None  # (answer,) once asked

    def prepare(self) -> str:
        """Get ready for API calls (in lab mode: start the lab); returns a short line for the status bar."""
        self.target.prepare()
        return "local lab running" if self.target.is_lab else self.target.label

    # -- clusters -----------------------------------------------------------------------------------------------
    def clusters(self) -> list[ClusterInfo]:
        """Clusters known here (workspaces), cheap enough for the first screen."""
        from swarmwiz.core.workspace import list_workspaces

        out = []
        for ws in list_workspaces():
            meta = ws.meta()
            out.append(
                ClusterInfo(ws.name, meta.get("state", "unknown"), bool(meta.get("lab")), meta.get("nodes"), ws.path)
            )
        return out

    def forget_workspace(self, name: str) -> None:
        from swarmwiz.core.workspace import Workspace

        Workspace.for_name(name).remove()

    # -- credentials --------------------------------------------------------------------------------------------
    def load_credentials(self) -> tuple[Credentials, dict[str, str]]:
        """The credentials in use and where each came from: env, keyring, lab or missing."""
        return self.target.credential_sources()

    def save_credentials(self, creds: Credentials) -> list[str]:
        """Store the credentials in the OS keyring (not in lab mode: the lab provides its own)."""
        return self.target.save_credentials(creds)

    def forget_credentials(self) -> list[str]:
        return self.target.forget_credentials()

    def check_credentials(self, creds: Credentials) -> list[Check]:
        """One Check per credential, live against the APIs (format first, offline)."""
        from swarmwiz.core.api.validate import validate_credentials

        return validate_credentials(creds, self.target.endpoints())

    def dns_zones(self, creds: Credentials) -> list[str]:
        from swarmwiz.core.api.validate import list_cloudflare_zones
        from swarmwiz.core.errors import CredentialError

        if creds is None or not creds.value("cloudflare_token"):
            raise CredentialError("No Cloudflare API token was entered: go back to the credentials step.")
        return list_cloudflare_zones(creds, self.target.endpoints())

    def dns_records(self, creds: Credentials, domain: str) -> list:
        """Every record of the zone `domain` ([] when the token does not see it): the Domain step's check whether
        *.domain is already another cluster's."""
        from swarmwiz.core.api.clients import ApiClients
        from swarmwiz.core.api.inventory import Inventory

        with ApiClients(creds, self.target.endpoints()) as api:
            return Inventory(api).dns_records(domain)

    # -- catalogue ----------------------------------------------------------------------------------------------
    def bundled_catalog(self) -> Catalog:
        from swarmwiz.core.catalog import bundled

        return bundled()

    def catalog(self, creds: Credentials | None) -> Catalog:
        """The live catalogue when the credentials allow it, else the cached or bundled one (`source` says which)."""
        from swarmwiz.core import livecatalog

        if creds is not None and not creds.missing():
            try:
                return livecatalog.live(creds, self.target.endpoints())
            except Exception as exc:  # a live catalogue is a nicety: fall back, and the source line says so
                log.info("live catalogue unavailable (%s); using the cached or bundled one", type(exc).__name__)
        return livecatalog.current_catalog()

    # -- SSH keys -----------------------------------------------------------------------------------------------
    def ssh_public_keys(self) -> list[Path]:
        if not self.ssh_dir.is_dir():
            return []
        return sorted(p for p in self.ssh_dir.glob("*.pub") if p.is_file())

    def generate_ssh_key(self, name: str = "swarmwiz_ed25519") -> Path:
        """Create a new ed25519 key pair in the SSH directory (never overwriting); returns the public key path."""
        import asyncssh

        self.ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        private = self.ssh_dir / name
        n = 1
        while private.exists() or Path(f"{private}.pub").exists():
            n += 1
            private = self.ssh_dir / f"{name}_{n}"
        key = asyncssh.generate_private_key("ssh-ed25519", comment=f"swarmwiz@{os.uname().nodename}")
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.export_private_key("openssh"))
        public = Path(f"{private}.pub")
        public.write_bytes(key.export_public_key("openssh"))
        return public

    def public_cidr(self) -> str | None:
        """This machine's public address as a /32 (/128) as Cloudflare sees it, to suggest for the SSH range; None
        when it cannot be found. Asked once per run (a worker's call may wait up to a few seconds); never raises."""
        if self._public_cidr is None:
            from swarmwiz.flows.myaddress import public_cidr

            try:
                found = public_cidr(self.target.endpoints())
            except Exception as exc:  # the lab could not start, say: then there is simply no suggestion
                log.info("public address unknown (%s)", type(exc).__name__)
                found = None
            self._public_cidr = (found,)
        return self._public_cidr[0]

    # -- pipelines ----------------------------------------------------------------------------------------------
    def pipeline_for_spec(self, spec: ClusterSpec, credentials: Credentials | None = None):
        """The pipeline for a new or changed cluster; `credentials` are the ones the user just entered."""
        from swarmwiz.core.pipeline import Pipeline

        target = self.target.with_credentials(credentials) if credentials is not None else self.target
        return Pipeline.for_spec(spec, target)

    def pipeline_for_name(self, name: str):
        from swarmwiz.core.pipeline import Pipeline

        return Pipeline.for_name(name, self.target)

    def access_hints(self, pipeline, status) -> list[str]:
        """The commands that reach a deployed cluster (flows/access.py), as the wizard's result screen shows them."""
        from swarmwiz.flows.access import access_hints

        return access_hints(pipeline, status)

    def estimate(self, spec: ClusterSpec, catalog: Catalog | None = None):
        from swarmwiz.core.catalog import estimate

        catalog = catalog or self.bundled_catalog()
        groups = [
            ("managers", spec.managers.type, spec.managers.count),
            ("workers", spec.workers.type, spec.workers.count),
        ]
        return estimate(catalog, list(spec.zones), groups)
