"""Where the APIs are (`Endpoints`) and how hard to retry them (`RetryPolicy`): plain data, no SDK import."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

SCALEWAY_URL = "https://api.scaleway.com"
CLOUDFLARE_URL = "https://api.cloudflare.com/client/v4"
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Endpoints:
    """API base URLs; SCW_API_URL and CLOUDFLARE_BASE_URL override them (the lab sets both)."""

    scaleway: str = SCALEWAY_URL
    cloudflare: str = CLOUDFLARE_URL

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Endpoints:
        env = os.environ if env is None else env
        return cls(
            scaleway=(env.get("SCW_API_URL") or SCALEWAY_URL).rstrip("/"),
            cloudflare=(env.get("CLOUDFLARE_BASE_URL") or CLOUDFLARE_URL).rstrip("/"),
        )


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries for 429 (honouring Retry-After) and 5xx, the same for both APIs.

    At most `retries` retries per call, each wait at most `max_wait` seconds, so a call waits at most
    retries x max_wait seconds on top of its request timeouts. Without Retry-After the wait is exponential backoff
    (`backoff` x 2^n) with random jitter, so that parallel callers do not retry in lockstep.
    """

    retries: int = 5  # a 20 % storm of 429/503 then fails one call in 15 000 (0.2^6), not one in 600
    backoff: float = 0.5
    max_wait: float = 20.0
    jitter: float = 0.5
