"""Titled exceptions raised by the core; the CLI and the TUI each route them in one place."""

from __future__ import annotations


class SwarmwizError(Exception):
    """Base of every expected failure: carries a short title and a one-sentence message."""

    title = "swarmwiz error"
    exit_code = 1

    def __init__(self, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title:
            self.title = title

    def __str__(self) -> str:
        return self.message


class InputError(SwarmwizError):
    """Bad input or usage: exit code 2, nothing created."""

    title = "Invalid input"
    exit_code = 2


class SpecError(InputError):
    """A cluster spec with one or more problems, each one sentence naming the field."""

    title = "Invalid cluster spec"

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class LockedError(SwarmwizError):
    """Another swarmwiz process holds the cluster's lock."""

    title = "Cluster busy"


class EngineError(SwarmwizError):
    """Terraform (or the engine that runs it) failed."""

    title = "Terraform failed"


class CredentialError(SwarmwizError):
    """A credential is missing, malformed, rejected, or lacks a permission."""

    title = "Credentials"


class RemoteError(SwarmwizError):
    """A node could not be reached or a remote command failed."""

    title = "Remote command failed"


class Interrupted(SwarmwizError):
    """The user interrupted the operation; state was saved."""

    title = "Interrupted"
    exit_code = 130


class ApiError(SwarmwizError):
    """A cloud API (Scaleway or Cloudflare) refused or failed a call; the message names the API and the call,
    never a secret. `status` is the HTTP status (None when there was no answer), `reason` the API's error type or
    reason ("expired", "permissions_denied"), `detail` what the API said in a few words (for other sentences)."""

    title = "Cloud API error"

    def __init__(
        self,
        message: str,
        *,
        title: str | None = None,
        api: str = "",
        status: int | None = None,
        reason: str = "",
        detail: str = "",
    ) -> None:
        super().__init__(message, title=title)
        self.api = api
        self.status = status
        self.reason = reason
        self.detail = detail


class ApiDenied(ApiError, CredentialError):
    """401 or 403: the credentials are rejected or lack a permission."""

    title = "Credentials"


class ApiNotFound(ApiError):
    """404: the object (or the route) does not exist."""

    title = "Not found"


class ApiUnreachable(ApiError, CredentialError):
    """The API did not answer (refused, unknown host, timeout), after the bounded retries."""

    title = "API unreachable"
