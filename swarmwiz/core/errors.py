"""Titled exceptions raised by the core; the CLI and the TUI each route them in one place."""

from __future__ import annotations

import errno


def printable(text: str, limit: int = 200) -> str:
    """`text` safe to show on a terminal: control and escape characters written as escapes, cut when very long."""
    shown = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


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
    """Bad input or usage: exit code 2, nothing created. `field` names the input at fault (None: the command line);
    `problems` lists the sentences (one per problem; spec problems are `spec.Problem`s with their own `.field`)."""

    title = "Invalid input"
    exit_code = 2

    def __init__(self, message: str, *, title: str | None = None, field: str | None = None) -> None:
        super().__init__(message, title=title)
        self.field = field
        self.problems: list[str] = [message]


class SpecError(InputError):
    """A cluster spec with one or more problems, each one sentence naming the field."""

    title = "Invalid cluster spec"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems), field=getattr(problems[0], "field", None) if problems else None)
        self.problems = list(problems)


class LockedError(SwarmwizError):
    """Another swarmwiz process holds the cluster's lock."""

    title = "Cluster busy"


class StateUnreadable(SwarmwizError):
    """The Terraform state is missing, truncated or corrupt: nothing may be deleted as "untracked"."""

    title = "Terraform state unreadable"


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


# OS errors that mean "the input or the setup is wrong" (exit 2) rather than "the operation failed" (exit 1).
_USAGE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.ELOOP}


def os_error(exc: OSError, doing: str | None = None) -> SwarmwizError:
    """One sentence for an OSError (disk full, permission, ...), as InputError (exit 2) or SwarmwizError (exit 1)."""
    import os

    reason = exc.strerror or (os.strerror(exc.errno) if exc.errno else exc.__class__.__name__)
    where = f" {exc.filename}" if exc.filename else ""
    hint = {
        errno.ENOSPC: "; free some disk space (or move SWARMWIZ_HOME) and run the command again",
        errno.EDQUOT: "; free some space within the quota and run the command again",
        errno.EACCES: "; check the permissions, or point SWARMWIZ_HOME at a directory you own",
        errno.EROFS: "; point SWARMWIZ_HOME at a writable directory",
    }.get(exc.errno or 0, "")
    message = f"{doing or 'cannot use'}{where}: {reason}{hint}"
    if exc.errno in _USAGE_ERRNOS:
        return InputError(message, title="File not usable")
    return SwarmwizError(message, title="File error")


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
