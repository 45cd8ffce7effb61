"""The lab as a run's target: the local Scaleway + Cloudflare, started on first use, with lab-issued credentials."""

from __future__ import annotations

from swarmwiz.core.api import Endpoints
from swarmwiz.core.credentials import FIELDS, Credentials, credentials_from_env
from swarmwiz.lab.control import Lab


class LabTarget:
    """`swarmwiz.core.target.Target` for the local lab; `prepare()` checks root and packages and starts the daemon."""

    is_lab = True
    label = "local lab"

    def __init__(self, lab: Lab | None = None) -> None:
        self.lab = lab or Lab()
        self._env: dict[str, str] | None = None

    def prepare(self) -> None:
        if self._env is None:
            self.lab.check_prerequisites()
            self.lab.ensure_running()
            self._env = dict(self.lab.env())

    def environment(self) -> dict[str, str]:
        self.prepare()
        assert self._env is not None
        return dict(self._env)

    def credentials(self) -> Credentials:
        return credentials_from_env(self.environment()).require()

    def credential_sources(self) -> tuple[Credentials, dict[str, str]]:
        return self.credentials(), {f.attr: "lab" for f in FIELDS}

    def with_credentials(self, credentials: Credentials) -> LabTarget:
        return self  # the lab issues its own credentials

    def save_credentials(self, credentials: Credentials) -> list[str]:
        return []  # the lab's credentials never go to the keyring

    def forget_credentials(self) -> list[str]:
        return []

    def endpoints(self) -> Endpoints:
        return Endpoints.from_env(self.environment())

    def s3_endpoint(self, region: str) -> str:
        """The lab's S3 server (one for every region, as the lab has one of everything)."""
        self.prepare()
        return self.lab.s3_url

    def secrets(self) -> list[str]:
        env = self.environment()
        return [env[k] for k in ("SCW_SECRET_KEY", "CLOUDFLARE_API_TOKEN", "SCW_ACCESS_KEY") if env.get(k)]

    def __repr__(self) -> str:
        return f"LabTarget({self.lab.dir})"
