"""Compiles a filter tree once into a tree of closures that test one object fast (per account, hot path).

Values compare as PingIDM's own evaluator compares them (``JsonValueFilterVisitor``): a string only
with a string, a number only with a number, a boolean only with a boolean, strings case-insensitively;
``pr`` is true for any value but null, an empty list included. The one deliberate difference is SCIM's:
a path through a list (``emails/value``, ``emails.value``) collects the values of every element, so any
of them may match, where IDM's JSON pointer finds nothing. Graph push-down follows the same rules, so a
filter selects the same objects whether Graph or this evaluator applies it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from controller.filters._ast import And, Compare, Filter, Literal, Not, Or, Present, Value

__all__ = ["compile_filter", "evaluate", "filter_attributes"]

Predicate = Callable[[Mapping[str, Any]], bool]
_Test = Callable[[Any], bool]

def compile_filter(f: Filter) -> Predicate:
    """Return a predicate ``obj -> bool`` for ``f``; build it once and call it per object.

    Strings compare case-insensitively with ``str.lower`` (not casefold, which would match "Straße" to
    "strasse" where Graph does not). A missing or null attribute makes ``pr`` false, ``eq null`` true
    and every other comparison false; an empty list is a value, as in IDM (``pr`` true, ``eq null``
    false). On a list any element may match (SCIM). Values of different types never match: a number
    only compares with a number, a boolean with a boolean, a string with a string (IDM's isCompatible).
    """
    if isinstance(f, Compare):
        return _compile_compare(f)
    if isinstance(f, Present):
        return _compile_present(f.attr)
    if isinstance(f, Literal):
        return _always_true if f.value else _always_false
    if isinstance(f, Not):
        inner = compile_filter(f.item)
        return lambda obj: not inner(obj)
    if isinstance(f, And):
        return _compile_all([compile_filter(i) for i in f.items])
    if isinstance(f, Or):
        return _compile_any([compile_filter(i) for i in f.items])
    raise TypeError(f"not a filter node: {f!r}")


def evaluate(f: Filter, obj: Mapping[str, Any]) -> bool:
    """Evaluate ``f`` against one object; compile once with ``compile_filter`` when testing many."""
    return compile_filter(f)(obj)


def filter_attributes(f: Filter) -> set[str]:
    """Return every attribute path ``f`` reads (leading ``/`` removed; nested paths keep their ``/``)."""
    if isinstance(f, Compare | Present):
        return {f.attr}
    if isinstance(f, Not):
        return filter_attributes(f.item)
    if isinstance(f, And | Or):
        out: set[str] = set()
        for item in f.items:
            out |= filter_attributes(item)
        return out
    return set()


def _always_true(obj: Mapping[str, Any]) -> bool:
    return True


def _always_false(obj: Mapping[str, Any]) -> bool:
    return False


def _compile_all(preds: list[Predicate]) -> Predicate:
    if len(preds) == 2:
        a, b = preds
        return lambda obj: a(obj) and b(obj)
    if len(preds) == 3:
        a, b, c = preds
        return lambda obj: a(obj) and b(obj) and c(obj)

    # Plain loops, not all()/any() over a generator: this runs per object and per node.
    def all_of(obj: Mapping[str, Any]) -> bool:
        for p in preds:  # noqa: SIM110
            if not p(obj):
                return False
        return True

    return all_of


def _compile_any(preds: list[Predicate]) -> Predicate:
    if len(preds) == 2:
        a, b = preds
        return lambda obj: a(obj) or b(obj)
    if len(preds) == 3:
        a, b, c = preds
        return lambda obj: a(obj) or b(obj) or c(obj)

    def any_of(obj: Mapping[str, Any]) -> bool:
        for p in preds:  # noqa: SIM110
            if p(obj):
                return True
        return False

    return any_of


def _getter(attr: str) -> Callable[[Mapping[str, Any]], Any]:
    """Return a function reading ``attr``; a nested path collects values through lists (SCIM style)."""
    if "/" not in attr:
        return lambda obj: obj.get(attr)
    segments = tuple(attr.split("/"))
    # A list is kept whole only when the next segment indexes it (emails/0/value); otherwise its
    # elements are collected (emails/value) so any of them may match.
    keep_list = tuple(i + 1 < len(segments) and segments[i + 1].isdigit() for i in range(len(segments)))

    def get_path(obj: Mapping[str, Any]) -> Any:
        current: list[Any] = [obj]
        for seg, keep in zip(segments, keep_list, strict=True):
            nxt: list[Any] = []
            for value in current:
                if isinstance(value, Mapping):
                    child = value.get(seg)
                elif isinstance(value, list) and seg.isdigit() and int(seg) < len(value):
                    child = value[int(seg)]
                else:
                    continue
                if child is None:
                    continue
                if isinstance(child, list) and not keep:
                    nxt.extend(child)
                else:
                    nxt.append(child)
            if not nxt:
                return None
            current = nxt
        return current[0] if len(current) == 1 else current

    return get_path


def _compile_present(attr: str) -> Predicate:
    get = _getter(attr)

    def present(obj: Mapping[str, Any]) -> bool:
        return get(obj) is not None  # [] and "" are values (IDM: not null)

    return present


def _compile_compare(node: Compare) -> Predicate:
    get = _getter(node.attr)
    if node.value is None:
        # "eq null" is "not pr", "ne null" is "pr"; the parser allows only eq/ne with null.
        if node.op == "eq":
            return lambda obj: get(obj) is None
        return lambda obj: get(obj) is not None
    test = _scalar_test(node.op, node.value)

    def compare(obj: Mapping[str, Any]) -> bool:
        v = get(obj)
        if v is None:
            return False
        if type(v) is list:
            for item in v:  # noqa: SIM110 (a generator per object costs more than the loop)
                if item is not None and test(item):
                    return True
            return False
        return test(v)

    return compare


def _scalar_test(op: str, literal: Value) -> _Test:
    """Return a test of one non-null value against ``literal``; literal preparation happens here, once."""
    if op == "ne":
        eq = _scalar_test("eq", literal)
        return lambda v: not eq(v)
    if isinstance(literal, bool):
        return _bool_test(op, literal)
    if isinstance(literal, str):
        return _string_test(op, literal.lower())
    if literal is None:  # compiled as a presence test before; a hand-built tree gets no match
        return lambda v: False
    return _number_test(op, literal)


def _bool_test(op: str, literal: bool) -> _Test:
    if op != "eq":
        return lambda v: False
    # Only a boolean equals a boolean: "true" (a string) does not, as in IDM.
    return lambda v: v is literal


def _string_test(op: str, lit: str) -> _Test:
    # Only a string compares with a string: true (a boolean) does not contain "ru", as in IDM.
    if op == "eq":
        return lambda v: isinstance(v, str) and v.lower() == lit
    if op == "co":
        return lambda v: isinstance(v, str) and lit in v.lower()
    if op == "sw":
        return lambda v: isinstance(v, str) and v.lower().startswith(lit)
    if op == "ew":
        return lambda v: isinstance(v, str) and v.lower().endswith(lit)
    return _ordering(op, lit, lambda v: v.lower() if isinstance(v, str) else None)


def _number_test(op: str, lit: int | float) -> _Test:
    def as_number(v: Any) -> int | float | None:
        if isinstance(v, int | float) and not isinstance(v, bool):
            return v
        return None

    if op == "eq":
        def eq(v: Any) -> bool:
            n = as_number(v)
            return n is not None and n == lit
        return eq
    return _ordering(op, lit, as_number)


def _ordering(op: str, lit: Any, convert: Callable[[Any], Any]) -> _Test:
    if op == "gt":
        def gt(v: Any) -> bool:
            c = convert(v)
            return c is not None and c > lit
        return gt
    if op == "ge":
        def ge(v: Any) -> bool:
            c = convert(v)
            return c is not None and c >= lit
        return ge
    if op == "lt":
        def lt(v: Any) -> bool:
            c = convert(v)
            return c is not None and c < lit
        return lt
    if op == "le":
        def le(v: Any) -> bool:
            c = convert(v)
            return c is not None and c <= lit
        return le
    # co/sw/ew with a number: the parser refuses it, a hand-built tree matches nothing.
    return lambda v: False
