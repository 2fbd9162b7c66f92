"""Read YAML and JSON resource files into plain data, keeping the file and line of every value.

The one loader of the project. It returns plain JSON-shaped data (dicts with string keys, lists,
scalars) plus a map from JSON pointer to source position, so that every later check can say
``file:line``. Parse problems become diagnostics, never exceptions with tracebacks.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from controller.diagnostics import Diagnostic, SourcePos

__all__ = ["Document", "escape_pointer", "load_file"]


def escape_pointer(token: str | int) -> str:
    """Escape one JSON pointer reference token (RFC 6901)."""
    return str(token).replace("~", "~0").replace("/", "~1")


@dataclass
class Document:
    """One YAML document of a file: plain data and the source position of each JSON pointer."""

    file: str  # as shown to people: relative to the repository root
    index: int  # 0-based document index within the file
    data: Any
    positions: dict[str, SourcePos] = field(default_factory=dict)
    # Where each key of a mapping stands (pointer of the value -> position of its key).
    key_positions: dict[str, SourcePos] = field(default_factory=dict)

    @property
    def start(self) -> SourcePos:
        return self.positions.get("", SourcePos(self.file, 1))

    def pos(self, pointer: str) -> SourcePos:
        """The position of ``pointer``, or of its nearest ancestor that has one."""
        probe = pointer
        while True:
            if probe in self.positions:
                return self.positions[probe]
            if not probe:
                return self.start
            probe = probe.rsplit("/", 1)[0]


def _key_text(key: Any) -> str:
    # JSON keys are strings; YAML allows `true:` or `1:` as keys (e.g. in a transform map).
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def _convert(node: Any, doc: Document, pointer: str, pos: SourcePos | None) -> Any:
    if pos is not None:
        doc.positions[pointer] = pos
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key, value in node.items():
            name = _key_text(key)
            child = f"{pointer}/{escape_pointer(name)}"
            try:
                kl, kc = node.lc.key(key)
                vl, vc = node.lc.value(key)
                doc.key_positions[child] = SourcePos(doc.file, kl + 1, kc + 1)
                vpos = SourcePos(doc.file, vl + 1, vc + 1)
            except (KeyError, TypeError, AttributeError):
                vpos = pos
            out[name] = _convert(value, doc, child, vpos)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, value in enumerate(node):
            child = f"{pointer}/{i}"
            try:
                il, ic = node.lc.item(i)
                ipos = SourcePos(doc.file, il + 1, ic + 1)
            except (KeyError, TypeError, AttributeError, IndexError):
                ipos = pos
            items.append(_convert(value, doc, child, ipos))
        return items
    if isinstance(node, _dt.datetime | _dt.date):
        return node.isoformat()  # JSON has no dates; keep the text the author wrote
    if isinstance(node, str):
        return str(node)  # drop ruamel's scalar string subclasses
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def load_file(path: Path, display: str) -> tuple[list[Document], list[Diagnostic]]:
    """Load every document of ``path``; ``display`` is the name used in messages."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return [], [Diagnostic("error", f"file is not UTF-8 text ({exc.reason})",
                               "Save the file as UTF-8", SourcePos(display, 1))]
    except OSError as exc:
        return [], [Diagnostic("error", f"cannot read file: {exc.strerror}", None, SourcePos(display, 1))]
    if "\t" in text:
        for lineno, line in enumerate(text.splitlines(), 1):
            indent = line[: len(line) - len(line.lstrip())]
            if "\t" in indent:
                return [], [Diagnostic(
                    "error", "a tab character is used for indentation",
                    "YAML indents with spaces only; replace the tab with spaces",
                    SourcePos(display, lineno, indent.index("\t") + 1))]
    docs: list[Document] = []
    try:
        for index, node in enumerate(_yaml().load_all(text)):
            doc = Document(display, index, None)
            start = None
            if isinstance(node, CommentedMap | CommentedSeq):
                start = SourcePos(display, node.lc.line + 1, node.lc.col + 1)
            doc.data = _convert(node, doc, "", start)
            if doc.data is None:
                continue  # an empty document (a trailing `---`) is allowed
            docs.append(doc)
    except DuplicateKeyError as exc:
        mark = exc.problem_mark
        key = _duplicate_key_name(exc)
        first = _first_key_line(text, exc, key)
        related = (SourcePos(display, first),) if first is not None else ()
        return [], [Diagnostic(
            "error", f"duplicate key {key!r}" if key else "duplicate key",
            "Each key may appear once in a mapping; remove or merge the repeated one",
            SourcePos(display, mark.line + 1, mark.column + 1) if mark else SourcePos(display, 1),
            related=related)]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        json_file = display.endswith(".json")
        return [], [Diagnostic(
            "error", f"{'JSON' if json_file else 'YAML'} syntax error: {problem}",
            "Check commas, quotes and brackets on this line" if json_file
            else "Check indentation, quoting and colons on this line",
            SourcePos(display, mark.line + 1, mark.column + 1) if mark else SourcePos(display, 1))]
    except YAMLError as exc:
        return [], [Diagnostic("error", f"YAML error: {exc}", None, SourcePos(display, 1))]
    return docs, []


def _duplicate_key_name(exc: DuplicateKeyError) -> str | None:
    # ruamel's problem text is: found duplicate key "name" with value ... (original value: ...)
    problem = exc.problem or ""
    if '"' in problem:
        return problem.split('"')[1]
    return None


def _first_key_line(text: str, exc: DuplicateKeyError, key: str | None) -> int | None:
    """The 1-based line where the repeated key first appears (ruamel only marks the mapping)."""
    start, mark = exc.context_mark, exc.problem_mark
    if start is None:
        return None
    if key is not None and mark is not None:
        lines = text.splitlines()
        for lineno in range(start.line, mark.line):
            line = lines[lineno]
            if line[:mark.column].strip(" -") == "" and line[mark.column:].startswith(f"{key}:"):
                return lineno + 1
    return start.line + 1
