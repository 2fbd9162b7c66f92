"""Splits a filter into what Microsoft Graph's default ``$filter`` on /users takes (as OData) and the rest."""

from __future__ import annotations

from dataclasses import dataclass

from controller.filters._ast import And, Compare, Filter, Literal, Not, Or, render_value

__all__ = ["GraphFilterPlan", "TypeMismatch", "to_graph"]

# A pushed part selects exactly what the local evaluator selects, and the evaluator compares as PingIDM
# does: a boolean property never equals the string "true", so `accountEnabled eq "true"` is not pushed as
# `accountEnabled eq true` (which Graph would answer); it stays local and matches nobody, and the plan
# says so (``mismatches``, shown by `idmctl validate`) instead of leaving it to be found in a run.
#
# Graph docs (concepts/aad-advanced-queries.md and its property table, resources/user.md, known issues):
# without ConsistencyLevel: eventual + $count, Graph takes eq (hence in) and startsWith on the properties
# below, combined with and / or; ne, not, endsWith and eq null need advanced queries. "in" is limited to
# 15 expressions per clause and an eq value to 120 characters. Graph compares strings case-insensitively,
# as the local evaluator does, so a pushed part selects what it selects locally. ge/le stay local: Graph's
# string collation is not documented, and a pushed part must never drop an object the filter keeps.
#
# Property -> (kind, supports startsWith) for Graph's default (non-advanced) $filter on /users.
# Multi-valued properties (businessPhones, otherMails, proxyAddresses) need any() lambdas and date-time
# properties need unquoted literals; both stay local rather than risk a different match.
_STRING, _BOOL = "string", "bool"
_DEFAULT_FILTERABLE: dict[str, tuple[str, bool]] = {
    "id": (_STRING, False),
    "userPrincipalName": (_STRING, True),
    "mail": (_STRING, True),
    "mailNickname": (_STRING, True),
    "displayName": (_STRING, True),
    "givenName": (_STRING, True),
    "surname": (_STRING, True),
    "jobTitle": (_STRING, False),
    "department": (_STRING, True),
    "employeeId": (_STRING, True),
    "city": (_STRING, True),
    "state": (_STRING, True),
    "country": (_STRING, True),
    "usageLocation": (_STRING, True),
    "userType": (_STRING, False),
    "creationType": (_STRING, False),
    "ageGroup": (_STRING, False),
    "consentProvidedForMinor": (_STRING, False),
    "onPremisesUserPrincipalName": (_STRING, True),
    "onPremisesSecurityIdentifier": (_STRING, False),
    "accountEnabled": (_BOOL, False),
    "onPremisesSyncEnabled": (_BOOL, False),
}
_MAX_EXPRESSIONS = 15
_MAX_EQ_LENGTH = 120


@dataclass(frozen=True, slots=True)
class GraphFilterPlan:
    """How a filter runs against Graph /users: ``pushdown`` ($filter text) and ``local`` (the rest).

    An object passes the whole filter exactly when Graph returns it for ``pushdown`` (or there is no
    pushdown) and it passes ``local`` (or there is no local part). ``pushed`` is the tree ``pushdown``
    was rendered from.
    """

    pushdown: str | None
    local: Filter | None
    pushed: Filter | None = None
    # Comparisons of a Graph property with a literal of another type: they never match (as in IDM).
    mismatches: tuple[TypeMismatch, ...] = ()

    def describe(self) -> str:
        """One line for ``idmctl validate``."""
        pushed = self.pushdown if self.pushdown is not None else "none"
        local = str(self.local) if self.local is not None else "none"
        return f"pushed down to Graph: {pushed}; evaluated locally: {local}"


@dataclass(frozen=True, slots=True)
class TypeMismatch:
    """``comparison`` compares a Graph property of one type with a literal of another: never a match."""

    comparison: Compare
    property_type: str  # "boolean" | "string"

    def describe(self) -> str:
        c = self.comparison
        got = "a string" if isinstance(c.value, str) else "a boolean" if isinstance(c.value, bool) else "a number"
        return (f"'{c}' compares Graph's {self.property_type} property {c.attr} with {got}; values of "
                "different types never match (as in IDM)")

    def hint(self) -> str:
        c = self.comparison
        if self.property_type == "boolean":
            if isinstance(c.value, str) and c.value.lower() in ("true", "false"):
                return f"Write {Compare(c.attr, c.op, c.value.lower() == 'true')}"
            return f"{c.attr} is true or false: write {c.attr} {c.op} true"
        return f"Quote the value: {c.attr} {c.op} {render_value(render_value(c.value))}"


def to_graph(f: Filter) -> GraphFilterPlan:
    """Split ``f`` into Graph's default-``$filter`` part (OData) and the part to evaluate locally."""
    conjuncts = f.items if isinstance(f, And) else (f,)
    pushed: list[tuple[Filter, _OData]] = []
    local: list[Filter] = []
    budget = _MAX_EXPRESSIONS
    for item in conjuncts:
        if item == Literal(True):
            continue  # "x and true" is x; nothing to push or test
        odata = _translate(item)
        if odata is not None and odata.count <= budget:
            budget -= odata.count
            pushed.append((item, odata))
        else:
            local.append(item)
    mismatches = tuple(_mismatches(f))
    if not pushed:
        return GraphFilterPlan(pushdown=None, local=_join(local), pushed=None, mismatches=mismatches)
    text = _and_text([odata for _, odata in pushed])
    return GraphFilterPlan(pushdown=text, local=_join(local), pushed=_join([node for node, _ in pushed]),
                           mismatches=mismatches)


def _mismatches(f: Filter) -> list[TypeMismatch]:
    """Every comparison in ``f`` of a typed Graph property with a literal of another type."""
    if isinstance(f, Not):
        return _mismatches(f.item)
    if isinstance(f, And | Or):
        return [m for item in f.items for m in _mismatches(item)]
    if not isinstance(f, Compare) or f.value is None or f.attr not in _DEFAULT_FILTERABLE:
        return []
    if _DEFAULT_FILTERABLE[f.attr][0] == _BOOL:
        return [] if isinstance(f.value, bool) else [TypeMismatch(f, "boolean")]
    return [] if isinstance(f.value, str) else [TypeMismatch(f, "string")]


@dataclass(frozen=True, slots=True)
class _OData:
    text: str
    count: int  # comparisons, against Graph's limit of 15 per clause
    shape: str  # "leaf", "and" or "or": what is at the top, for parentheses


def _and_text(parts: list[_OData]) -> str:
    if len(parts) == 1:
        return parts[0].text
    return " and ".join(f"({p.text})" if p.shape == "or" else p.text for p in parts)


def _join(items: list[Filter]) -> Filter | None:
    if not items:
        return None
    return items[0] if len(items) == 1 else And(tuple(items))


def _translate(f: Filter) -> _OData | None:
    """Return the OData for ``f`` when Graph's default $filter can take all of it, else None."""
    if isinstance(f, Compare):
        return _translate_compare(f)
    if isinstance(f, And):
        parts = [_translate(i) for i in f.items]
        if any(p is None for p in parts):
            return None
        present = [p for p in parts if p is not None]
        shape = "and" if len(present) > 1 or present[0].shape == "and" else present[0].shape
        return _OData(_and_text(present), sum(p.count for p in present), shape)
    if isinstance(f, Or):
        return _translate_or(f)
    # Not, Present, Literal: negation and null checks need advanced queries; literals have no OData form.
    return None


def _translate_or(f: Or) -> _OData | None:
    # eq on one property across branches becomes "prop in (...)", which Graph takes by default; each
    # group takes the place of its first branch so the text follows the filter's order.
    slots: list[str | _OData] = []  # an attribute name (an "in" group) or a translated branch
    in_values: dict[str, list[str]] = {}
    for item in f.items:
        if isinstance(item, Compare) and item.op == "eq":
            literal = _odata_literal(item)
            if literal is None:
                return None
            if item.attr not in in_values:
                in_values[item.attr] = []
                slots.append(item.attr)
            if literal not in in_values[item.attr]:
                in_values[item.attr].append(literal)
            continue
        part = _translate(item)
        if part is None:
            return None
        slots.append(part)
    texts: list[str] = []
    count = 0
    for slot in slots:
        if isinstance(slot, str):
            values = in_values[slot]
            texts.append(f"{slot} eq {values[0]}" if len(values) == 1 else f"{slot} in ({', '.join(values)})")
            count += len(values)
        else:
            # "and" binds tighter than "or" in OData too; parentheses only make the grouping plain to read.
            texts.append(f"({slot.text})" if slot.shape == "and" else slot.text)
            count += slot.count
    return _OData(" or ".join(texts), count, "or" if len(texts) > 1 else "leaf")


def _translate_compare(f: Compare) -> _OData | None:
    if f.op == "eq":
        literal = _odata_literal(f)
        return None if literal is None else _OData(f"{f.attr} eq {literal}", 1, "leaf")
    if f.op == "sw":
        spec = _DEFAULT_FILTERABLE.get(f.attr)
        if spec is None or not spec[1] or not isinstance(f.value, str) or not f.value:
            return None
        if len(f.value) > _MAX_EQ_LENGTH:
            return None
        return _OData(f"startswith({f.attr},{_quote(f.value)})", 1, "leaf")
    return None


def _odata_literal(f: Compare) -> str | None:
    """The OData literal for ``attr eq value`` when Graph matches it exactly as the local evaluator does."""
    spec = _DEFAULT_FILTERABLE.get(f.attr)
    if spec is None:
        return None
    kind = spec[0]
    value = f.value
    if kind == _BOOL:
        # Only a boolean literal: "true" (a string) never equals a boolean locally, nor in IDM.
        return ("true" if value else "false") if isinstance(value, bool) else None
    # A string property: only a non-empty string literal matches the same objects in Graph and locally
    # (a number never equals a string locally; "" and null need advanced queries).
    if isinstance(value, bool) or not isinstance(value, str) or not value or len(value) > _MAX_EQ_LENGTH:
        return None
    return _quote(value)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
