"""Property mapping: source attribute -> managed property, with defaults and declarative transforms.

A mapping's properties are compiled once per run into one function that turns a source object into a
tuple of target values (in the order of ``PropertyMap.targets``): the per-account cost is a few
dict lookups and the transforms' own work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from controller.config.models import MapTransform, PropertyMapping, SimpleTransform
from controller.config.models import Transform as TransformSpec

__all__ = ["PropertyMap", "compile_transform"]

Transform = Callable[[Any], Any]


def _lower(v: Any) -> Any:
    return v.lower() if isinstance(v, str) else v


def _upper(v: Any) -> Any:
    return v.upper() if isinstance(v, str) else v


def _trim(v: Any) -> Any:
    return v.strip() if isinstance(v, str) else v


_SIMPLE: dict[str, Transform] = {"lower": _lower, "upper": _upper, "trim": _trim}


def _map_key(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return v if isinstance(v, str) else str(v)


def _compile_one(spec: SimpleTransform | MapTransform, where: str) -> Transform:
    if isinstance(spec, MapTransform):
        table = {str(k): v for k, v in spec.map.items()}
        fallback = spec.default
        # A null source value is not in the table either: it gets the table's default, as in IDM.
        return lambda v: fallback if v is None else table.get(_map_key(v), fallback)
    try:
        return _SIMPLE[spec]
    except KeyError:
        raise ValueError(f"{where}: unknown transform {spec!r}; use lower, upper, trim or {{map: ...}}") from None


def compile_transform(spec: TransformSpec | None, where: str = "transform") -> Transform | None:
    """One function for a transform spec (a name, a ``{map, default}`` table, or a list applied in order).

    Map keys are text: a boolean is looked up as "true"/"false", a number as its decimal text; a value
    not in the table gives the table's ``default`` (None when it has none).
    """
    if spec is None:
        return None
    if isinstance(spec, list):
        steps = [_compile_one(s, f"{where}[{i}]") for i, s in enumerate(spec)]
        if not steps:
            return None
        if len(steps) == 1:
            return steps[0]

        def chain(v: Any) -> Any:
            for step in steps:
                v = step(v)
            return v

        return chain
    return _compile_one(spec, where)


class PropertyMap:
    """Compiled ``properties``: ``values(source)`` gives the target values as a tuple, in ``targets`` order.

    The transforms always run, also on a null (or absent) source value, as IDM passes null to the
    transform: ``lower``/``upper``/``trim`` return null unchanged and a ``map`` gives its table's
    ``default``. A result that is still null takes the property's ``default`` (IDM writes null when
    there is none, and so does this).
    """

    __slots__ = ("targets", "sources", "values", "_index")

    def __init__(self, properties: Sequence[PropertyMapping]) -> None:
        if not properties:
            raise ValueError("a mapping needs at least one property")
        rules: dict[str, tuple[str | None, Transform | None, Any]] = {}
        for i, prop in enumerate(properties):
            rules[prop.target] = (prop.source, compile_transform(prop.transform, f"properties[{i}].transform"),
                                  prop.default)
        self.targets: tuple[str, ...] = tuple(rules)
        self.sources: tuple[str, ...] = tuple(dict.fromkeys(s for s, _, _ in rules.values() if s))
        self._index = {t: i for i, t in enumerate(self.targets)}
        compiled = tuple(rules.values())
        plain = all(fn is None and default is None for _, fn, default in compiled)
        if plain:
            attrs = tuple(s for s, _, _ in compiled)

            named = tuple(a for a in attrs if a)
            if len(named) == len(attrs):  # every target has a source attribute: one map in C
                def values(source: Mapping[str, Any]) -> tuple[Any, ...]:
                    return tuple(map(source.get, named))
            else:
                def values(source: Mapping[str, Any]) -> tuple[Any, ...]:
                    get = source.get
                    return tuple([get(a) if a else None for a in attrs])
        else:
            def values(source: Mapping[str, Any]) -> tuple[Any, ...]:
                get = source.get
                out = []
                for attr, fn, default in compiled:
                    v = get(attr) if attr else None
                    if fn is not None:
                        v = fn(v)
                    out.append(default if v is None else v)
                return tuple(out)
        self.values: Callable[[Mapping[str, Any]], tuple[Any, ...]] = values

    def index(self, target: str) -> int:
        """Position of ``target`` in the values tuple; raises KeyError when it is not mapped."""
        return self._index[target]

    def to_props(self, values: Sequence[Any]) -> dict[str, Any]:
        return dict(zip(self.targets, values, strict=True))
