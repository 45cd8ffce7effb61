"""Error answers in each API's own shape (Scaleway's flat JSON, Cloudflare's v4 envelope), and non-JSON bodies."""

from __future__ import annotations

from typing import Any


class APIError(Exception):
    """An HTTP error answered in the shape of the API that was called."""

    def __init__(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        super().__init__(body.get("message") or body)
        self.status = status
        self.body = body
        self.headers = headers or {}


class RawBody:
    """A non-JSON answer (user data is text/plain)."""

    def __init__(self, data: bytes, content_type: str) -> None:
        self.data = data
        self.content_type = content_type


def scw_error(status: int, type_: str, message: str, **extra: Any) -> APIError:
    return APIError(status, {"message": message, "type": type_, **extra})


def scw_not_found(resource: str, resource_id: str) -> APIError:
    return scw_error(404, "not_found", "resource is not found", resource=resource, resource_id=resource_id)


def scw_invalid(field: str, problem: str) -> APIError:
    return scw_error(400, "invalid_request_error", "Validation Error", fields={field: [problem]})


def scw_denied(resource: str, action: str) -> APIError:
    return scw_error(
        403, "permissions_denied", "insufficient permissions", details=[{"resource": resource, "action": action}]
    )


def cf_errors(status: int, errors: list[dict]) -> APIError:
    """A Cloudflare v4 error envelope with one or more errors."""
    return APIError(status, {"success": False, "errors": errors, "messages": [], "result": None})


def cf_error(status: int, code: int, message: str) -> APIError:
    return cf_errors(status, [{"code": code, "message": message}])


def cf_ok(result: Any, **extra: Any) -> dict:
    return {"success": True, "errors": [], "messages": [], "result": result, **extra}
