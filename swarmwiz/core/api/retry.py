"""Retries in one place: both SDKs retry 429 (honouring Retry-After) and 5xx with backoff + jitter, bounded by
a `RetryPolicy`, and log what they wait for. Imports `requests`/`urllib3`/`cloudflare` on first use."""

from __future__ import annotations

import logging
import random
import time
from functools import cache

from swarmwiz.core.api.endpoints import RetryPolicy

log = logging.getLogger("swarmwiz.api")

RETRY_STATUSES = (429, 500, 502, 503, 504)
# Methods whose 5xx may be repeated safely; a 429 means "not processed", so any method is retried on it.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def backoff_wait(policy: RetryPolicy, attempt: int, retry_after: float | None) -> float:
    """Seconds to wait before retry number `attempt` (1-based): Retry-After if given, else exponential + jitter."""
    if retry_after is not None and retry_after > 0:
        return min(retry_after, policy.max_wait)
    return min(policy.backoff * 2 ** (attempt - 1) + random.uniform(0, policy.jitter), policy.max_wait)


def _say(api: str, what: str, outcome: str, wait: float, attempt: int, policy: RetryPolicy, hinted: bool) -> None:
    """One log line per retry: which API, which call, what happened, how long it waits and why."""
    why = "as its Retry-After asks" if hinted else "backing off"
    log.warning(
        "%s API %s to %s; retry %d of %d in %.1f s (%s)", api, outcome, what, attempt, policy.retries, wait, why
    )


@cache
def _scaleway_retry_class():
    from urllib3.util.retry import Retry

    class LoggedRetry(Retry):
        """urllib3 Retry that waits by our policy (Retry-After capped, else backoff + jitter) and says so."""

        policy = RetryPolicy()

        def new(self, **kw):
            made = super().new(**kw)
            made.policy = self.policy
            return made

        def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
            if self.total is not None and self.total < 1 or status_code not in RETRY_STATUSES:
                return False
            return status_code == 429 or method.upper() in IDEMPOTENT

        def sleep(self, response=None) -> None:
            attempt = len(self.history)
            hint = self.get_retry_after(response) if response is not None else None
            wait = backoff_wait(self.policy, attempt, hint)
            last = self.history[-1] if self.history else None
            if last is not None and last.status:
                outcome = f"answered {last.status}"
            else:
                outcome = f"gave no answer ({type(last.error).__name__ if last else 'error'})"
            what = f"{last.method} {last.url.split('?')[0]}" if last and last.method else "a request"
            _say("Scaleway", what, outcome, wait, attempt, self.policy, hint is not None)
            time.sleep(wait)

    return LoggedRetry


def scaleway_session(policy: RetryPolicy):
    """A `requests.Session` whose adapter retries per `policy` (429 and 5xx, connection failures once or twice)."""
    import requests
    from requests.adapters import HTTPAdapter

    retry = _scaleway_retry_class()(
        total=policy.retries,
        connect=min(policy.retries, 2),
        read=min(policy.retries, 1),
        status=policy.retries,
        other=0,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=IDEMPOTENT,  # read timeouts; for answers is_retry decides (429: any method)
        backoff_factor=policy.backoff,
        backoff_max=policy.max_wait,
        backoff_jitter=policy.jitter,
        respect_retry_after_header=True,
        retry_after_max=int(policy.max_wait),
        raise_on_status=False,  # the last 429/5xx answer is returned and becomes an ApiError with its status
    )
    retry.policy = policy
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@cache
def _cloudflare_class():
    import cloudflare

    class RetryingCloudflare(cloudflare.Cloudflare):
        """The Cloudflare client with its own retry loop (429, 5xx, timeouts) waiting by our policy, and saying so."""

        swarmwiz_policy = RetryPolicy()

        def _calculate_retry_timeout(self, remaining_retries, options, response_headers=None) -> float:
            attempt = options.get_max_retries(self.max_retries) - remaining_retries + 1
            hint = self._parse_retry_after_header(response_headers)
            wait = backoff_wait(self.swarmwiz_policy, attempt, hint)  # a long Retry-After is capped at max_wait
            outcome = "answered 429 or 5xx" if response_headers is not None else "gave no answer (timeout or refused)"
            _say(
                "Cloudflare",
                f"{options.method.upper()} {options.url}",
                outcome,
                wait,
                attempt,
                self.swarmwiz_policy,
                hint is not None,
            )
            return wait

    return RetryingCloudflare


def cloudflare_client(token: str, base_url: str, policy: RetryPolicy, timeout: float):
    """A `cloudflare.Cloudflare` for `base_url` retrying per `policy`."""
    client = _cloudflare_class()(api_token=token, base_url=base_url, max_retries=policy.retries, timeout=timeout)
    client.swarmwiz_policy = policy
    return client
