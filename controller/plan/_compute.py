"""Computing a plan: desired vs applied canonical resources, per attribute (deepdiff), with secrets masked.

Pure: no I/O, no clock, no logging. Identity-forming fields (``REPLACE_ON``) turn an update into a
replacement; consequences a reviewer must see become ``PlanWarning``s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from deepdiff import DeepDiff

from controller.plan._model import AttributeDiff, ChangeAction, NativeChange, Plan, PlanChange, PlanWarning
from controller.plan._sensitive import is_sensitive, secret_refs

__all__ = ["REPLACE_ON", "apply_changes", "compute_plan", "native_change", "pointer", "resolve_pointer"]

_KIND_ORDER = ("Environment", "Connector", "Application", "Mapping", "Schedule")

# Fields whose change makes a resource a different thing, so it is replaced (destroyed and created)
# rather than updated. A Connector's ``type`` is another implementation; a Mapping's ``target`` and
# ``source.objectType`` are other objects, so its links and delta state cannot carry over; a
# Schedule's ``mapping`` is another job, so its fire times and pause do not carry over either.
REPLACE_ON: dict[str, tuple[str, ...]] = {
    "Connector": ("/spec/type",),
    "Mapping": ("/spec/target", "/spec/source/objectType"),
    "Schedule": ("/spec/mapping",),
}

_MISSING = object()


def pointer(parts: Iterable[str | int]) -> str:
    """RFC 6901 JSON pointer for a path given as keys and indices."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def resolve_pointer(doc: Any, ptr: str) -> Any:
    """The value at ``ptr`` in ``doc``; raises KeyError/IndexError when it is not there."""
    node = doc
    for token in ptr.split("/")[1:] if ptr else []:
        key = _unescape(token)
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node


def _lookup(doc: Any, parts: list[Any]) -> Any:
    node = doc
    for part in parts:
        present = (part in node if isinstance(node, dict)
                   else isinstance(part, int) and 0 <= part < len(node) if isinstance(node, list) else False)
        if not present:
            return _MISSING
        node = node[part]
    return node


def _carry_unchecked(desired: Any, applied: Any) -> Any:
    """Desired with each unchecked secret (no fingerprint here) taking the applied fingerprint.

    A secret that cannot be read where the plan runs is assumed unchanged: it never counts as a
    change by itself, and apply never replaces a known fingerprint with an unknown one.
    """
    if is_sensitive(desired):
        if (desired.get("fingerprint") is None and is_sensitive(applied)
                and applied.get("secret") == desired.get("secret")):
            return applied
        return desired
    if isinstance(desired, dict) and isinstance(applied, dict):
        return {k: _carry_unchecked(v, applied.get(k, _MISSING)) for k, v in desired.items()}
    if isinstance(desired, list) and isinstance(applied, list):
        return [_carry_unchecked(v, applied[i] if i < len(applied) else _MISSING)
                for i, v in enumerate(desired)]
    return desired


def _sensitive_prefix(before: Any, after: Any, parts: list[Any]) -> list[Any] | None:
    for end in range(len(parts) + 1):
        prefix = parts[:end]
        if is_sensitive(_lookup(before, prefix)) or is_sensitive(_lookup(after, prefix)):
            return prefix
    return None


def _attribute_diffs(kind: str, before: dict[str, Any], after: dict[str, Any]) -> tuple[AttributeDiff, ...]:
    tree = DeepDiff(before, after, view="tree", verbose_level=2)
    found: list[tuple[str, list[Any], list[Any]]] = []  # (change, path in before, path in after)
    for report, levels in tree.items():
        for level in levels:
            p1 = level.path(output_format="list")
            p2 = level.path(output_format="list", use_t2=True)
            if report in ("dictionary_item_added", "iterable_item_added"):
                found.append(("added", p2, p2))
            elif report in ("dictionary_item_removed", "iterable_item_removed"):
                found.append(("removed", p1, p1))
            elif p1 == p2:
                found.append(("changed", p1, p2))
            else:  # a list element that moved: say it as a removal and an addition
                found.append(("removed", p1, p1))
                found.append(("added", p2, p2))
    identity = REPLACE_ON.get(kind, ())
    diffs: dict[tuple[str, str], AttributeDiff] = {}
    for change, p1, p2 in found:
        secret_at = _sensitive_prefix(before, after, p1 if change == "removed" else p2)
        if secret_at is not None:
            p1 = p2 = secret_at
            b, a = _lookup(before, p1), _lookup(after, p2)
            change = "added" if b is _MISSING else "removed" if a is _MISSING else "changed"
        else:
            b, a = _lookup(before, p1), _lookup(after, p2)
        path = pointer(p1 if change == "removed" else p2)
        checked = not (is_sensitive(a) and a.get("fingerprint") is None)
        forces = any(path == f or path.startswith(f + "/") for f in identity)
        diffs[(path, change)] = AttributeDiff(
            path=path, change=change,
            before=None if change == "added" else b, after=None if change == "removed" else a,
            sensitive=secret_at is not None, checked=checked, forces_replacement=forces)
    return tuple(sorted(diffs.values(), key=lambda d: (d.path, d.change)))


def _sort_key(address: str, doc: Mapping[str, Any]) -> tuple[int, str]:
    kind = doc.get("kind", address.split(".", 1)[0])
    return (_KIND_ORDER.index(kind) if kind in _KIND_ORDER else len(_KIND_ORDER), address)


def _change(address: str, before: dict[str, Any] | None, desired: dict[str, Any] | None) -> PlanChange:
    doc = desired if desired is not None else before
    assert doc is not None
    kind, name = doc["kind"], doc["name"]
    if before is None:
        assert desired is not None
        diffs = _attribute_diffs(kind, {}, desired)
        return PlanChange(address, kind, name, ChangeAction.CREATE, None, desired, diffs)
    if desired is None:
        diffs = _attribute_diffs(kind, before, {})
        return PlanChange(address, kind, name, ChangeAction.DELETE, before, None, diffs)
    after = _carry_unchecked(desired, before)
    diffs = _attribute_diffs(kind, before, after)
    if not diffs:
        return PlanChange(address, kind, name, ChangeAction.NOOP, before, after)
    action = ChangeAction.REPLACE if any(d.forces_replacement for d in diffs) else ChangeAction.UPDATE
    return PlanChange(address, kind, name, action, before, after, diffs)


def compute_plan(
    desired: Mapping[str, dict[str, Any]],
    applied: Mapping[str, dict[str, Any]],
    *,
    applied_serial: int = 0,
    applied_lineage: str | None = None,
    desired_hash: str = "",
    environment: str = "",
) -> Plan:
    """The plan that takes ``applied`` to ``desired`` (both ``{address: canonical resource}``)."""
    addresses = set(desired) | set(applied)
    docs = {a: desired.get(a) or applied[a] for a in addresses}
    changes = tuple(
        _change(a, applied.get(a), desired.get(a))
        for a in sorted(addresses, key=lambda a: _sort_key(a, docs[a]))
    )
    unchecked = sorted({ref["secret"] for doc in desired.values() for ref in secret_refs(doc)
                        if ref.get("fingerprint") is None})
    return Plan(
        environment=environment,
        changes=changes,
        warnings=tuple(_warnings(changes)),
        applied_serial=applied_serial,
        applied_lineage=applied_lineage,
        desired_hash=desired_hash,
        unchecked_secrets=tuple(unchecked),
    )


def native_change(native_id: str, kind: str, address: str, before: dict[str, Any] | None,
                  after: dict[str, Any] | None, *, restart_required: bool = False) -> NativeChange | None:
    """The change that takes the native object ``before`` to ``after`` (None: absent); None when equal.

    A secret reference in ``after`` without a fingerprint (not available here) takes ``before``'s.
    """
    if before is None and after is None:
        return None
    if before is None:
        assert after is not None
        action, diffs = ChangeAction.CREATE, _attribute_diffs("", {}, after)
    elif after is None:
        action, diffs = ChangeAction.DELETE, _attribute_diffs("", before, {})
    else:
        after = _carry_unchecked(after, before)
        diffs = _attribute_diffs("", before, after)
        if not diffs:
            return None
        action = ChangeAction.UPDATE
    sensitive = any(True for _ in secret_refs(after)) or any(True for _ in secret_refs(before))
    return NativeChange(native_id, kind, address, action, before, after, diffs, restart_required, sensitive)


def apply_changes(applied: Mapping[str, dict[str, Any]], plan: Plan) -> dict[str, dict[str, Any]]:
    """The state after applying ``plan`` to ``applied`` (what ``apply`` writes, as a pure function)."""
    result = dict(applied)
    for change in plan.changes:
        if change.after is None:
            result.pop(change.address, None)
        else:
            result[change.address] = change.after
    return result


# --- warnings ----------------------------------------------------------------------------------------


def _selected(mapping: Mapping[str, Any] | None) -> set[str]:
    """Source attributes a mapping reads (its property sources)."""
    properties = _spec(mapping, "properties")
    if not isinstance(properties, list):
        return set()
    return {p["source"] for p in properties if isinstance(p, dict) and isinstance(p.get("source"), str)}


def _spec(doc: Mapping[str, Any] | None, *path: str) -> Any:
    node: Any = (doc or {}).get("spec")
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _full_run_reasons(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    reasons: list[str] = []
    old, new = _selected(before), _selected(after)
    if old != new:
        parts = [f"+{a}" for a in sorted(new - old)] + [f"-{a}" for a in sorted(old - new)]
        reasons.append(f"its selected source attributes changed ({', '.join(parts)})")
    for field, label in (("sourceFilter", "source filter"), ("validSource", "validSource filter")):
        if _spec(before, field) != _spec(after, field):
            reasons.append(f"its {label} changed")
    if _spec(before, "source", "connector") != _spec(after, "source", "connector"):
        reasons.append("its source connector changed")
    return reasons


def _mapping_warnings(changes: tuple[PlanChange, ...]) -> Iterable[PlanWarning]:
    by_action: dict[str, PlanChange] = {c.name: c for c in changes if c.kind == "Mapping"}
    carried_by = {
        _spec(c.after, "renamedFrom"): c.address
        for c in by_action.values()
        if isinstance(_spec(c.after, "renamedFrom"), str)
    }
    schedules_before = [c for c in changes if c.kind == "Schedule" and c.before is not None]
    for name, c in by_action.items():
        if c.action is ChangeAction.UPDATE:
            reasons = _full_run_reasons(c.before or {}, c.after or {})
            if reasons:
                yield PlanWarning(c.address, "full-run",
                                  f"the next run of {c.address} will be full, not incremental: "
                                  + "; ".join(reasons))
        elif c.action is ChangeAction.REPLACE:
            yield PlanWarning(c.address, "links-dropped",
                              f"replacing {c.address} drops its links and delta state (its target or "
                              "source objectType changed): its next run starts from nothing")
        elif c.action is ChangeAction.DELETE:
            if name in carried_by:
                yield PlanWarning(c.address, "links-carried",
                                  f"the links and delta state of {c.address} carry over to "
                                  f"{carried_by[name]} (renamedFrom: {name})", severity="info")
                continue
            users = [s.address for s in schedules_before if _spec(s.before, "mapping") == name]
            also = f"; {', '.join(users)} ran it" if users else ""
            yield PlanWarning(c.address, "links-dropped",
                              f"destroying {c.address} drops its links and delta state{also}. If it is "
                              f"being renamed, set `renamedFrom: {name}` in the new mapping to keep them")
        elif c.action is ChangeAction.CREATE and isinstance(_spec(c.after, "renamedFrom"), str):
            old = _spec(c.after, "renamedFrom")
            gone = by_action.get(old)
            if gone is None or gone.action is not ChangeAction.DELETE:
                yield PlanWarning(c.address, "rename-source-missing",
                                  f"{c.address} has renamedFrom: {old}, but this plan does not destroy an "
                                  f"applied Mapping.{old}: there is nothing to carry over")


def _schedule_warnings(changes: tuple[PlanChange, ...]) -> Iterable[PlanWarning]:
    mappings_after = {c.name for c in changes if c.kind == "Mapping" and c.after is not None}
    replaced = {c.name for c in changes if c.kind == "Mapping" and c.action is ChangeAction.REPLACE}
    for c in changes:
        if c.kind != "Schedule" or c.after is None:
            continue
        mapping = _spec(c.after, "mapping")
        if not isinstance(mapping, str):
            continue
        if mapping not in mappings_after:
            yield PlanWarning(c.address, "schedule-orphaned",
                              f"{c.address} runs Mapping.{mapping}, which will not exist after this apply: "
                              "its runs will fail until the schedule is changed or removed")
        elif mapping in replaced:
            yield PlanWarning(c.address, "full-run",
                              f"{c.address} runs Mapping.{mapping}, which is replaced: its next run is full")


_WARNERS: tuple[Callable[[tuple[PlanChange, ...]], Iterable[PlanWarning]], ...] = (
    _mapping_warnings,
    _schedule_warnings,
)


def _warnings(changes: tuple[PlanChange, ...]) -> list[PlanWarning]:
    return [w for warner in _WARNERS for w in warner(changes)]
