"""Maps (method, path) to a handler under the lab lock, after authenticating the caller for the API called."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from swarmwiz.lab.api import auth
from swarmwiz.lab.api.cloud import LabCloud
from swarmwiz.lab.api.errors import cf_error, scw_error

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
            with self.cloud.lock:
                self.cloud.last_request = time.monotonic()
                if cloudflare:
                    groups["token"] = auth.cloudflare(
                        self.cloud, headers, path=path[len(CF_PREFIX) :], write=method != "GET"
                    )
                elif not path.startswith("/lab/"):
                    auth.scaleway(self.cloud, headers)
                status, out = fn(groups, query, body)
                if method != "GET":
                    self.cloud.save()
                return status, out
        if cloudflare:
            raise cf_error(405 if known_path else 404, 7000, "No route for that URI")
        if known_path:
            raise scw_error(405, "method_not_allowed", "method not allowed")
        raise scw_error(404, "not_found", "resource is not found", resource="route", resource_id=path)
