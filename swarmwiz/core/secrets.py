"""A string type for API secrets that never prints its value, and helpers that scrub secrets from text and logs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

MASK = "********"


class Secret:
    """An API secret: repr/str/format/logging show `Secret('********')`; only `.reveal()` gives the value.

    Pickling is refused (a pickle is a file that would hold the value); copying returns the same object.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError("Secret takes a str")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """The value itself: call this only where it leaves for an HTTP header, a child's env or the keyring."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return format(repr(self), spec)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        import hmac  # here: hmac loads OpenSSL, which the wizard's first frame need not wait for

        return hmac.compare_digest(self._value.encode(), other._value.encode())

    # Hashing would let the value be guessed by comparison with hash(candidate); nobody needs it.
    __hash__ = None  # type: ignore[assignment]

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Secret is immutable")

    def __reduce_ex__(self, protocol: object):
        raise TypeError("a Secret cannot be pickled (it would write the value out)")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict) -> Secret:
        return self


def scrub(text: str, secrets: Iterable[str | Secret]) -> str:
    """`text` with every occurrence of each secret value replaced by the mask."""
    for s in secrets:
        value = s.reveal() if isinstance(s, Secret) else s
        # Short values could match ordinary text by accident; real tokens are 36+ characters.
        if value and len(value) >= 8:
            text = text.replace(value, MASK)
    return text


class ScrubFilter(logging.Filter):
    """A logging filter that masks the given secret values in every record passing through a handler.

    `secrets` may be a callable returning them, read at each record: a run learns its credentials after its log
    has started.
    """

    def __init__(self, secrets: Iterable[str | Secret] | Callable[[], Iterable[str | Secret]]) -> None:
        super().__init__()
        self._source = secrets if callable(secrets) else None
        self._secrets = [] if callable(secrets) else [s.reveal() if isinstance(s, Secret) else s for s in secrets]

    def scrub(self, text: str) -> str:
        """`text` masked as a record's message would be (for lines written without a record)."""
        if self._source is not None:
            self._secrets = [s.reveal() if isinstance(s, Secret) else s for s in self._source() if s]
        return scrub(text, self._secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info:
            # Render the traceback now so that the text a handler prints is the scrubbed one.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = scrub(record.exc_text, self._secrets)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info, self._secrets)
        return True
