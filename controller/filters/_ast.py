"""The filter syntax tree: small frozen nodes whose ``str()`` is canonical, re-parseable filter text."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, TypeAlias

__all__ = [
    "And",
    "Compare",
    "Filter",
    "Literal",
    "Not",
    "OPERATORS",
    "Or",
    "Present",
    "Value",
    "render_value",
]

Value: TypeAlias = str | int | float | bool | None

#: Every comparison operator, in the order error messages list them.
OPERATORS: tuple[str, ...] = ("eq", "ne", "co", "sw", "ew", "pr", "gt", "ge", "lt", "le")


def render_value(value: Value) -> str:
    """Return ``value`` as filter-language literal text (strings double-quoted, ``\\`` and ``"`` escaped)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"a filter number must be finite, not {value!r}")
    return repr(value)


@dataclass(frozen=True, slots=True)
class Compare:
    """``attr op value``: one comparison of an attribute path (without leading ``/``) to a literal."""

    attr: str
    op: str
    value: Value

    def __str__(self) -> str:
        return f"{self.attr} {self.op} {render_value(self.value)}"


@dataclass(frozen=True, slots=True)
class Present:
    """``attr pr``: the attribute has a non-null, non-empty value."""

    attr: str

    def __str__(self) -> str:
        return f"{self.attr} pr"


@dataclass(frozen=True, slots=True)
class Literal:
    """The bare filters ``true`` (match everything) and ``false`` (match nothing), as in IDM."""

    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclass(frozen=True, slots=True)
class Not:
    """``not (item)``."""

    item: Filter

    def __str__(self) -> str:
        return f"not {_wrap(self.item, _PREC_NOT)}"


@dataclass(frozen=True, slots=True)
class _Junction:
    """The shape And and Or share: a flat tuple of filters joined by one keyword."""

    items: tuple[Filter, ...]

    _keyword: ClassVar[str] = ""
    _precedence: ClassVar[int] = 0

    def __str__(self) -> str:
        return f" {self._keyword} ".join(_wrap(i, self._precedence) for i in self.items)


@dataclass(frozen=True, slots=True)
class And(_Junction):
    """``a and b and ...``; the parser flattens nested ands, so ``items`` has two or more entries."""

    _keyword: ClassVar[str] = "and"
    _precedence: ClassVar[int] = 2


@dataclass(frozen=True, slots=True)
class Or(_Junction):
    """``a or b or ...``; the parser flattens nested ors, so ``items`` has two or more entries."""

    _keyword: ClassVar[str] = "or"
    _precedence: ClassVar[int] = 1


Filter: TypeAlias = Compare | Present | Literal | Not | And | Or

_PREC_NOT = 3


def _precedence(node: Filter) -> int:
    return node._precedence if isinstance(node, _Junction) else _PREC_NOT + 1


def _wrap(node: Filter, context: int) -> str:
    # Parentheses where precedence needs them, and around everything under "not" but true/false, so
    # "not (mail pr)" cannot be misread as "(not mail) pr".
    text = str(node)
    if _precedence(node) <= context:
        return f"({text})"
    if context == _PREC_NOT and not isinstance(node, Literal):
        return f"({text})"
    return text
