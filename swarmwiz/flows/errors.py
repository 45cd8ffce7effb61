"""Exit codes and the words for an error: one definition that the command line, plain mode and the wizard share."""

from __future__ import annotations

from dataclasses import dataclass, field

from swarmwiz.core.errors import SwarmwizError, os_error, printable

EXIT_OK = 0
EXIT_FAILED = 1  # the operation failed
EXIT_USAGE = 2  # bad input or usage; nothing was created
EXIT_INTERRUPTED = 130  # the user stopped it (state saved)

EXIT_CODES_HELP = "exit codes: 0 ok, 1 the operation failed, 2 bad input or usage, 130 interrupted."

# How every error line of the command line and plain mode starts (as argparse's own): one form to read and to grep.
# A warning says "swarmwiz: warning: "; an interrupt, not an error, says "swarmwiz: interrupted".
ERROR_PREFIX = "swarmwiz: error: "


@dataclass(frozen=True)
class Description:
    """An error as people read it: a short title, one sentence per line (a spec error has one per field), and the
    exit code a command ends with."""

    title: str
    lines: list[str] = field(default_factory=list)
    exit_code: int = EXIT_FAILED
    expected: bool = True  # False for a bug: the frontends then log the traceback at debug level

    @property
    def sentence(self) -> str:
        """The lines as one paragraph, for a place with room for one line (a notification, an outcome line)."""
        return " ".join(self.lines)


def describe(exc: BaseException | None) -> Description:
    """Turn any exception into a `Description`; never shows a traceback, never more than the message says."""
    if isinstance(exc, OSError):  # a file swarmwiz reads or writes: disk full, permission, read-only, ...
        exc = os_error(exc)
    if isinstance(exc, SwarmwizError):
        said = [str(p) for p in getattr(exc, "problems", None) or [exc.message]]
        # escape sequences in a value or path never reach the terminal raw
        lines = [printable(line, 2000) for text in said for line in (text.splitlines() or [""])]
        return Description(exc.title, lines, exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        return Description("Interrupted", ["interrupted"], EXIT_INTERRUPTED)
    name = type(exc).__name__ if exc is not None else "Error"
    return Description(
        "Unexpected error",
        [f"{name}: {exc}", "Run `swarmwiz --debug` to log the details."],
        EXIT_FAILED,
        expected=False,
    )
