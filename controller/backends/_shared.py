"""Store logic that is the same whatever database holds the data: written once, used by every backend."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from controller.backends._protocol import RunRecord, Store, WriteBatch
from controller.config import RunState
from controller.config.managed import ALPHA_USER, duplicate_username, index_key
from controller.errors import ManagedObjectInvalid

__all__ = ["batch_collision", "by_index_key", "check_object", "hits_by_value", "runs_to_prune"]


def by_index_key(values: Iterable[Any]) -> dict[str, list[Any]]:
    """Correlation values grouped by the case-insensitive key a store looks them up by (unindexable dropped)."""
    grouped: dict[str, list[Any]] = {}
    for value in values:
        key = index_key(value)
        if key is not None:
            grouped.setdefault(key, []).append(value)
    return grouped


def hits_by_value(hits: Mapping[str, list[str]], grouped: Mapping[str, list[Any]]) -> dict[Any, list[str]]:
    """``{value: sorted object ids}`` from the ids found per key: what ``Store.find`` answers."""
    out: dict[Any, list[str]] = {}
    for key, oids in hits.items():
        for value in grouped[key]:
            out[value] = sorted(oids)
    return out


def check_object(store: Store, object_id: str, props: Mapping[str, Any]) -> None:
    """Before a person's single write: the managed schema, and userName unique regardless of case, as typed
    errors naming both objects (not the database's constraint error)."""
    problem = ALPHA_USER.schema_error(props)
    if problem:
        raise ManagedObjectInvalid(f"managed/alpha_user/{object_id}: {problem}", object_id=object_id)
    name = props["userName"]
    holder = store.usernames_taken([name]).get(name.lower())
    if holder is not None and holder != object_id:
        raise ManagedObjectInvalid(
            f"managed/alpha_user/{object_id}: {duplicate_username(name, holder)}", object_id=object_id,
            hint=f"Choose another userName, or change or delete managed/alpha_user/{holder} first "
                 f"(`idmctl identities get {holder}`)")


def runs_to_prune(runs: Iterable[RunRecord], keep: int | None, older_than_days: float | None) -> list[str]:
    """The finished runs (newest first in ``runs``) beyond the newest ``keep`` or older than the age."""
    finished = [r for r in runs if r.state is not RunState.ACTIVE]
    doomed: list[str] = []
    if keep is not None:
        doomed.extend(r.id for r in finished[keep:])
    if older_than_days is not None:
        cutoff = (datetime.now(UTC) - timedelta(days=older_than_days)).isoformat().replace("+00:00", "Z")
        doomed.extend(r.id for r in finished if r.started < cutoff)
    return list(dict.fromkeys(doomed))


def batch_collision(store: Store, mapping: str, batch: WriteBatch, detail: str) -> ManagedObjectInvalid:
    """What a rolled-back batch collided with (a concurrent writer), found by looking again now it is undone."""
    writes = [*batch.creates, *((u.object_id, u.properties) for u in batch.updates)]
    taken = store.usernames_taken(str(props.get("userName", "")) for _, props in writes)
    for oid, props in writes:
        holder = taken.get(str(props.get("userName", "")).lower())
        if holder is not None and holder != oid:
            return ManagedObjectInvalid(
                f"managed/alpha_user/{oid}: {duplicate_username(str(props['userName']), holder)}; the batch was "
                "rolled back (another writer created it meanwhile)", object_id=oid,
                hint="Run again: the next run sees that object and correlates or reports it")
    linked = store.links_for_sources(mapping, [link.source_id for link in batch.links_add])
    for link in batch.links_add:
        if link.source_id in linked and link.source_id not in batch.links_remove:
            return ManagedObjectInvalid(
                f"source {link.source_id} of mapping {mapping!r} is already linked to managed/alpha_user/"
                f"{linked[link.source_id]}; the batch was rolled back (another writer linked it meanwhile)",
                object_id=link.target_id, hint="Run again: the next run sees the link")
    return ManagedObjectInvalid(f"a write of mapping {mapping!r} broke a store constraint ({detail}); the batch "
                                "was rolled back", hint="Run again; if it persists, report it")
