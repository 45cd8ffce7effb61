"""The SDK clients of one run, built once from (Credentials, Endpoints), and the translation of every SDK failure
into a swarmwiz `ApiError` whose message names the API and the call, never a secret."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from swarmwiz.core.api.endpoints import DEFAULT_TIMEOUT, Endpoints, RetryPolicy
from swarmwiz.core.errors import ApiDenied, ApiError, ApiNotFound, ApiUnreachable

if TYPE_CHECKING:
    from swarmwiz.core.credentials import Credentials

log = logging.getLogger("swarmwiz.api")


def _body(text: str) -> dict:
    try:
        body = json.loads(text)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def api_error(api: str, what: str, status: int, body: dict, detail: str) -> ApiError:
    """The ApiError subclass for `status`; `detail` is what the API said (type, reason, message: no secret)."""
    cls = ApiDenied if status in (401, 403) else ApiNotFound if status == 404 else ApiError
    reason = str(body.get("reason") or body.get("type") or "")
    return cls(f"The {api} API refused {what} ({detail}).", api=api, status=status, reason=reason, detail=detail)


def unreachable(api: str, base: str, why: str) -> ApiUnreachable:
    return ApiUnreachable(f"Cannot reach the {api} API at {base}: {why}.", api=api, detail=why)


def scaleway_detail(status: int, body: dict) -> str:
    parts = [str(body.get(k)) for k in ("type", "reason", "message") if body.get(k)]
    return f"HTTP {status}" + (f", {' / '.join(parts)}" if parts else "")


def cloudflare_detail(status: int, body: Any) -> str:
    errors = body.get("errors") if isinstance(body, dict) else None
    text = "; ".join(f"{e.get('code')} {e.get('message')}" for e in errors or [] if isinstance(e, dict))
    return f"HTTP {status}" + (f", {text}" if text else "")


# ---------------------------------------------------------------- Scaleway


@cache
def _scaleway_api_class(cls: type) -> type:
    """`cls` (an SDK API class) sending through our session: timeout, retries, errors as ApiError.

    The SDK calls the module-level `requests.request` (no session, no timeout, no retries) in `API._request`, so
    that one method is replaced; the typed methods, models and `*_all` pagination helpers are the SDK's own.
    """

    class Api(cls):
        _session: Any = None
        _timeout: float = DEFAULT_TIMEOUT

        def _request(self, method, path, params=None, headers=None, body=None):  # noqa: B006 (SDK signature)
            import requests

            query = [
                (k, item)
                for k, v in (params or {}).items()
                if v is not None
                for item in (v if isinstance(v, list) else [v])
            ]
            sent = {"accept": "application/json", "user-agent": self.client.user_agent, **(headers or {})}
            sent["x-auth-token"] = self.client.secret_key or ""
            data = None
            if method.upper() in ("POST", "PUT", "PATCH"):
                sent["content-type"] = "application/json; charset=utf-8"
                data = body if isinstance(body, bytes) else json.dumps(body if body is not None else {})
            base = self.client.api_url
            try:
                response = self._session.request(
                    method, base + path, params=query, headers=sent, data=data, timeout=self._timeout
                )
            except requests.Timeout:
                raise unreachable("Scaleway", base, f"no answer within {self._timeout:g} s") from None
            except requests.RequestException as exc:
                raise unreachable("Scaleway", base, _connection_why(exc, self._timeout)) from None
            total = response.headers.get("x-total-count")
            if total and response.ok:
                # The unmarshallers read total_count from the body; some list answers carry it as a header only.
                body_json = _body(response.text)
                if body_json and "total_count" not in body_json:
                    body_json["total_count"] = int(total)
                    response._content = json.dumps(body_json).encode()
            return response

        def _throw_on_error(self, res) -> None:
            if res.status_code >= 400:
                body = _body(res.text)
                what = f"{res.request.method} {res.request.path_url.split('?')[0]}"
                raise api_error("Scaleway", what, res.status_code, body, scaleway_detail(res.status_code, body))

    Api.__name__ = Api.__qualname__ = f"Swarmwiz{cls.__name__}"
    return Api


def _connection_why(exc: Exception, timeout: float) -> str:
    """Why a request got no answer, in words; urllib3 wraps the cause once retries are exhausted."""
    from urllib3.exceptions import MaxRetryError, NewConnectionError, ReadTimeoutError, TimeoutError

    cause = exc.args[0] if exc.args else None
    if isinstance(cause, MaxRetryError):
        cause = cause.reason
    # Before the timeout test: urllib3's NewConnectionError is a ConnectTimeoutError, hence a TimeoutError, and
    # a refused connection or an unknown host used to be worded as "no answer within 10 s".
    if isinstance(cause, NewConnectionError) or "Connection refused" in str(cause) or "resolve" in str(cause):
        return "connection refused or host not found"
    if isinstance(cause, ReadTimeoutError | TimeoutError):
        return f"no answer within {timeout:g} s"
    return type(cause or exc).__name__


# ---------------------------------------------------------------- Cloudflare

MAX_PAGES = 1000


def cf_all(first_page) -> list:
    """Every item of a paginated Cloudflare list. The SDK's iterator stops only at an empty page; this also stops
    at `result_info.total_pages` (one request fewer), and after MAX_PAGES whatever a server claims."""
    items: list = []
    for number, page in enumerate(first_page.iter_pages(), 1):
        items.extend(page.result or [])
        total = getattr(getattr(page, "result_info", None), "total_pages", None)
        if not page.result or (total is not None and number >= total) or number >= MAX_PAGES:
            return items
    return items


@contextlib.contextmanager
def cloudflare_errors(what: str, base: str, timeout: float) -> Iterator[None]:
    """Turn the Cloudflare SDK's typed errors into ApiError (their text would quote whole answers)."""
    import cloudflare

    try:
        yield
    except cloudflare.APITimeoutError:
        raise unreachable("Cloudflare", base, f"no answer within {timeout:g} s") from None
    except cloudflare.APIConnectionError:
        raise unreachable("Cloudflare", base, "connection refused or host not found") from None
    except cloudflare.APIStatusError as exc:
        body = exc.body if isinstance(exc.body, dict) else _body(exc.response.text)
        raise api_error("Cloudflare", what, exc.status_code, {}, cloudflare_detail(exc.status_code, body)) from None


# ---------------------------------------------------------------- both


class ApiClients:
    """The Scaleway and Cloudflare SDK clients of one run; each is built on first use and then reused."""

    def __init__(
        self,
        credentials: Credentials,
        endpoints: Endpoints | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.credentials = credentials
        self.endpoints = endpoints or Endpoints.from_env()
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.project = credentials.value("scw_project_id") or ""
        self._scw_client = None
        self._scw_session = None
        self._scw_apis: dict[type, Any] = {}
        self._cf = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], **kwargs: Any) -> ApiClients:
        """From a run's environment: SCW_*/CLOUDFLARE_API_TOKEN credentials and SCW_API_URL/CLOUDFLARE_BASE_URL."""
        from swarmwiz.core.credentials import credentials_from_env

        return cls(credentials_from_env(env), Endpoints.from_env(env), **kwargs)

    # -- Scaleway: one SDK client, one session, one instance per API class ---------------------------------------
    def scaleway(self, api_class: type):
        """An instance of the SDK's `api_class` (e.g. InstanceV1API) sending through this run's session."""
        if api_class not in self._scw_apis:
            if self._scw_client is None:
                from scaleway import Client

                from swarmwiz.core.api.retry import scaleway_session

                self._scw_client = Client(
                    access_key=self.credentials.value("scw_access_key"),
                    secret_key=self.credentials.value("scw_secret_key"),
                    default_project_id=self.project or None,
                    api_url=self.endpoints.scaleway,
                )
                self._scw_session = scaleway_session(self.retry)
            # bypass_validation: the SDK's own check would put a malformed key into its error text.
            api = _scaleway_api_class(api_class)(self._scw_client, bypass_validation=True)
            api._session = self._scw_session
            api._timeout = self.timeout
            self._scw_apis[api_class] = api
        return self._scw_apis[api_class]

    def instance(self):
        from scaleway.instance.v1 import InstanceV1API

        return self.scaleway(InstanceV1API)

    def vpc(self):
        from scaleway.vpc.v2 import VpcV2API

        return self.scaleway(VpcV2API)

    def iam(self):
        from scaleway.iam.v1alpha1 import IamV1Alpha1API

        return self.scaleway(IamV1Alpha1API)

    # -- Cloudflare -----------------------------------------------------------------------------------------------
    def cloudflare(self):
        """The Cloudflare SDK client; wrap calls in `self.cf_errors(what)`."""
        if self._cf is None:
            from swarmwiz.core.api.retry import cloudflare_client

            token = self.credentials.value("cloudflare_token") or ""
            self._cf = cloudflare_client(token, self.endpoints.cloudflare, self.retry, self.timeout)
        return self._cf

    def cf_errors(self, what: str):
        return cloudflare_errors(what, self.endpoints.cloudflare, self.timeout)

    def close(self) -> None:
        if self._scw_session is not None:
            self._scw_session.close()
        if self._cf is not None:
            self._cf.close()

    def __enter__(self) -> ApiClients:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
