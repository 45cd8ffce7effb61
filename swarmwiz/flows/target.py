"""Build the one target of a run at its entry point: the real clouds, or the local lab (imported only then)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from swarmwiz.core.target import Target


def build_target(lab: bool, env: Mapping[str, str] | None = None, keyring_backend: Any = None) -> Target:
    """The target of this run: the lab when `lab`, else Scaleway + Cloudflare.

    `env` replaces os.environ (credentials and SCW_API_URL / CLOUDFLARE_BASE_URL are read from it);
    `keyring_backend` replaces the OS keyring (tests pass an in-memory one). Builds nothing expensive: the lab
    starts in `Target.prepare()`, the keyring opens when credentials are first needed.
    """
    if lab:
        from swarmwiz.lab.target import LabTarget

        return LabTarget()
    from swarmwiz.core.credentials import KeyringStore
    from swarmwiz.core.target import CloudTarget

    return CloudTarget(env, store=KeyringStore(backend=keyring_backend))
