"""Maps (method, path) to a handler under the lab lock, after authenticating the caller for the API called."""

from __future__ import annotations

import fnmatch
import random
import re
import time
from collections.abc import Callable
from typing import Any

from swarmwiz.lab.api import auth
from swarmwiz.lab.api.cloud import LabCloud
from swarmwiz.lab.api.errors import APIError, cf_error, scw_error

CF_PREFIX = "/client/v4"
# A handler gets the path's named groups, the query (last value of each name) and the decoded body.
Handler = Callable[[dict, dict, Any], tuple[int, Any]]


class Router:
    """Routes in registration order; handlers return (status, body) and raise APIError."""

    def __init__(self, cloud: LabCloud) -> None:
        self.cloud = cloud
        self.routes: list[tuple[str, re.Pattern, Handler]] = []

    def add(self, method: str, pattern: str, fn: Handler) -> None:
        self.routes.append((method, re.compile(pattern + r"/?$"), fn))

    def dispatch(self, method: str, path: str, query: dict, headers: Any, body: Any) -> tuple[int, Any]:
        cloudflare = path.startswith(CF_PREFIX)
        known_path = False
        for route_method, pattern, fn in self.routes:
            match = pattern.match(path)
            if not match:
                continue
            known_path = True
            if route_method != method:
                continue
            groups = match.groupdict()
            if not path.startswith("/lab/"):
                self._inject_fault(method, path, cloudflare)
            with self.cloud.lock:
                self.cloud.last_request = time.monotonic()
                if cloudflare:
                    groups["token"] = auth.cloudflare(
                        self.cloud, headers, path=path[len(CF_PREFIX) :], write=method != "GET"
                    )
                elif not path.startswith("/lab/"):
                    auth.authorize(auth.scaleway(self.cloud, headers), method, path)
                status, out = fn(groups, query, body)
                if method != "GET":
                    self.cloud.save()
                return status, out
        if cloudflare:
            raise cf_error(405 if known_path else 404, 7000, "No route for that URI")
        if known_path:
            raise scw_error(405, "method_not_allowed", "method not allowed")
        raise scw_error(404, "not_found", "resource is not found", resource="route", resource_id=path)

    def _inject_fault(self, method: str, path: str, cloudflare: bool) -> None:
        """Answer 429 (with Retry-After) or 503 as both clouds sometimes do: at the `fault_rate` lab option (half
        each), or by a faults.json rule {"path": "/instance/*", "method": "GET", "status": 429, "rate": 1.0}."""
        options = self.cloud.options()
        status = None
        for rule in self.cloud.faults():
            if "path" not in rule or not fnmatch.fnmatchcase(path, rule["path"]):
                continue
            if rule.get("method", method) == method and random.random() < float(rule.get("rate", 1.0)):
                status = int(rule.get("status", 429))
                break
        rate = float(options["fault_rate"])
        if status is None and rate > 0 and random.random() < rate:
            status = random.choice((429, 503))
        if status is None:
            return
        retry_after = str(options["retry_after"])
        if status == 429:
            error = (
                cf_error(429, 971, "Please wait and consider throttling your request speed")
                if cloudflare
                else scw_error(429, "too_many_requests", "rate limit exceeded, retry later")
            )
            raise APIError(error.status, error.body, {"Retry-After": retry_after})
        if cloudflare:
            raise cf_error(status, 10001, "Service temporarily unavailable, please retry")
        raise scw_error(status, "service_unavailable", "service is temporarily unavailable, retry later")
