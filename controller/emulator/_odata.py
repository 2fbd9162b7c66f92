"""OData query options for the emulated ``/users`` collection: ``$filter``, ``$search``, ``$orderby``.

A small recursive-descent parser produces a tuple tree; ``check_filter`` decides, as Graph does,
which clauses work by default and which are advanced queries needing ``ConsistencyLevel: eventual``
plus ``$count=true``; ``compile_filter`` turns the tree into a predicate over stored user dicts.
String comparisons are case-insensitive, like Entra's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from controller.emulator._properties import COLLECTION_PROPERTIES, canonical_name
from controller.errors import EmulatorHTTPError

__all__ = [
    "Node",
    "Predicate",
    "advanced_hint",
    "check_filter",
    "compile_filter",
    "compile_search",
    "equality_keys",
    "parse_filter",
    "parse_orderby",
]

Node = tuple[Any, ...]
Predicate = Callable[[Mapping[str, Any]], bool]

_ADVANCED_HINT = (
    "Try adding $count=true query parameter and ConsistencyLevel:eventual header. "
    "Refer to https://aka.ms/graph-docs/advanced-queries for more information"
)

# What Graph's user $filter accepts without advanced query parameters (user resource docs).
_DEFAULT_EQ = frozenset(
    {"id", "userPrincipalName", "mail", "displayName", "givenName", "surname", "jobTitle",
     "accountEnabled", "employeeId", "employeeType", "department", "companyName", "userType",
     "mailNickname", "preferredLanguage", "officeLocation", "mobilePhone", "usageLocation", "city",
     "state", "country", "postalCode", "streetAddress", "creationType", "externalUserState",
     "onPremisesImmutableId", "onPremisesSamAccountName", "onPremisesSyncEnabled", "ageGroup",
     "showInAddressList", "createdDateTime", "employeeHireDate", "faxNumber",
     "onPremisesUserPrincipalName", "securityIdentifier"}
)
_DEFAULT_STARTSWITH = frozenset(
    {"userPrincipalName", "mail", "displayName", "givenName", "surname", "jobTitle", "employeeId",
     "department", "companyName", "mailNickname", "officeLocation", "mobilePhone", "usageLocation",
     "city", "state", "country", "postalCode", "streetAddress", "employeeType", "faxNumber",
     "onPremisesSamAccountName", "onPremisesUserPrincipalName"}
)
_DEFAULT_RANGE = frozenset({"createdDateTime", "employeeHireDate"})
_ANY_PROPERTIES = frozenset({"businessPhones", "otherMails", "proxyAddresses", "imAddresses"})

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^']|'')*')
      | (?P<dt>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)
      | (?P<num>-?\d+(?:\.\d+)?)
      | (?P<name>[A-Za-z_][A-Za-z0-9_./]*)
      | (?P<punct>[(),:])
    )""",
    re.VERBOSE,
)
_COMPARISONS = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})


def _bad(message: str) -> EmulatorHTTPError:
    return EmulatorHTTPError(400, "BadRequest", f"Invalid filter clause: {message}")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, Any, int]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise _bad(f"Syntax error at position {pos} in '{text}'.")
            kind = m.lastgroup or ""
            raw = m.group(kind)
            value: Any = raw
            if kind == "str":
                value = raw[1:-1].replace("''", "'")
            elif kind == "num":
                value = float(raw) if "." in raw else int(raw)
            self.tokens.append((kind, value, m.start(kind)))
            pos = m.end()
        self.i = 0

    def peek(self) -> tuple[str, Any, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, Any, int]:
        tok = self.peek()
        if tok is None:
            raise _bad(f"Syntax error at position {len(self.text)} in '{self.text}'.")
        self.i += 1
        return tok

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        if tok and tok[0] == "name" and str(tok[1]).lower() == word:
            self.i += 1
            return True
        return False

    def expect(self, punct: str) -> None:
        tok = self.take()
        if tok[0] != "punct" or tok[1] != punct:
            raise _bad(f"Syntax error: expected '{punct}' at position {tok[2]} in '{self.text}'.")

    def parse(self) -> Node:
        node = self.or_expr()
        left_over = self.peek()
        if left_over is not None:
            raise _bad(f"Syntax error at position {left_over[2]} in '{self.text}'.")
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.keyword("or"):
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else ("or", items)

    def and_expr(self) -> Node:
        items = [self.unary()]
        while self.keyword("and"):
            items.append(self.unary())
        return items[0] if len(items) == 1 else ("and", items)

    def unary(self) -> Node:
        if self.keyword("not"):
            return ("not", self.unary())
        tok = self.peek()
        if tok and tok[0] == "punct" and tok[1] == "(":
            self.take()
            node = self.or_expr()
            self.expect(")")
            return node
        return self.clause(lambda_var=None)

    def literal(self) -> Any:
        kind, value, pos = self.take()
        if kind in ("str", "num", "dt"):
            return value
        if kind == "name":
            low = str(value).lower()
            if low in ("true", "false"):
                return low == "true"
            if low == "null":
                return None
        raise _bad(f"Syntax error: expected a literal at position {pos} in '{self.text}'.")

    def property(self, lambda_var: str | None) -> str:
        kind, value, pos = self.take()
        if kind != "name":
            raise _bad(f"Syntax error: expected a property at position {pos} in '{self.text}'.")
        if lambda_var is not None and value == lambda_var:
            return "$it"
        name = canonical_name(str(value))
        if name is None:
            raise EmulatorHTTPError(
                400, "Request_BadRequest",
                f"Could not find a property named '{value}' on type 'microsoft.graph.user'.",
            )
        return name

    def clause(self, lambda_var: str | None) -> Node:
        tok = self.peek()
        if tok and tok[0] == "name":
            nxt = self.tokens[self.i + 1] if self.i + 1 < len(self.tokens) else None
            if nxt and nxt[0] == "punct" and nxt[1] == "(":
                func = str(tok[1]).lower()
                if "/" in str(tok[1]) and func.endswith("/any"):
                    return self.any_clause(str(tok[1])[: -len("/any")])
                self.i += 2
                prop = self.property(lambda_var)
                self.expect(",")
                value = self.literal()
                self.expect(")")
                if func not in ("startswith", "endswith"):
                    raise EmulatorHTTPError(400, "Request_UnsupportedQuery", "Unsupported Query.")
                return ("func", func, prop, value)
        prop = self.property(lambda_var)
        op_tok = self.take()
        op = str(op_tok[1]).lower() if op_tok[0] == "name" else ""
        if op == "in":
            self.expect("(")
            values = [self.literal()]
            while (t := self.peek()) and t[0] == "punct" and t[1] == ",":
                self.take()
                values.append(self.literal())
            self.expect(")")
            return ("in", prop, values)
        if op not in _COMPARISONS:
            raise _bad(f"Syntax error: unknown operator at position {op_tok[2]} in '{self.text}'.")
        return ("cmp", op, prop, self.literal())

    def any_clause(self, raw_prop: str) -> Node:
        self.i += 2
        name = canonical_name(raw_prop)
        if name not in _ANY_PROPERTIES:
            raise EmulatorHTTPError(400, "Request_UnsupportedQuery", "Unsupported Query.")
        kind, var, pos = self.take()
        if kind != "name":
            raise _bad(f"Syntax error at position {pos} in '{self.text}'.")
        self.expect(":")
        inner = self.clause(lambda_var=str(var))
        self.expect(")")
        return ("any", name, inner)


def parse_filter(text: str) -> Node:
    """Parse a ``$filter`` value; raises ``EmulatorHTTPError`` (400) as Graph would."""
    if not text.strip():
        raise _bad("The query specified in the URI is not valid.")
    return _Parser(text).parse()


def advanced_hint(operator: str) -> EmulatorHTTPError:
    """Graph's answer to an advanced query sent without ``ConsistencyLevel: eventual`` + ``$count``."""
    return EmulatorHTTPError(
        400, "Request_UnsupportedQuery",
        f"Operator '{operator}' is not supported because the required parameters might be missing. "
        + _ADVANCED_HINT,
    )


def check_filter(node: Node, *, advanced: bool) -> None:
    """Raise Graph's 400 for clauses that need advanced query parameters when ``advanced`` is off."""
    if advanced:
        return
    kind = node[0]
    if kind in ("and", "or"):
        for child in node[1]:
            check_filter(child, advanced=advanced)
    elif kind == "not":
        raise advanced_hint("not")
    elif kind == "any":
        check_filter(node[2], advanced=advanced)
    elif kind == "func":
        _, func, prop, _value = node
        if func == "endswith":
            raise advanced_hint("endsWith")
        if prop != "$it" and prop not in _DEFAULT_STARTSWITH:
            raise _unsupported_clause(prop)
    elif kind == "in":
        if node[1] != "$it" and node[1] not in _DEFAULT_EQ:
            raise _unsupported_clause(node[1])
    elif kind == "cmp":
        _, op, prop, value = node
        if op == "ne":
            raise advanced_hint("ne")
        if op == "eq" and value is None:
            raise advanced_hint("eq")
        if op in ("ge", "le") and prop in _DEFAULT_RANGE:
            return
        if op != "eq":
            raise advanced_hint(op)
        if prop != "$it" and prop not in _DEFAULT_EQ:
            raise _unsupported_clause(prop)


def _unsupported_clause(prop: str) -> EmulatorHTTPError:
    return EmulatorHTTPError(
        400, "Request_UnsupportedQuery",
        f"Unsupported or invalid query filter clause specified for property '{prop}' of resource 'User'.",
    )


def _norm(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        if op == "gt":
            return bool(left > right)
        if op == "ge":
            return bool(left >= right)
        if op == "lt":
            return bool(left < right)
        return bool(left <= right)
    except TypeError:
        return False


def compile_filter(node: Node) -> Predicate:
    """A predicate over stored user dicts for a parsed ``$filter``."""
    kind = node[0]
    if kind == "or":
        parts = [compile_filter(child) for child in node[1]]
        return lambda u: any(p(u) for p in parts)
    if kind == "and":
        parts = [compile_filter(child) for child in node[1]]
        return lambda u: all(p(u) for p in parts)
    if kind == "not":
        inner = compile_filter(node[1])
        return lambda u: not inner(u)
    if kind == "any":
        prop, inner_node = node[1], node[2]
        inner = compile_filter(inner_node)
        return lambda u: any(inner({"$it": item}) for item in (u.get(prop) or ()))
    if kind == "func":
        _, func, prop, value = node
        want = _norm(value)
        if not isinstance(want, str):
            return lambda u: False
        if func == "startswith":
            return lambda u: isinstance(v := u.get(prop), str) and v.lower().startswith(want)
        return lambda u: isinstance(v := u.get(prop), str) and v.lower().endswith(want)
    if kind == "in":
        prop = node[1]
        wanted = {_norm(v) for v in node[2]}
        if prop in COLLECTION_PROPERTIES:
            return lambda u: any(_norm(v) in wanted for v in (u.get(prop) or ()))
        return lambda u: _norm(u.get(prop)) in wanted
    _, op, prop, value = node
    want = _norm(value)
    if prop in COLLECTION_PROPERTIES:
        return lambda u: any(_compare(op, _norm(v), want) for v in (u.get(prop) or ()))
    return lambda u: _compare(op, _norm(u.get(prop)), want)


def upn_first_characters(node: Node) -> tuple[frozenset[str], bool] | None:
    """The first characters of userPrincipalName a filter pins down, for a bucket lookup.

    ``(chars, False)``: every match begins (ignoring case) with one of ``chars`` — a
    ``startswith(userPrincipalName, …)``, an ``or`` of them, or one inside an ``and``; ``(chars, True)``:
    every match begins with none of them — ``not`` of such an ``or`` (a partitioned read's catch-all).
    None: the filter does not say (scan).
    """
    kind = node[0]
    if kind == "func" and node[1] == "startswith" and node[2] == "userPrincipalName":
        value = node[3]
        return (frozenset({value[0].lower()}), False) if isinstance(value, str) and value else None
    if kind == "or":
        chars: set[str] = set()
        for child in node[1]:
            got = upn_first_characters(child)
            if got is None or got[1]:
                return None
            chars.update(got[0])
        return frozenset(chars), False
    if kind == "not":
        inner = upn_first_characters(node[1])
        return (inner[0], True) if inner is not None and not inner[1] else None
    if kind == "and":
        for child in node[1]:
            got = upn_first_characters(child)
            if got is not None:
                return got
    return None


def equality_keys(node: Node) -> dict[str, set[str]] | None:
    """The ``id``/``userPrincipalName``/``mail`` values a filter pins down, for an index lookup.

    Returns ``{property: {values}}`` when every match must equal one of them (a top-level ``eq``/``in``,
    possibly inside ``and``, or an ``or`` of such clauses on one property), else ``None`` (scan).
    """
    kind = node[0]
    if kind == "cmp" and node[1] == "eq" and node[2] in ("id", "userPrincipalName", "mail"):
        return {node[2]: {str(node[3]).lower()}} if isinstance(node[3], str) else None
    if kind == "in" and node[1] in ("id", "userPrincipalName", "mail"):
        return {node[1]: {str(v).lower() for v in node[2] if isinstance(v, str)}}
    if kind == "and":
        for child in node[1]:
            keys = equality_keys(child)
            if keys is not None:
                return keys
        return None
    if kind == "or":
        merged: dict[str, set[str]] = {}
        for child in node[1]:
            keys = equality_keys(child)
            if keys is None:
                return None
            for prop, values in keys.items():
                merged.setdefault(prop, set()).update(values)
        return merged
    return None


_SEARCH_CLAUSE = re.compile(r'\s*"(?P<prop>[^":]+):(?P<text>[^"]*)"\s*')
_WORD_SPLIT = re.compile(r"[^0-9a-z]+")


def compile_search(text: str) -> Predicate:
    """``$search="prop:text" [AND|OR "prop:text"]...``: word-prefix matching as Entra's search does."""
    pos, clauses, joins = 0, [], []
    raw = text.strip()
    while pos < len(raw):
        m = _SEARCH_CLAUSE.match(raw, pos)
        if not m:
            raise EmulatorHTTPError(
                400, "Request_UnsupportedQuery",
                "Unrecognized search clause: use \"property:text\" tokens joined by AND or OR.",
            )
        prop = canonical_name(m.group("prop"))
        if prop is None:
            raise EmulatorHTTPError(
                400, "Request_BadRequest",
                f"Could not find a property named '{m.group('prop')}' on type 'microsoft.graph.user'.",
            )
        clauses.append((prop, m.group("text").lower()))
        pos = m.end()
        if pos < len(raw):
            join = raw[pos:].split(None, 1)
            if not join or join[0] not in ("AND", "OR"):
                raise EmulatorHTTPError(400, "Request_UnsupportedQuery", "Syntax error in $search.")
            joins.append(join[0])
            pos = len(raw) - len(join[1]) if len(join) > 1 else len(raw)

    def clause_match(user: Mapping[str, Any], prop: str, needle: str) -> bool:
        value = user.get(prop)
        if not isinstance(value, str):
            return False
        low = value.lower()
        return low.startswith(needle) or any(w.startswith(needle) for w in _WORD_SPLIT.split(low) if w)

    def predicate(user: Mapping[str, Any]) -> bool:
        result = clause_match(user, *clauses[0])
        for join, clause in zip(joins, clauses[1:], strict=True):
            matched = clause_match(user, *clause)
            result = (result and matched) if join == "AND" else (result or matched)
        return result

    return predicate


_ORDERABLE = frozenset({"displayName", "userPrincipalName"})


def parse_orderby(text: str, *, advanced: bool) -> list[tuple[str, bool]]:
    """``$orderby=prop [asc|desc], ...`` -> [(property, descending)]; displayName/UPN by default."""
    keys: list[tuple[str, bool]] = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise EmulatorHTTPError(400, "BadRequest", f"Invalid $orderby clause: '{text}'.")
        prop = canonical_name(words[0])
        if prop is None:
            raise EmulatorHTTPError(
                400, "Request_BadRequest",
                f"Could not find a property named '{words[0]}' on type 'microsoft.graph.user'.",
            )
        if prop not in _ORDERABLE and not advanced:
            raise EmulatorHTTPError(400, "Request_UnsupportedQuery", "Sorting not supported for current query.")
        keys.append((prop, len(words) == 2 and words[1].lower() == "desc"))
    return keys
