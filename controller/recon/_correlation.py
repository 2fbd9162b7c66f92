"""Correlation: which managed objects an unlinked source may be, from ``{any: [...]}`` or ``{all: [...]}``.

Target properties are compared case-insensitively with the source's mapped values for the same
properties. Lookups are batched per page (``IdentityStore.find``); this module only says which
values to look up and how to combine the hits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from controller.config.managed import index_key
from controller.config.models import Correlation as CorrelationSpec
from controller.recon._properties import PropertyMap

__all__ = ["Correlation"]


class Correlation:
    """A compiled correlation rule: ``mode`` is "any" or "all" over ``props`` (managed property names)."""

    __slots__ = ("mode", "props", "positions")

    def __init__(self, mode: str, props: Sequence[str], properties: PropertyMap) -> None:
        if mode not in ("any", "all"):
            raise ValueError(f"correlation must be {{any: [...]}} or {{all: [...]}}, not {mode!r}")
        if not props:
            raise ValueError(f"correlation.{mode} needs at least one property")
        missing = [p for p in props if p not in properties.targets]
        if missing:
            raise ValueError(
                f"correlation.{mode}: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not a mapped "
                f"target property (mapped: {', '.join(properties.targets)})")
        self.mode = mode
        self.props: tuple[str, ...] = tuple(dict.fromkeys(props))
        self.positions: tuple[int, ...] = tuple(properties.index(p) for p in self.props)

    @classmethod
    def from_spec(cls, spec: CorrelationSpec | None, properties: PropertyMap) -> Correlation | None:
        if spec is None:
            return None
        modes = [(k, v) for k, v in (("any", spec.any), ("all", spec.all)) if v]
        if len(modes) != 1:
            raise ValueError("correlation needs exactly one of any: [...] or all: [...]")
        return cls(modes[0][0], modes[0][1], properties)

    def combine(self, values: tuple[Any, ...], hits: Mapping[str, Mapping[Any, Sequence[str]]]) -> list[str]:
        """Candidate object ids for one source from the per-property hits (sorted, distinct)."""
        # A value with no key (None, a list, an object) matches nothing; it is never a dict key here.
        if self.mode == "any":
            found: set[str] = set()
            for p, i in zip(self.props, self.positions, strict=True):
                v = values[i]
                if index_key(v) is not None:
                    found.update(hits.get(p, {}).get(v, ()))
            return sorted(found)
        common: set[str] | None = None
        for p, i in zip(self.props, self.positions, strict=True):
            v = values[i]
            ids = set(hits.get(p, {}).get(v, ())) if index_key(v) is not None else set()
            common = ids if common is None else common & ids
            if not common:
                return []
        return sorted(common or ())

    def describe(self) -> dict[str, list[str]]:
        return {self.mode: list(self.props)}
