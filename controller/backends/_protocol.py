"""The contracts every state backend implements (SQLite now, PostgreSQL next), and their value types.

Two protocols, one per concern:

* ``StateBackend`` — idmctl's own bookkeeping for one environment: the applied snapshot with serial
  and lineage, the environment lock (a lease with fencing), the audit log, the fingerprint key.
* ``Store`` — the embedded platform's data, kept in the same database: managed objects, links, runs
  and their entries, delta links, retry marks, and (``Store.schedules``) the scheduler's state.

Nothing above ``controller.backends`` knows how a backend stores things: commands, platforms and the
engine talk to these protocols and receive these frozen values. Every write transaction of a
backend and of its store is *fenced*: inside the transaction it checks that the lease it was given is
still the environment's lock, and raises ``LockLost`` (writing nothing) when it is not.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

from controller.config import RunMode, RunState

__all__ = [
    "AppliedState",
    "AuditEntry",
    "Claim",
    "Create",
    "Delete",
    "EntryRecord",
    "JsonObject",
    "Link",
    "LockLease",
    "ManagedObject",
    "PlatformObject",
    "Retry",
    "RetryMark",
    "RunClaim",
    "RunEntry",
    "RunRecord",
    "ScheduleState",
    "ScheduleStateStore",
    "StateBackend",
    "Store",
    "Update",
    "WriteBatch",
    "format_time",
    "iso_utc",
]

JsonObject = dict[str, Any]
"""A JSON document as stored: canonical resources, a managed object's properties, a run's counts."""


def format_time(ts: float) -> str:
    """A Unix time as ISO 8601 UTC with seconds (what state, audit and messages show)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def iso_utc(moment: datetime | None) -> str | None:
    """An aware datetime as sortable ISO 8601 UTC with a Z, whole seconds (None stays None)."""
    return None if moment is None else format_time(moment.timestamp())


# --- the state backend ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AppliedState:
    """What the last apply wrote: the canonical resources, and where that sits in the state's history."""

    serial: int  # 0 before the first apply; +1 for every apply that changed something
    lineage: str  # uuid fixed when the state was created: a plan from another state never applies
    resources: dict[str, JsonObject]  # address -> canonical resource (secrets as fingerprints)
    applied_at: str | None  # ISO time of the last apply, None before the first


@dataclass(frozen=True)
class AuditEntry:
    """One line of the environment's audit log."""

    id: int
    time: str  # ISO 8601 UTC
    user: str
    host: str
    action: str  # "apply", "force-unlock", "allow-deletes", ...
    serial: int  # the state serial after the action
    git_commit: str | None  # HEAD of the repository when it is one ("<sha>+dirty" with local edits)
    plan_hash: str | None  # hash of the applied plan, when the action applied one
    summary: str
    details: JsonObject = field(default_factory=dict)

    def to_dict(self) -> JsonObject:
        return {
            "id": self.id, "time": self.time, "user": self.user, "host": self.host, "action": self.action,
            "serial": self.serial, "gitCommit": self.git_commit, "planHash": self.plan_hash,
            "summary": self.summary, "details": self.details,
        }


@dataclass(frozen=True)
class LockLease:
    """A holder's lease on the environment lock; ``lost`` is set if renewal finds it gone."""

    lock_id: str
    holder: str
    pid: int
    host: str
    acquired: float  # Unix time
    expires: float  # Unix time; renewed while held
    lost: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)

    def describe(self) -> str:
        return (f"{self.holder} (pid {self.pid} on {self.host}) since {format_time(self.acquired)}, "
                f"lock id {self.lock_id}")

    def to_dict(self) -> JsonObject:
        return {
            "lockId": self.lock_id, "holder": self.holder, "pid": self.pid, "host": self.host,
            "acquired": format_time(self.acquired), "expires": format_time(self.expires),
        }


@dataclass(frozen=True)
class PlatformObject:
    """One object idmctl wrote to the platform (an AIC tenant) and the tenant confirmed, as last written.

    ``body`` is the normalised JSON idmctl wrote (server-managed fields removed), never a secret value:
    an ESV secret's body holds a keyed fingerprint of its value instead. ``digest`` is the hash of
    ``body``'s canonical JSON. Plans compare the live object with this to show drift.
    """

    id: str  # the native id: "provisioner.openicf/Entra", "esv-idmctl-entra-client-secret", ...
    kind: str  # "variable" | "secret" | "connector" | "mapping" | "application" | "schedule"
    address: str  # the idmctl resource it comes from: "Connector.entra"
    digest: str  # "sha256:..." of the canonical body
    body: JsonObject
    written_at: str  # ISO 8601 UTC

    def to_dict(self) -> JsonObject:
        return {"id": self.id, "kind": self.kind, "address": self.address, "digest": self.digest,
                "body": self.body, "writtenAt": self.written_at}


@runtime_checkable
class StateBackend(Protocol):
    """Where one environment's own bookkeeping lives. Implementations: ``SqliteBackend``, ``PostgresBackend``."""

    env: str  # the environment's name
    location: str  # where the state is, for messages ("/repo/.idmctl/dev.db"); never a password

    def exists(self) -> bool:
        """Whether the state has been initialised."""
        ...

    def init(self) -> bool:
        """Create the state; False (and nothing changed) when it already exists."""
        ...

    @property
    def fingerprint_key(self) -> bytes:
        """The HMAC key for secret fingerprints, created at init; never leaves the state."""
        ...

    def read_applied(self) -> AppliedState:
        """The applied resources with serial and lineage, read in one snapshot."""
        ...

    def write_applied(
        self,
        changes: Mapping[str, Mapping[str, Any] | None],
        *,
        expected_serial: int,
        expected_lineage: str,
        lease: LockLease,
        summary: str,
        plan_hash: str | None = None,
        git_commit: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> AppliedState:
        """Write ``changes`` (address -> canonical, None deletes) all or nothing, bump the serial, audit.

        Raises ``StalePlanError`` when serial or lineage moved, ``LockLost`` when ``lease`` is no
        longer the environment's lock.
        """
        ...

    def platform_objects(self) -> dict[str, PlatformObject]:
        """What idmctl wrote to the platform and the platform confirmed, by native id."""
        ...

    def record_platform_objects(self, changes: Mapping[str, PlatformObject | None], *, lease: LockLease) -> None:
        """Record confirmed writes (native id -> object; None: deleted) in one fenced transaction.

        Raises ``LockLost`` (recording nothing) when ``lease`` is no longer the environment's lock.
        """
        ...

    def lock(
        self,
        holder: str,
        timeout: float,
        ttl: float = 30.0,
        *,
        on_wait: Callable[[LockLease], None] | None = None,
    ) -> AbstractContextManager[LockLease]:
        """Hold the environment lock (one writer: apply, runs, the scheduler) for a ``with`` block."""
        ...

    def current_lock(self) -> LockLease | None:
        """The live lease, if any (an expired one is reported as None)."""
        ...

    def force_unlock(self, lock_id: str, *, force: bool = False) -> LockLease:
        """Remove the lease ``lock_id`` left by a dead process; audited. A holder still running on this
        host is refused (``LockHeldError``) unless ``force``: then it is fenced off instead."""
        ...

    def audit(
        self,
        action: str,
        summary: str,
        *,
        plan_hash: str | None = None,
        git_commit: str | None = None,
        details: Mapping[str, Any] | None = None,
        lease: LockLease | None = None,
    ) -> AuditEntry:
        """Append one entry to the audit log (fenced by ``lease`` when one is given)."""
        ...

    def audit_log(self, limit: int | None = None) -> list[AuditEntry]:
        """The audit log, newest first."""
        ...

    def store(self) -> Store:
        """The embedded platform's store, in the same database (opened on first use, closed with this)."""
        ...

    def close(self) -> None:
        """Release connections; the backend is not used afterwards."""
        ...


# --- the store: managed objects, links, runs ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ManagedObject:
    """One managed object: id, revision and properties."""

    id: str
    rev: int
    properties: JsonObject

    def to_dict(self) -> JsonObject:
        return {"_id": self.id, "_rev": self.rev, **self.properties}


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A stored run (``counts`` holds situations, actions and the rest as stored)."""

    id: str
    mapping: str
    mode: RunMode
    state: RunState
    counts: JsonObject
    processed: int
    failures: int
    started: str
    ended: str | None
    reason: str | None
    full_because: str | None

    def to_dict(self) -> JsonObject:
        return {
            "id": self.id, "mapping": self.mapping, "mode": str(self.mode), "state": str(self.state),
            "situations": self.counts.get("situations", {}), "actions": self.counts.get("actions", {}),
            "processed": self.processed, "failures": self.failures, "started": self.started,
            "ended": self.ended, "durationMs": self.counts.get("durationMs"), "reason": self.reason,
            "fullBecause": self.full_because,
        }


@dataclass(frozen=True, slots=True)
class RunEntry:
    """One recorded entry of a run: an object whose action changed something, failed, or asks attention."""

    seq: int
    phase: str
    source_id: str | None
    target_id: str | None
    situation: str | None
    action: str
    status: str  # SUCCESS | FAILURE
    message: str | None
    changes: JsonObject | None
    label: str | None = None  # the name people know the object by, as the dry run shows it

    def to_dict(self) -> JsonObject:
        return {"seq": self.seq, "phase": self.phase, "sourceId": self.source_id, "targetId": self.target_id,
                "situation": self.situation, "action": self.action, "status": self.status,
                "message": self.message, "changes": self.changes, "label": self.label}


class Create(NamedTuple):
    object_id: str
    properties: JsonObject


class Update(NamedTuple):
    object_id: str
    rev: int  # the new revision
    properties: JsonObject
    old: JsonObject  # the properties replaced (their index rows are removed)


class Delete(NamedTuple):
    object_id: str
    properties: JsonObject  # the properties deleted (their index rows are removed)


class Link(NamedTuple):
    source_id: str
    target_id: str


class EntryRecord(NamedTuple):
    phase: str
    source_id: str | None
    target_id: str | None
    situation: str | None
    action: str
    status: str
    message: str | None
    changes: str | None  # already JSON text: the engine encodes once, in its hot path
    label: str | None = None  # the name people know the object by (the mapped userName, the source UPN)


class Retry(NamedTuple):
    source_id: str
    reason: str  # "FAILURE" or "ASYNC <situation> <policy digest>" (controller/recon/_retry.py)


class RetryMark(NamedTuple):
    """A retry mark as the engine reads it back: how often, and how many runs of the mapping ago."""

    source_id: str
    reason: str
    attempts: int
    runs_since: int | None  # None when the run that wrote it was pruned


@dataclass(slots=True)
class WriteBatch:
    """The writes of one batch of a run, applied atomically (and fenced) by ``Store.apply``."""

    creates: list[Create] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    deletes: list[Delete] = field(default_factory=list)
    links_add: list[Link] = field(default_factory=list)
    links_remove: list[str] = field(default_factory=list)  # source ids
    entries: list[EntryRecord] = field(default_factory=list)
    retry_add: list[Retry] = field(default_factory=list)
    retry_remove: list[str] = field(default_factory=list)  # source ids

    def __len__(self) -> int:
        return (len(self.creates) + len(self.updates) + len(self.deletes) + len(self.links_add)
                + len(self.links_remove) + len(self.entries) + len(self.retry_add) + len(self.retry_remove))


Claim = Literal["claimed", "taken", "busy"]


@dataclass(frozen=True, slots=True)
class ScheduleState:
    """What the state remembers of one schedule."""

    name: str
    mapping: str
    cron: str
    time_zone: str
    next_fire: datetime | None
    last_fire: datetime | None
    last_run_id: str | None
    last_run_state: str | None
    last_run_ended: datetime | None
    last_message: str | None
    paused: bool
    paused_reason: str | None
    paused_at: datetime | None

    def to_dict(self) -> JsonObject:
        return {
            "name": self.name, "mapping": self.mapping, "cron": self.cron, "timeZone": self.time_zone,
            "nextFire": iso_utc(self.next_fire), "lastFire": iso_utc(self.last_fire),
            "lastRunId": self.last_run_id, "lastRunState": self.last_run_state,
            "lastRunEnded": iso_utc(self.last_run_ended), "lastMessage": self.last_message,
            "paused": self.paused, "pausedReason": self.paused_reason, "pausedAt": iso_utc(self.paused_at),
        }


@dataclass(frozen=True, slots=True)
class RunClaim:
    """The run in flight of one mapping, claimed by a scheduler replica."""

    mapping: str
    schedule: str
    holder: str
    pid: int
    host: str
    started: str
    expires: str


@runtime_checkable
class ScheduleStateStore(Protocol):
    """The scheduler's shared state: fire times, pauses, run claims. Replicas coordinate through it
    by compare-and-set alone (a fire belongs to the replica whose update still sees the old value)."""

    def get(self, name: str) -> ScheduleState | None: ...
    def all(self) -> dict[str, ScheduleState]: ...
    def running(self) -> dict[str, RunClaim]: ...

    def ensure(self, name: str, mapping: str, cron: str, time_zone: str, next_fire: datetime | None,
               now: datetime) -> ScheduleState:
        """The schedule's row, created with ``next_fire`` when new or when its cron, zone or mapping changed."""
        ...

    def skip(self, name: str, expected: datetime, next_fire: datetime | None, now: datetime) -> bool:
        """Move a misfired schedule on without running it; False if another replica did."""
        ...

    def claim(self, name: str, mapping: str, expected: datetime, next_fire: datetime | None,
              holder: str, now: datetime, lease_seconds: float) -> Claim:
        """Claim the fire due at ``expected`` and the mapping's run, atomically."""
        ...

    def finish(self, name: str, mapping: str, holder: str, *, run_id: str | None, state: str,
               message: str | None, now: datetime, pause_reason: str | None = None) -> None:
        """Record the run's result, pause the schedule when asked, and release the mapping's claim."""
        ...

    def resume_mapping(self, mapping: str, now: datetime | None = None) -> list[str]:
        """Unpause every schedule of ``mapping``; their names."""
        ...

    def pause(self, name: str, reason: str, now: datetime) -> bool:
        """Pause schedule ``name`` (its row made by ``ensure``); False when it has no row."""
        ...

    def resume(self, name: str, now: datetime) -> bool:
        """Unpause schedule ``name``; False when it was not paused."""
        ...


@runtime_checkable
class Store(Protocol):
    """The embedded platform's data. Reads are plain; every write is one fenced transaction."""

    schedules: ScheduleStateStore

    def fenced(self, lease: LockLease) -> AbstractContextManager[None]:
        """While inside: every write transaction first checks ``lease`` is still the lock (``LockLost``)."""
        ...

    # managed objects
    def count(self) -> int: ...
    def get(self, object_id: str) -> ManagedObject | None: ...
    def get_many(self, ids: Iterable[str]) -> dict[str, tuple[int, JsonObject]]: ...
    def existing(self, ids: Iterable[str]) -> set[str]: ...
    def iter_objects(self, batch: int = 1000) -> Iterator[ManagedObject]: ...
    def iter_ids(self) -> Iterator[str]: ...
    def create(self, properties: Mapping[str, Any], object_id: str | None = None) -> ManagedObject: ...
    def update(self, object_id: str, properties: Mapping[str, Any]) -> ManagedObject: ...
    def delete(self, object_id: str) -> ManagedObject | None: ...
    def usernames_taken(self, user_names: Iterable[str]) -> dict[str, str]: ...
    def ensure_indexed(self, props: Iterable[str]) -> list[str]: ...
    def find(self, prop: str, values: Iterable[Any]) -> dict[Any, list[str]]: ...

    # links
    def link_count(self, mapping: str) -> int: ...
    def links_for_sources(self, mapping: str, source_ids: Iterable[str]) -> dict[str, str]: ...
    def links_for_targets(self, mapping: str, target_ids: Iterable[str]) -> dict[str, str]: ...
    def linked_objects(self, mapping: str, source_ids: Iterable[str]
                       ) -> dict[str, tuple[str, tuple[int, JsonObject] | None]]:
        """``{source id: (target id, (rev, properties) or None when that object is gone)}`` of the links of
        ``mapping`` for these sources: ``links_for_sources`` and ``get_many`` of their targets in one lookup."""
        ...
    def iter_links(self, mapping: str, batch: int = 5000) -> Iterator[list[tuple[str, str]]]: ...
    def links_of_mapping(self, mapping: str) -> dict[str, str]:
        """Every link of ``mapping`` as ``{source id: target id}``, read in one pass in no particular order."""
        ...
    def links_of_object(self, object_id: str) -> list[tuple[str, str]]: ...
    def rename_mapping(self, old: str, new: str) -> int: ...

    # batched writes of a run
    def apply(self, mapping: str, run_id: str, batch: WriteBatch, seq: int) -> int: ...

    # runs
    def start_run(self, run_id: str, mapping: str, mode: RunMode, *, started: str,
                  full_because: str | None = None, holder: str | None = None) -> None: ...
    def finish_run(self, run_id: str, *, state: RunState, counts: Mapping[str, Any], processed: int,
                   failures: int, ended: str, reason: str | None = None, mode: RunMode | None = None,
                   full_because: str | None = None, delta: tuple[str, str, str] | None = None) -> None: ...
    def fail_interrupted_runs(self, mapping: str) -> list[str]: ...
    def list_runs(self, mapping: str | None = None, limit: int | None = None) -> list[RunRecord]: ...
    def get_run(self, run_id: str) -> RunRecord | None: ...
    def entries(self, run_id: str, *, situation: str | None = None, action: str | None = None,
                status: str | None = None, limit: int | None = None) -> list[RunEntry]: ...
    def prune_runs(self, *, keep: int | None = None, older_than_days: float | None = None,
                   mapping: str | None = None, dry_run: bool = False) -> list[str]:
        """Delete finished runs (and entries) beyond the newest ``keep`` or older than the age; their ids
        (``dry_run``: only the ids)."""
        ...
    def deletes_since(self, mapping: str, since: str) -> int:
        """Deletes/unlinks the guard counted in ``mapping``'s successful runs that ended at ``since`` or later."""
        ...

    # delta state and retries
    def delta_state(self, mapping: str) -> tuple[str, str] | None: ...
    def retry_queue(self, mapping: str) -> list[tuple[str, str, int]]: ...
    def retry_marks(self, mapping: str) -> list[RetryMark]: ...
    def prune_retries(self, mapping: str, keep_run: str) -> int: ...
