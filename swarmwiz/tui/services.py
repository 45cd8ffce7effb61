"""The outside world as the wizard sees it: credentials, catalogue, DNS zones, SSH keys, pipelines and the lab.

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
    """Default services: the real core against Scaleway/Cloudflare, or against the local lab when `lab` is set."""

    def __init__(
        self,
        lab: bool = False,
        *,
        ssh_dir: Path | None = None,
        env: dict[str, str] | None = None,
        keyring_backend: Any = None,
    ) -> None:
        """`env` replaces os.environ for credentials and API endpoints; `keyring_backend` replaces the OS keyring."""
        self.lab = lab
        self.ssh_dir = ssh_dir or Path.home() / ".ssh"
        self.base_env = env
        self.keyring_backend = keyring_backend
        self._lab_obj: Any = None
        self._lab_env: dict[str, str] | None = None

    # -- the lab ------------------------------------------------------------------------------------------------
    def prepare(self) -> str:
        """Get ready for API calls (in lab mode: start the lab); returns a short line for the status bar."""
        if not self.lab:
            return "Scaleway + Cloudflare"
        from swarmwiz.lab import Lab

        self._lab_obj = self._lab_obj or Lab()
        self._lab_obj.ensure_running()
        self._lab_env = dict(self._lab_obj.env())
        return "local lab running"

    def _env(self) -> dict[str, str]:
        if self.lab and self._lab_env is None:
            self.prepare()
        return dict(os.environ if self.base_env is None else self.base_env) | (self._lab_env or {})

    def _endpoints(self):
        from swarmwiz.core.api import Endpoints

        return Endpoints.from_env(self._env())

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
        from swarmwiz.core.credentials import credentials_from_env, load_credentials

        if self.lab:
            if self._lab_obj is None:
                self.prepare()
            creds = credentials_from_env(self._lab_obj.credentials())  # the lab issues its own credentials
            return creds, {
                attr: "lab" for attr in ("scw_access_key", "scw_secret_key", "scw_project_id", "cloudflare_token")
            }
        return load_credentials(self._env(), self._store())

    def save_credentials(self, creds: Credentials) -> list[str]:
        """Store the credentials in the OS keyring (not in lab mode: the lab provides its own)."""
        if self.lab:
            return []
        return self._store().write(creds)

    def forget_credentials(self) -> list[str]:
        if self.lab:
            return []
        return self._store().clear()

    def _store(self):
        from swarmwiz.core.credentials import KeyringStore

        return KeyringStore(backend=self.keyring_backend)

    def check_credentials(self, creds: Credentials) -> list[Check]:
        """One Check per credential, live against the APIs (format first, offline)."""
        from swarmwiz.core.api.validate import validate_credentials

        return validate_credentials(creds, self._endpoints())

    def dns_zones(self, creds: Credentials) -> list[str]:
        from swarmwiz.core.api.validate import list_cloudflare_zones
        from swarmwiz.core.errors import CredentialError

        if creds is None or not creds.value("cloudflare_token"):
            raise CredentialError("No Cloudflare API token was entered: go back to the credentials step.")
        return list_cloudflare_zones(creds, self._endpoints())

    # -- catalogue ----------------------------------------------------------------------------------------------
    def bundled_catalog(self) -> Catalog:
        from swarmwiz.core.catalog import bundled

        return bundled()

    def catalog(self, creds: Credentials | None) -> Catalog:
        """The live catalogue when the credentials allow it, else the cached or bundled one (`source` says which)."""
        from swarmwiz.core import livecatalog

        if creds is not None and not creds.missing():
            try:
                return livecatalog.live(creds, self._endpoints())
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

    # -- pipelines ----------------------------------------------------------------------------------------------
    def pipeline_for_spec(self, spec: ClusterSpec, credentials: Credentials | None = None):
        """The pipeline for a new or changed cluster; `credentials` are the ones the user just entered."""
        from swarmwiz.core.pipeline import Pipeline

        extra = {"credentials": credentials} if credentials is not None and not self.lab else {}
        return Pipeline.for_spec(spec, lab=self.lab, **extra)

    def pipeline_for_name(self, name: str):
        from swarmwiz.core.pipeline import Pipeline

        return Pipeline.for_name(name, lab=self.lab)

    def estimate(self, spec: ClusterSpec, catalog: Catalog | None = None):
        from swarmwiz.core.catalog import estimate

        catalog = catalog or self.bundled_catalog()
        groups = [
            ("managers", spec.managers.type, spec.managers.count),
            ("workers", spec.workers.type, spec.workers.count),
        ]
        return estimate(catalog, list(spec.zones), groups)
