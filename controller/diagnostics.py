"""Diagnostics: problems found while checking files, collected rather than raised one at a time.

A diagnostic knows what is wrong, where (file, line, column, JSON pointer) and what to do. It
formats itself as the one line the CLI prints:
``environments/dev/mapping.yaml:12: /spec/correlation/any/0: 'usrName' is not ... . Use one of ...``
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Diagnostic", "Severity", "SourcePos"]

Severity = Literal["error", "warning", "info"]


def _sentence(text: str) -> str:
    text = text.rstrip()
    return text if text.endswith((".", "?", "!")) else text + "."


@dataclass(frozen=True, slots=True)
class SourcePos:
    """A position in a file: 1-based line and column (column 0 when unknown)."""

    file: str
    line: int
    column: int = 0

    def __str__(self) -> str:
        if not self.line:  # a whole file or folder (e.g. one that is missing)
            return self.file
        return f"{self.file}:{self.line}" + (f":{self.column}" if self.column else "")


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem: severity, message, hint, and where it is (position and JSON pointer)."""

    severity: Severity
    message: str
    hint: str | None = None
    pos: SourcePos | None = None
    pointer: str | None = None
    # Further positions that explain the problem, e.g. where a variable was defined.
    related: tuple[SourcePos, ...] = field(default=())

    def format(self) -> str:
        parts: list[str] = []
        if self.pos is not None:
            parts.append(str(self.pos))
        if self.pointer:
            parts.append(self.pointer)
        prefix = ": ".join(parts)
        label = "" if self.severity == "error" else f"{self.severity}: "
        text = _sentence(self.message)
        if self.hint:
            text += " " + _sentence(self.hint)
        if self.related:
            text += " (see " + ", ".join(str(p) for p in self.related) + ")"
        return f"{prefix}: {label}{text}" if prefix else f"{label}{text}"

    def to_dict(self) -> dict[str, object]:
        return {
            "severity": self.severity,
            "message": self.message,
            "hint": self.hint,
            "file": self.pos.file if self.pos else None,
            "line": self.pos.line if self.pos else None,
            "column": self.pos.column if self.pos else None,
            "pointer": self.pointer,
            "related": [{"file": p.file, "line": p.line} for p in self.related],
        }
