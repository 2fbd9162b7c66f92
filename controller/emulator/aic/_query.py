"""IDM's query filters (``_queryFilter``), parsed and evaluated in memory, and CREST paged results.

The grammar is the one IDM documents: ``true``/``false``; ``<pointer> eq|co|sw|gt|ge|lt|le <value>``;
``<pointer> pr``; ``and``, ``or``, ``!(…)`` and parentheses. A pointer is a JSON pointer (``/mail``,
``/name/given``) or a bare field name (``mail``, ``_id``); values are JSON strings in double or single
quotes, numbers, ``true``, ``false`` or ``null``. AIC refuses the word ``not`` (use ``!``), and so does
this parser. String comparisons ignore case, as AIC's directory-backed stores do; a field holding a
list matches when any of its items does.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["QueryError", "compile_filter", "paged_result", "project_fields"]

Predicate = Callable[[dict[str, Any]], bool]

_OPS = ("eq", "co", "sw", "gt", "ge", "lt", "le")
_TOKEN = re.compile(
    r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<punct>[()!])|(?P<word>[^\s()!"']+))""")


class QueryError(ValueError):
    """A filter IDM would refuse with 400 (the message says where)."""


@dataclass
class _Tok:
    kind: str  # "str", "punct" or "word"
    text: str
    pos: int


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise QueryError(f"Invalid query filter {text!r}: unexpected character at {pos}")
        kind = match.lastgroup or "word"
        out.append(_Tok(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return out


def _string(raw: str) -> str:
    body = raw[1:-1]
    if raw[0] == "'":
        body = body.replace("\\'", "'").replace('"', '\\"')
    try:
        value = json.loads(f'"{body}"')
    except ValueError:
        raise QueryError(f"Invalid string literal {raw}") from None
    return str(value)


def _literal(tok: _Tok) -> Any:
    if tok.kind == "str":
        return _string(tok.text)
    if tok.kind != "word":
        raise QueryError(f"Expected a value at {tok.pos}, found {tok.text!r}")
    lowered = tok.text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    try:
        return int(tok.text)
    except ValueError:
        pass
    try:
        return float(tok.text)
    except ValueError:
        raise QueryError(f"Invalid value {tok.text!r} at {tok.pos}: quote strings") from None


def _pointer(text: str) -> list[str]:
    if "[" in text or "]" in text:
        raise QueryError(f"Unsupported filter on {text!r}: array element filters are not supported here")
    parts = [p.replace("~1", "/").replace("~0", "~") for p in text.strip("/").split("/")]
    if not all(parts):
        raise QueryError(f"Invalid JSON pointer {text!r}")
    return parts


def _values(obj: Any, path: Sequence[str]) -> list[Any]:
    """Every value at ``path`` (lists are searched item by item)."""
    current = [obj]
    for part in path:
        nxt: list[Any] = []
        for value in current:
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, dict) and part in item:
                    nxt.append(item[part])
        current = nxt
    flat: list[Any] = []
    for value in current:
        flat.extend(value if isinstance(value, list) else [value])
    return flat


def _norm(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _compare(op: str, left: Any, right: Any) -> bool:
    a, b = _norm(left), _norm(right)
    if op == "eq":
        if isinstance(a, bool) or isinstance(b, bool):
            return a is b
        return bool(a == b)
    if op in ("co", "sw"):
        if not isinstance(a, str) or not isinstance(b, str):
            return False
        return b in a if op == "co" else a.startswith(b)
    if a is None or b is None or isinstance(a, bool) != isinstance(b, bool):
        return False
    numeric = (int, float)
    if isinstance(a, numeric) != isinstance(b, numeric) and not (isinstance(a, str) and isinstance(b, str)):
        return False
    try:
        if op == "gt":
            return bool(a > b)
        if op == "ge":
            return bool(a >= b)
        if op == "lt":
            return bool(a < b)
        return bool(a <= b)
    except TypeError:
        return False


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise QueryError(f"Invalid query filter {self.text!r}: it ends too early")
        self.i += 1
        return tok

    def word(self, tok: _Tok | None, *words: str) -> bool:
        return tok is not None and tok.kind == "word" and tok.text.lower() in words

    def parse(self) -> Predicate:
        if not self.toks:
            raise QueryError("The query filter is empty")
        pred = self.or_()
        tok = self.peek()
        if tok is not None:
            raise QueryError(f"Invalid query filter {self.text!r}: unexpected {tok.text!r} at {tok.pos}")
        return pred

    def or_(self) -> Predicate:
        preds = [self.and_()]
        while self.word(self.peek(), "or"):
            self.take()
            preds.append(self.and_())
        return preds[0] if len(preds) == 1 else (lambda o: any(p(o) for p in preds))

    def and_(self) -> Predicate:
        preds = [self.unary()]
        while self.word(self.peek(), "and"):
            self.take()
            preds.append(self.unary())
        return preds[0] if len(preds) == 1 else (lambda o: all(p(o) for p in preds))

    def unary(self) -> Predicate:
        tok = self.take()
        if tok.kind == "punct" and tok.text == "!":
            inner = self.unary()
            return lambda o: not inner(o)
        if tok.kind == "punct" and tok.text == "(":
            inner = self.or_()
            close = self.take()
            if close.text != ")":
                raise QueryError(f"Invalid query filter {self.text!r}: expected ')' at {close.pos}")
            return inner
        if self.word(tok, "not"):
            raise QueryError(f"Invalid query filter {self.text!r}: 'not' is not an operator here, use '!(...)'")
        if tok.kind != "word":
            raise QueryError(f"Invalid query filter {self.text!r}: unexpected {tok.text!r} at {tok.pos}")
        if tok.text in ("true", "false") and not self.word(self.peek(), *_OPS, "pr"):
            value = tok.text == "true"
            return lambda o: value
        path = _pointer(tok.text)
        op_tok = self.take()
        op = op_tok.text.lower()
        if op == "pr":
            return lambda o: any(v is not None for v in _values(o, path))
        if op_tok.kind != "word" or op not in _OPS:
            raise QueryError(f"Invalid query filter {self.text!r}: unknown operator {op_tok.text!r} at {op_tok.pos}")
        value = _literal(self.take())
        return lambda o: any(_compare(op, v, value) for v in _values(o, path))


def compile_filter(text: str) -> Predicate:
    """A predicate for ``text``; raises QueryError as IDM answers 400."""
    return _Parser(text).parse()


def project_fields(obj: dict[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    """``obj`` limited to ``fields`` (``_id``/``_rev`` always kept); None or ``*`` keeps everything."""
    if not fields or "*" in fields:
        return dict(obj)
    out: dict[str, Any] = {k: obj[k] for k in ("_id", "_rev") if k in obj}
    for name in fields:
        key = name.strip("/").split("/")[0]
        if key in obj:
            out[key] = obj[key]
    return out


def _cookie(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def _offset(cookie: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4)))
        offset = int(data["o"])
    except (ValueError, KeyError, TypeError):
        raise QueryError(f"Invalid _pagedResultsCookie {cookie!r}") from None
    return max(offset, 0)


def paged_result(items: Sequence[dict[str, Any]], *, page_size: int | None, cookie: str | None,
                 offset: int | None = None, exact: bool = False) -> dict[str, Any]:
    """CREST's query answer: a page of ``items`` and the cookie of the next one (null after the last)."""
    start = _offset(cookie) if cookie else (offset or 0)
    if page_size is None or page_size <= 0:
        page, nxt = list(items[start:]), None
    else:
        page = list(items[start:start + page_size])
        nxt = _cookie(start + page_size) if start + page_size < len(items) else None
    return {"result": page, "resultCount": len(page), "pagedResultsCookie": nxt,
            "totalPagedResultsPolicy": "EXACT" if exact else "NONE",
            "totalPagedResults": len(items) if exact else -1, "remainingPagedResults": -1}
