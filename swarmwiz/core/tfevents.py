"""Turn Terraform's output (`-json` UI lines and plain text) into pipeline events, with secrets scrubbed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from swarmwiz.core.events import Event, LogLine, Phase, PlanSummary, ResourceChanged

REDACTED = "***"

# Hook types whose resource lifecycle the pipeline follows; the value is ResourceChanged.state.
_APPLY_STATES = {
    "apply_start": "started",
    "apply_progress": "progress",
    "apply_complete": "done",
    "apply_errored": "failed",
}
# How one planned action counts in a plan summary; replace is a destroy plus an add.
_COUNTS = {
    "create": ("add",),
    "update": ("change",),
    "delete": ("destroy",),
    "replace": ("add", "destroy"),
}
# Box-drawing characters Terraform puts around human-readable diagnostics.
_BOX = re.compile(r"^[\u2502\u2577\u2575]\s?")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Scrubber:
    """Replaces every known secret value in text (longest first, so a secret containing another is whole)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        given = {s for s in secrets if s}
        # a secret with quotes or backslashes appears escaped inside raw JSON text
        escaped = {json.dumps(s)[1:-1] for s in given}
        self.secrets = sorted(given | escaped, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self.secrets:
            value = value.replace(secret, REDACTED)
        return value

    def deep(self, value):
        """Scrub every string inside decoded JSON (dict keys included)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.deep(v) for v in value]
        if isinstance(value, dict):
            return {self.text(k): self.deep(v) for k, v in value.items()}
        return value


@dataclass(frozen=True)
class Diagnostic:
    """One Terraform diagnostic (error or warning), already scrubbed."""

    severity: str
    summary: str
    detail: str = ""
    address: str = ""
    filename: str = ""
    line: int | None = None

    def sentence(self) -> str:
        """`summary (address, file:line): detail` on one line."""
        where = ", ".join(p for p in (self.address, f"{self.filename}:{self.line}" if self.filename else "") if p)
        text = self.summary + (f" ({where})" if where else "")
        detail = " ".join(self.detail.split())
        return f"{text}: {detail}" if detail else text


@dataclass(frozen=True)
class LockInfo:
    """Who holds a Terraform state lock, parsed from the 'Error acquiring the state lock' detail."""

    id: str
    who: str = ""
    operation: str = ""
    created: str = ""
    path: str = ""


def parse_lock_info(detail: str) -> LockInfo | None:
    """Read the `Lock Info:` block Terraform prints when it cannot take the state lock."""
    fields = dict(re.findall(r"^\s*(ID|Path|Operation|Who|Created):[ \t]*(.*?)\s*$", detail, re.M))
    if not fields.get("ID"):
        return None
    return LockInfo(
        id=fields["ID"],
        who=fields.get("Who", ""),
        operation=fields.get("Operation", "").removeprefix("OperationType").lower(),
        created=fields.get("Created", ""),
        path=fields.get("Path", ""),
    )


@dataclass
class StreamParser:
    """Parses one run's output line by line; remembers what the end of the run needs (errors, counts, lock)."""

    phase: Phase
    scrubber: Scrubber = field(default_factory=Scrubber)
    errors: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    stderr_tail: list[str] = field(default_factory=list)
    by_type: dict[str, dict[str, int]] = field(default_factory=dict)
    summary: PlanSummary | None = None
    version: str = ""
    interrupted: bool = False
    lock: LockInfo | None = None
    _box_level: str = "error"
    _init_done: bool = False

    # -- -json UI lines -------------------------------------------------------------------------------

    def feed_json(self, line: str) -> list[Event]:
        """One stdout line of a `-json` command; lines that are not JSON become LogLines."""
        line = line.rstrip("\r\n")
        if not line.strip():
            return []
        try:
            msg = json.loads(line)
        except ValueError:
            msg = None
        if not isinstance(msg, dict):
            return [self._raw(line, "info")]
        return self.message(self.scrubber.deep(msg))

    def message(self, msg: dict) -> list[Event]:
        """Map one decoded (and scrubbed) UI message to events."""
        kind = msg.get("type", "")
        text = str(msg.get("@message", "")).strip()
        level = msg.get("@level", "info")
        if kind == "version":
            self.version = str(msg.get("terraform", ""))
            return [LogLine(phase=self.phase, text=text, level="debug")]
        if kind == "planned_change":
            return [self._planned(msg.get("change") or {})]
        if kind in _APPLY_STATES:
            return [self._hook(msg.get("hook") or {}, _APPLY_STATES[kind])]
        if kind == "change_summary":
            return self._change_summary(msg.get("changes") or {}, text)
        if kind == "diagnostic":
            return [self._diagnostic(msg.get("diagnostic") or {})]
        if kind == "outputs":
            return []  # values come from `terraform output -json`; this message only repeats them
        if kind == "resource_drift":
            return [LogLine(phase=self.phase, text=text, level="warning")]
        if kind == "log" and "Interrupt received" in text:
            self.interrupted = True
        return [LogLine(phase=self.phase, text=text, level=level if level != "trace" else "debug")] if text else []

    def _planned(self, change: dict) -> ResourceChanged:
        res = change.get("resource") or {}
        action = change.get("action", "")
        rtype = res.get("resource_type", "")
        for column in _COUNTS.get(action, ()):
            counts = self.by_type.setdefault(rtype, {"add": 0, "change": 0, "destroy": 0})
            counts[column] += 1
        return ResourceChanged(
            phase=self.phase, address=res.get("addr", ""), resource_type=rtype, action=action, state="planned"
        )

    def _hook(self, hook: dict, state: str) -> ResourceChanged:
        res = hook.get("resource") or {}
        return ResourceChanged(
            phase=self.phase,
            address=res.get("addr", ""),
            resource_type=res.get("resource_type", ""),
            action=hook.get("action", ""),
            state=state,
            elapsed_s=hook.get("elapsed_seconds"),
            id_value=hook.get("id_value"),
        )

    def _change_summary(self, changes: dict, text: str) -> list[Event]:
        if changes.get("operation") != "plan":
            return [LogLine(phase=self.phase, text=text)]
        self.summary = PlanSummary(
            add=int(changes.get("add", 0)),
            change=int(changes.get("change", 0)),
            destroy=int(changes.get("remove", 0)),
            by_type={t: dict(c) for t, c in sorted(self.by_type.items())},
        )
        return [self.summary]

    def _diagnostic(self, diag: dict) -> LogLine:
        rng = diag.get("range") or {}
        found = Diagnostic(
            severity=diag.get("severity", "error"),
            summary=str(diag.get("summary", "")).strip(),
            detail=str(diag.get("detail", "")).strip(),
            address=diag.get("address", ""),
            filename=rng.get("filename", ""),
            line=(rng.get("start") or {}).get("line"),
        )
        self._remember(found)
        level = "error" if found.severity == "error" else "warning"
        return LogLine(phase=self.phase, text=f"{found.severity.capitalize()}: {found.sentence()}", level=level)

    def _remember(self, diag: Diagnostic) -> None:
        bucket = self.errors if diag.severity == "error" else self.warnings
        if diag not in bucket:  # terraform repeats "execution halted" once per walk
            bucket.append(diag)
        if diag.severity == "error" and "state lock" in diag.summary and self.lock is None:
            self.lock = parse_lock_info(diag.detail)

    # -- plain text (init, stderr, crashes) ------------------------------------------------------------

    def feed_text(self, line: str, *, stderr: bool) -> list[Event]:
        """One line of human-readable output; stderr diagnostics in boxes are collected like JSON ones."""
        line = self.scrubber.text(_ANSI.sub("", line.rstrip("\r\n")))
        if not stderr:
            if self._init_done or not line.strip():
                return []
            # init's closing paragraphs explain terraform to a human at a prompt; the pipeline says it better
            self._init_done = line.strip() == "Terraform has been successfully initialized!"
            return [self._raw(line, "info")]
        if line.startswith("\u2577"):  # ╷ opens a diagnostic box
            self._box_level = "error"
        text = _BOX.sub("", line).rstrip()
        if text.startswith("Warning:"):
            self._box_level = "warning"
        elif text.startswith("Error:"):
            self._box_level = "error"
        if self._box_level == "error" and (text.strip() or self.stderr_tail):
            # blank lines are kept: they end a diagnostic's first paragraph (see errors_from_text)
            self.stderr_tail = (self.stderr_tail + [text.strip()])[-40:]
        if not text.strip():
            return []
        return [LogLine(phase=self.phase, text=text, level=self._box_level)]

    def _raw(self, line: str, level: str) -> LogLine:
        return LogLine(phase=self.phase, text=self.scrubber.text(line.rstrip()), level=level)


def errors_from_text(lines: list[str]) -> list[Diagnostic]:
    """Human-readable stderr (init errors, crashes) as diagnostics: each `Error:` line and its first paragraph."""
    found: list[Diagnostic] = []
    for i, line in enumerate(lines):
        if line.startswith("Error:"):
            detail: list[str] = []
            for more in lines[i + 1 :]:
                if more.startswith("Error:") or (not more and detail):
                    break
                detail += [more] if more else []
            diag = Diagnostic("error", line.removeprefix("Error:").strip(), " ".join(detail))
            found += [diag] if diag not in found else []
    if not found and any(lines):
        text = [line for line in lines if line]
        found.append(Diagnostic("error", text[0], " ".join(text[1:])))
    return found
