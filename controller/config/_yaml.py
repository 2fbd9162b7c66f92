"""Read YAML and JSON resource files into plain data, keeping the file and line of every value.

The one loader of the project. It returns plain JSON-shaped data (dicts with string keys, lists,
scalars) plus a map from JSON pointer to source position, so that every later check can say
``file:line``. Parse problems become diagnostics, never exceptions with tracebacks.

Hostile input must not hurt: a file is refused, with the position where it crosses a limit, before
it can exhaust memory or the interpreter's stack. Aliases are counted as what they expand to while
the file is composed (ruamel shares aliased nodes; nothing is copied until `_convert`), so a
"billion laughs" file of a few hundred bytes trips the node limit without being expanded.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer
from ruamel.yaml.constructor import DuplicateKeyError, SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent, ScalarEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from controller.diagnostics import Diagnostic, SourcePos

__all__ = ["MAX_ALIASES", "MAX_DEPTH", "MAX_DOCUMENTS", "MAX_FILE_BYTES", "MAX_NODES", "Document",
           "escape_pointer", "load_file"]

# --- Limits of one resource file -----------------------------------------------------------------
# A real resource file is a few kilobytes: one to a handful of documents, some hundreds of values,
# nested about eight levels deep (spec/properties/0/transform/0/map/...), and rarely an alias. The
# limits sit far above that and far below what hurts: memory, time, Python's recursion limit (1000
# frames, of which validation, planning and diffing spend several per level of nesting).
MAX_FILE_BYTES = 1024 * 1024  # 1 MiB: a thousand times a real resource file
MAX_DOCUMENTS = 100  # documents (---) in one file
MAX_NODES = 100_000  # scalars, mappings and lists in one file, an alias counting as all it repeats
MAX_ALIASES = 1_000  # uses of *alias in one file
MAX_DEPTH = 50  # mappings and lists nested in one another
# Integers are 64-bit, as in JSON Schema's int64, SQLite, and the Java of PingIDM/AIC.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_TOO_DEEP = f"values are nested more than {MAX_DEPTH} levels deep"
_TOO_DEEP_HINT = "Resource files nest a few levels; flatten this structure"


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
            vpos: SourcePos | None
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
            ipos: SourcePos | None
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


class _LimitExceeded(Exception):
    """A file crossed one of the limits above (or holds a value JSON cannot); ``mark`` is where."""

    def __init__(self, message: str, hint: str, mark: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.mark = mark


class _BoundedComposer(Composer):
    """ruamel's composer, counting as it composes: documents, nesting, nodes (aliases expanded), aliases.

    Composing shares an aliased node instead of copying it, so counting here trips a limit before any
    expansion happens; nesting is checked before ruamel recurses into the next level.
    """

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self.documents = 0
        self.nodes = 0
        self.aliases = 0
        self.level = 0
        self.open_anchors: set[str] = set()
        self.sizes: dict[int, int] = {}  # id(node) -> the number of nodes it expands to

    def compose_document(self: Any) -> Any:
        self.documents += 1
        if self.documents > MAX_DOCUMENTS:
            raise _LimitExceeded(f"more than {MAX_DOCUMENTS} documents in one file",
                                 "Split the resources over several files", self.parser.peek_event().start_mark)
        self.sizes = {}  # anchors are per document
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if self.parser.check_event(AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise _LimitExceeded(f"more than {MAX_ALIASES} aliases in one file",
                                     "Write the values out, or split the file", event.start_mark)
            if event.anchor in self.open_anchors:
                raise _LimitExceeded(f"alias *{event.anchor} is used inside the value it names",
                                     "A value cannot contain itself; copy the values instead", event.start_mark)
            target = self.anchors.get(event.anchor)
            if target is not None:  # an undefined alias is ruamel's error, raised by super()
                self._count(self._size(target), event.start_mark)
            return super().compose_node(parent, index)
        collection = not self.parser.check_event(ScalarEvent)
        if collection:
            self.level += 1
            if self.level > MAX_DEPTH:
                raise _LimitExceeded(_TOO_DEEP, _TOO_DEEP_HINT, event.start_mark)
        self._count(1, event.start_mark)
        anchor = event.anchor
        if anchor is not None:
            self.open_anchors.add(anchor)
        try:
            node = super().compose_node(parent, index)
        finally:
            self.level -= collection
            if anchor is not None:
                self.open_anchors.discard(anchor)
        if isinstance(node, ScalarNode):
            _check_scalar(node)
        return node

    def _count(self, n: int, mark: Any) -> None:
        self.nodes += n
        if self.nodes > MAX_NODES:
            raise _LimitExceeded(
                f"the file holds more than {MAX_NODES:,} values (an alias counts as every value it repeats)",
                "A resource file holds some hundreds; remove the aliases that multiply a block, "
                "or split the file", mark)

    def _size(self, node: Node) -> int:
        """How many nodes ``node`` stands for once its aliases are expanded (memoised: linear)."""
        known = self.sizes.get(id(node))
        if known is not None:
            return known
        size = 1
        if isinstance(node, SequenceNode):
            size += sum(self._size(child) for child in node.value)
        elif isinstance(node, MappingNode):
            size += sum(self._size(k) + self._size(v) for k, v in node.value)
        self.sizes[id(node)] = size
        return size


_FLOW_SYNTAX = re.compile(r"[\[\]{}'\"#\\\n]")


def _deep_flow_nesting(text: str) -> tuple[int, int] | None:
    """(line, column), 1-based, of the first bracket that nests flow collections deeper than
    ``MAX_DEPTH``, read from the text alone; None when there is none.

    A fast path in front of the composer's own check: ruamel's scanner is quadratic in the brackets
    opened on one line (a thousand take half a second). Quoted strings and comments are skipped; a
    stray bracket in a plain or block scalar may be counted, which takes more than fifty to matter.
    """
    depth = 0
    quote = ""
    line, line_start = 1, 0
    skip_to = -1
    for m in _FLOW_SYNTAX.finditer(text):
        i, ch = m.start(), m.group()
        if ch == "\n":
            line, line_start = line + 1, i + 1
            if quote == "#":
                quote = ""
            continue
        if i < skip_to or quote == "#":
            continue
        if quote:
            if ch == "\\" and quote == '"':
                skip_to = i + 2  # the escaped character
            elif ch == quote:
                if quote == "'" and text.startswith("'", i + 1):
                    skip_to = i + 2  # '' is a quote inside a single-quoted string
                else:
                    quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            if i == line_start or text[i - 1] in " \t":
                quote = "#"  # a comment, to the end of the line
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return line, i - line_start + 1
        elif ch in "]}":
            depth = max(depth - 1, 0)
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_scalar(node: ScalarNode) -> None:
    """Refuse scalars JSON (and everything downstream) cannot hold, before ruamel converts them: numbers
    beyond 64 bits or not finite, values tagged !!int or !!float that are no number, lone surrogates."""
    tag, text = str(node.tag), str(node.value)
    if _SURROGATE.search(text):
        try:  # JSON writes a character beyond U+FFFF as a pair of escapes ("\\ud83d\\ude00"): join them
            node.value = text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
        except UnicodeDecodeError:
            raise _LimitExceeded("a value holds a lone surrogate escape (such as \\ud800), which is no "
                                 "character", "Write the character itself", node.start_mark) from None
    if tag == _BOOL_TAG and text.lower() not in SafeConstructor.bool_values:
        raise _LimitExceeded(f"{text[:30]!r} is tagged as true or false but is neither",
                             "Remove the !!bool tag, or write true or false", node.start_mark)
    if tag == _INT_TAG:
        digits = text.lstrip("+-").replace("_", "")
        value: int | None = None
        if len(digits) <= 40:  # far beyond int64; anything longer is too large without converting it
            base = {"0x": 16, "0o": 8, "0b": 2}.get(digits[:2].lower(), 10)
            try:
                value = int(digits[2:] if base != 10 else digits, base) * (-1 if text.startswith("-") else 1)
            except ValueError:
                raise _LimitExceeded(f"{text[:30]!r} is tagged as an integer but is none",
                                     "Remove the !!int tag, or write an integer", node.start_mark) from None
        if value is None or not _INT_MIN <= value <= _INT_MAX:
            shown = text if len(text) <= 30 else f"{text[:12]}...{text[-6:]} ({len(digits)} digits)"
            raise _LimitExceeded(f"the number {shown} is too large",
                                 f"Numbers are 64-bit integers (at most {_INT_MAX:,}); quote it to make it "
                                 "a string", node.start_mark)
    elif tag == _FLOAT_TAG:
        low = text.lower().lstrip("+-")
        try:
            finite = low not in (".nan", ".inf") and math.isfinite(float(text.replace("_", "")))
        except ValueError:
            raise _LimitExceeded(f"{text[:30]!r} is tagged as a number but is none",
                                 "Remove the !!float tag, or write a number", node.start_mark) from None
        if not finite:
            raise _LimitExceeded(f"{text[:30]!r} is not a finite number",
                                 "JSON has no NaN or Infinity; write a number", node.start_mark)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yaml.Composer = _BoundedComposer
    return yaml


def load_file(path: Path, display: str) -> tuple[list[Document], list[Diagnostic]]:
    """Load every document of ``path``; ``display`` is the name used in messages."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return [], [Diagnostic("error", f"file is {size:,} bytes, more than a resource file may be "
                                   f"({MAX_FILE_BYTES:,})", "Split the resources over several files",
                                   SourcePos(display, 1))]
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
    deep = _deep_flow_nesting(text)
    if deep is not None:
        return [], [Diagnostic("error", _TOO_DEEP, _TOO_DEEP_HINT, SourcePos(display, *deep))]
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
    except _LimitExceeded as exc:
        return [], [Diagnostic("error", exc.message, exc.hint, _mark_pos(display, exc.mark))]
    except DuplicateKeyError as exc:
        mark = exc.problem_mark
        key = _duplicate_key_name(exc)
        first = _first_key_line(text, exc, key)
        related = (SourcePos(display, first),) if first is not None else ()
        return [], [Diagnostic(
            "error", f"duplicate key {key!r}" if key else "duplicate key",
            "Each key may appear once in a mapping; remove or merge the repeated one",
            _mark_pos(display, mark), related=related)]
    except MarkedYAMLError as exc:
        return [], [_syntax_error(exc, text, display)]
    except YAMLError as exc:
        return [], [Diagnostic("error", f"YAML error: {exc}", None, SourcePos(display, 1))]
    except (ValueError, TypeError, KeyError) as exc:  # a tagged value ruamel cannot build (none known left)
        return [], [Diagnostic("error", f"a value cannot be read ({type(exc).__name__}: {str(exc)[:80]})",
                               "Check the explicit tags (!!...) in this file", SourcePos(display, 1))]
    return docs, []


def _mark_pos(display: str, mark: Any) -> SourcePos:
    return SourcePos(display, mark.line + 1, mark.column + 1) if mark is not None else SourcePos(display, 1)


# What ruamel says it was reading when it gave up, for a construct whose start it marks: a bracket or
# quote that is still open when the problem is noticed, usually lines later.
_OPENERS = {
    "while parsing a flow sequence": ("[", "]", "list"),
    "while parsing a flow mapping": ("{", "}", "mapping"),
    "while scanning a quoted scalar": ("", "", "string"),
}


def _syntax_error(exc: MarkedYAMLError, text: str, display: str) -> Diagnostic:
    """A syntax error that points where the problem starts: for an unclosed bracket or quote, at the
    opener (ruamel's context mark), saying where the parser noticed (its problem mark)."""
    problem = (exc.problem or exc.context or "invalid YAML").strip()
    context = (exc.context or "").strip()
    start, noticed = exc.context_mark, exc.problem_mark
    lang = "JSON" if display.endswith(".json") else "YAML"
    if start is not None and noticed is not None and context in _OPENERS:
        lines = text.splitlines()
        line = lines[start.line] if start.line < len(lines) else ""
        opener = line[start.column] if start.column < len(line) else ""
        _, closer, what = _OPENERS[context]
        if what == "string" and opener in "'\"" and opener:
            closer = opener
        unclosed = noticed.line > start.line or "end" in problem  # '<stream end>', 'end of stream'
        if opener and closer and unclosed:
            return Diagnostic(
                "error", f"{lang} syntax error: this {opener} {what} is never closed "
                f"(noticed at line {noticed.line + 1})" if what == "string" else
                f"{lang} syntax error: this '{opener}' is never closed (noticed at line {noticed.line + 1})",
                f"Close the {what} with {closer!r} where it ends (line {noticed.line + 1} says: {problem})",
                _mark_pos(display, start), related=(_mark_pos(display, noticed),))
    related: tuple[SourcePos, ...] = ()
    if start is not None and noticed is not None and start.line != noticed.line and context:
        related = (_mark_pos(display, start),)
        problem += f" ({context.removeprefix('while ')} that starts at line {start.line + 1})"
    return Diagnostic(
        "error", f"{lang} syntax error: {problem}",
        "Check commas, quotes and brackets on this line" if lang == "JSON"
        else "Check indentation, quoting and colons on this line",
        _mark_pos(display, noticed if noticed is not None else start), related=related)


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
    return int(start.line) + 1
