"""A mapping compiled once per run: properties, correlation, scope and validity filters, policy, safety.

Built from the mapping's spec as applied (its model), so that per-account code never touches a
pydantic object. ``select_hash`` fingerprints what a delta link depends on: the
selected attributes and the source filter; when it changes, the next run must be full.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from controller.config.models import MappingSpec, window_seconds
from controller.errors import ConfigError, FilterSyntaxError, ReconError
from controller.filters import Filter, compile_filter, filter_attributes, parse_filter, to_graph
from controller.recon._correlation import Correlation
from controller.recon._policy import SituationPolicy
from controller.recon._properties import PropertyMap

__all__ = ["CompiledMapping", "Safety", "compile_mapping"]

Predicate = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True, slots=True)
class Safety:
    """The guard's limits (``spec.safety``, whose model holds the defaults); None means no limit of that kind."""

    max_deletes: int | None
    max_delete_percent: float | None
    allow_empty_source: bool
    window: str | None = None  # the limits hold over all runs within this window too ("24h")
    window_seconds: float | None = None


@dataclass(frozen=True)
class CompiledMapping:
    """Everything a run needs from a mapping, compiled for the per-account hot path."""

    name: str
    connector: str
    target: str
    properties: PropertyMap
    correlation: Correlation | None
    source_filter: str | None  # canonical filter text
    scope: Predicate | None  # the whole source filter, evaluated locally
    listing_scope: Predicate | None  # the part Graph cannot evaluate, for /users listings
    pushdown: str | None
    valid: Predicate | None
    target_scope: str
    policy: SituationPolicy
    safety: Safety
    select: tuple[str, ...]
    select_hash: str
    renamed_from: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "mapping": self.name, "connector": self.connector, "target": self.target,
            "select": list(self.select), "sourceFilter": self.source_filter, "pushdown": self.pushdown,
            "correlation": self.correlation.describe() if self.correlation else None,
            "targetScope": self.target_scope, "policies": self.policy.table(),
        }


def _filter(text: str | None, name: str, field: str) -> tuple[Filter | None, Predicate | None]:
    if text is None or not text.strip():
        return None, None
    try:
        parsed = parse_filter(text)
    except FilterSyntaxError as exc:
        raise ReconError(f"mapping {name!r}: spec.{field} does not parse: {exc}",
                         hint="Fix it, run `idmctl validate`, then plan and apply") from exc
    return parsed, compile_filter(parsed)


def compile_mapping(name: str, spec: MappingSpec) -> CompiledMapping:
    """Compile a mapping's spec; raises ``ReconError`` when it cannot run as given."""
    try:
        properties = PropertyMap(spec.properties)
        correlation = Correlation.from_spec(spec.correlation, properties)
        policy = SituationPolicy.from_spec(spec.policies)
    except (ValueError, ConfigError) as exc:
        raise ReconError(f"mapping {name!r}: {exc}", hint="Fix the mapping, validate, plan and apply") from exc
    if spec.target != "managed/alpha_user":
        raise ReconError(f"mapping {name!r}: target {spec.target!r} is not supported",
                         hint="Reconciliation writes managed/alpha_user")
    scope_tree, scope = _filter(spec.sourceFilter, name, "sourceFilter")
    valid_tree, valid = _filter(spec.validSource, name, "validSource")
    pushdown = None
    listing_scope = scope
    if scope_tree is not None:
        plan = to_graph(scope_tree)
        pushdown = plan.pushdown
        listing_scope = compile_filter(plan.local) if plan.local is not None else None
    select: set[str] = set(properties.sources)
    for tree in (scope_tree, valid_tree):
        if tree is not None:
            select |= {a.split("/", 1)[0] for a in filter_attributes(tree)}
    select.discard("id")
    ordered = tuple(sorted(select))
    source_filter = str(scope_tree) if scope_tree is not None else None
    digest = hashlib.sha256(json.dumps({"select": ordered, "filter": source_filter},
                                       sort_keys=True).encode()).hexdigest()
    safety = Safety(max_deletes=spec.safety.maxDeletes, max_delete_percent=spec.safety.maxDeletePercent,
                    allow_empty_source=spec.safety.allowEmptySource, window=spec.safety.window,
                    window_seconds=window_seconds(spec.safety.window))
    return CompiledMapping(
        name=name, connector=spec.source.connector, target=spec.target, properties=properties,
        correlation=correlation, source_filter=source_filter, scope=scope, listing_scope=listing_scope,
        pushdown=pushdown, valid=valid, target_scope=spec.targetScope, policy=policy,
        safety=safety, select=ordered, select_hash=f"sha256:{digest[:32]}", renamed_from=spec.renamedFrom,
    )
