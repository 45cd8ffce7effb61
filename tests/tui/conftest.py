"""TUI test fixtures: an API-only lab on loopback (real HTTP), an in-memory keyring, recorded pipelines, and an
app factory that injects them."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from support import api_only_lab

sys.path.insert(0, str(Path(__file__).parent))

from recorded import RecordedPipeline  # noqa: E402

from swarmwiz.tui.app import SwarmwizApp  # noqa: E402
from swarmwiz.tui.services import Services  # noqa: E402

FIXTURES = Path(__file__).parent.parent / "fixtures"


class MemoryKeyring:
    """A keyring backend that keeps entries in a dict (the keyring API that KeyringStore calls)."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, name: str) -> str | None:
        return self.entries.get((service, name))

    def set_password(self, service: str, name: str, value: str) -> None:
        self.entries[(service, name)] = value

    def delete_password(self, service: str, name: str) -> None:
        from keyring.errors import PasswordDeleteError

        if self.entries.pop((service, name), None) is None:
            raise PasswordDeleteError(name)


class LabApi:
    def __init__(self, url: str, raw: dict) -> None:
        self.url = url
        self.raw = raw  # SCW_ACCESS_KEY ... CLOUDFLARE_API_TOKEN accepted by this lab

    @property
    def env(self) -> dict[str, str]:
        return {"SCW_API_URL": self.url, "CLOUDFLARE_BASE_URL": f"{self.url}/client/v4"}


@pytest.fixture
def lab_api(tmp_path, monkeypatch):
    """The lab's Scaleway + Cloudflare API alone (no hosts): a real HTTP server on 127.0.0.1 with example.com."""
    monkeypatch.delenv("SWARMWIZ_LAB_ZONES", raising=False)
    lab_dir = tmp_path / "lab"
    with api_only_lab(lab_dir) as (url, raw):
        yield LabApi(url, raw)


@pytest.fixture(autouse=True)
def doctor_offline(monkeypatch):
    """The welcome screen runs `swarmwiz doctor`'s checks: in tests without the APIs and live credential checks
    (they would reach the real APIs); a test that wants them sets welcome.DOCTOR_NETWORK with lab endpoints."""
    from swarmwiz.tui.screens import welcome

    monkeypatch.setattr(welcome, "DOCTOR_NETWORK", False)


@pytest.fixture
def ssh_dir(tmp_path) -> Path:
    d = tmp_path / "dot-ssh"
    d.mkdir(mode=0o700)
    shutil.copy(FIXTURES / "keys" / "id_ed25519.pub", d / "id_ed25519.pub")
    return d


class RecordedServices(Services):
    """Real services (catalogue, workspaces, keys, API calls to the lab API) with recorded pipelines."""

    def __init__(self, pipeline: RecordedPipeline | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.pipeline = pipeline or RecordedPipeline()
        self.pipelines_made: list = []

    def prepare(self) -> str:
        return "test services"

    def pipeline_for_spec(self, spec, credentials=None):
        self.pipelines_made.append(spec)
        self.pipeline.name = spec.name
        return self.pipeline

    def pipeline_for_name(self, name: str):
        self.pipeline.name = name
        return self.pipeline

    def access_hints(self, pipeline, status) -> list[str]:
        return pipeline.access_hints(status)  # the recorded hints: no workspace path in a snapshot


@pytest.fixture
def keyring_backend() -> MemoryKeyring:
    return MemoryKeyring()


# Without a lab, the APIs point at the discard port on loopback (refused at once): a step that asks something
# without credentials (this machine's public address) never reaches the real Cloudflare from a test.
OFFLINE_ENV = {"SCW_API_URL": "http://127.0.0.1:9", "CLOUDFLARE_BASE_URL": "http://127.0.0.1:9/client/v4"}


@pytest.fixture
def make_services(ssh_dir, keyring_backend):
    def make(env: dict[str, str] | None = None, pipeline: RecordedPipeline | None = None) -> RecordedServices:
        env = {**OFFLINE_ENV, **(env or {})}
        return RecordedServices(pipeline, ssh_dir=ssh_dir, env=env, keyring_backend=keyring_backend)

    return make


@pytest.fixture
def make_app(make_services):
    def make(env=None, pipeline=None, start: str = "welcome", lab: bool = False) -> SwarmwizApp:
        return SwarmwizApp(make_services(env, pipeline), lab=lab, start=start)

    return make
