"""The reconciliation engine: reads the source, assesses IDM's situations, acts, guards deletes, records.

``reconcile`` runs one full or incremental reconciliation of a compiled mapping between a source
(the Graph connector, or anything with its four read methods) and an ``IdentityStore``.

How writes happen, and why:
- Non-destructive actions (CREATE, UPDATE, LINK) are written in batches of whole pages (a full run
  gathers pages until a batch holds ``batch_size`` source objects; each later batch may hold twice
  as many as the one before, up to ``BATCH_GROWTH`` times ``batch_size``: see ``grown_batch``), each
  batch one transaction holding its objects, links, entries and retry marks, so a killed run leaves
  no object without its link and a rerun converges. They are the writes a rerun would make anyway.
- The full run's and the delta round's pages are read ahead (up to ``READ_AHEAD_PAGES``) in a background thread
  (``ReadAhead``) while the engine assesses and writes the current one. (Batches are not committed on
  a writer thread: Python's sqlite3 releases and retakes the GIL around every row it steps, so such a
  thread and the engine hand the GIL back and forth per row; measured, it cost 10% more CPU and no
  wall time: 1,000,000 accounts in 81.3 s wall / 75.1 CPU s with it, 75.3 s / 69.1 without.)
- Destructive actions (DELETE, UNLINK) are only collected while reading. When the source is read
  and assessed, the safety guard counts them; a BLOCKED run writes none of them (and no link
  clean-up), and a run that is not blocked writes them in batches afterwards.
- The delta link is stored with the run's final record, after every batch is committed, and only
  when the run succeeded; a failed, canceled or blocked run leaves the old link in place.
- Lookups are batched per page (links, objects, correlation candidates, userNames), and decisions made
  earlier in the run are visible to later ones through small overlays, so the outcome does not depend
  on where page or batch boundaries fall. A dry run uses the same code with nothing written.
"""

from __future__ import annotations

import functools
import gc
import itertools
import operator
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import orjson

from controller.backends import (
    Create,
    Delete,
    EntryRecord,
    Link,
    Retry,
    Store,
    Update,
    WriteBatch,
    new_object_ids,
)
from controller.config.managed import ALPHA_USER, duplicate_username, index_key, index_keys
from controller.config.models import Action, RunMode, RunState, Situation
from controller.errors import DeltaExpired, IdmctlError, ReconError
from controller.recon._mapping import CompiledMapping
from controller.recon._policy import DESTRUCTIVE
from controller.recon._prefetch import ReadAhead
from controller.recon._records import RunRecorder
from controller.recon._retry import async_mark
from controller.recon._retry import due as due_retries
from controller.recon._run import PlanItem, ReconRun
from controller.recon._safety import safety_block
from controller.recon._situations import deleted_source_situation, source_situation, target_situation

__all__ = [
    "BATCH_GROWTH",
    "LINKS_IN_MEMORY",
    "RUN_GC_THRESHOLDS",
    "CancelCheck",
    "Progress",
    "Source",
    "cancel_check",
    "fewer_collections",
    "grown_batch",
    "reconcile",
]

Progress = Callable[[str, int, int | None], None]
CancelCheck = Callable[[], bool]


def _dumps(obj: Any) -> str:
    """An entry's changes as compact JSON text (anything not JSON as its ``str``)."""
    return orjson.dumps(obj, default=str).decode()


_MISS = object()
_CONFIRMED_UNCHANGED = object()  # _assess: CONFIRMED with nothing to write (the caller counts it)
_new = tuple.__new__
_new_create, _new_link = functools.partial(_new, Create), functools.partial(_new, Link)
_with_defaults, _schema_error = ALPHA_USER.with_defaults, ALPHA_USER.schema_error
_SOURCE_ID, _PROPS, _NEW_PROPS = operator.itemgetter(0), operator.itemgetter(1), operator.itemgetter(2)
_ABSENT, _CONFIRMED = str(Situation.ABSENT), str(Situation.CONFIRMED)
_CREATE, _UPDATE = str(Action.CREATE), str(Action.UPDATE)

_REMOVED_REASON = {
    "changed": "soft-deleted in Entra ID (restorable from the recycle bin)",
    "deleted": "permanently deleted in Entra ID",
    "notFound": "not found (404) when re-read by id",
}


class Source(Protocol):
    """What the engine reads: the Graph connector's read methods."""

    def iter_users(self, select: Sequence[str], pushdown: str | None = None) -> Iterator[list[dict[str, Any]]]: ...
    def get_users(self, user_ids: Iterable[str], select: Sequence[str]) -> dict[str, dict[str, Any]]: ...
    def latest_delta_link(self, select: Sequence[str], pushdown: str | None = None) -> str: ...
    def read_delta(self, delta_link: str) -> Iterator[Any]: ...


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# How much larger than ``batch_size`` the source phase's batches may grow. A batch rewrites every index
# page it touches; source ids and userNames arrive in no order, so a batch of 5,000 touches about 5,000
# leaf pages of each such index once it has more, and a run of 1,000,000 accounts in batches of 5,000
# wrote its indexes 200 times over: 31.8 CPU s and 65.6 s wall to write, against 22.7 CPU s and 26.5 s
# in batches of 50,000 (measured on this project's machine). A run starts with ``batch_size`` (so a small
# run, or a run killed early, commits as often as before) and doubles from there.
BATCH_GROWTH = 10


# A full run of a mapping with at most this many links reads them all in one pass first (about 270
# bytes each in memory: 135 MB at the bound) and answers "which object is this source linked to"
# from memory; larger mappings look each page's links up in the store. Looking 100,000 sources' links
# up page by page took 0.47-0.49 CPU s, reading all 100,000 in order 0.11-0.15 s.
LINKS_IN_MEMORY = 500_000

# Sources read back by id per call to ``Source.get_users``, with a cancel check before each call: a
# target-phase batch of 5,000 is 250 JSON batches, 50 s or more of round trips at one reader, which a
# Ctrl-C or SIGTERM (the cancel of ``idmctl reconcile`` and of a scheduled run) should not wait out.
# 640 is 32 JSON batches of 20: whole rounds of the connector's pool for 1, 2, 4, 8 or 16 readers.
PROBE_CHUNK = 640


def grown_batch(limit: int, batch_size: int) -> int:
    """The source objects the next batch gathers after one of ``limit``: twice as many, at most
    ``BATCH_GROWTH`` times ``batch_size``."""
    return min(limit * 2, batch_size * BATCH_GROWTH)


class _Cancelled(Exception):
    pass


class _Blocked(Exception):
    pass


class _GoFull(Exception):
    pass


class _Deferred:
    """A destructive decision held back until the guard decides."""

    __slots__ = ("phase", "situation", "action", "source_id", "target_id", "counted", "note")

    def __init__(self, phase: str, situation: Situation | None, action: Action, source_id: str | None,
                 target_id: str | None, counted: bool, note: str | None) -> None:
        self.phase = phase
        self.situation = situation
        self.action = action
        self.source_id = source_id
        self.target_id = target_id
        self.counted = counted
        self.note = note


class _Written:
    """Exact sets of what this run has committed to a store that was empty when the run started.

    The run holds the environment's lock, so the store holds nothing else: a source id, userName or
    correlation key not in these sets is not in the store, and the lookup is answered here without a
    query. Keys that are in a set (a source seen twice, a userName given up and taken again) are
    looked up in the store as usual, so the answer is always the store's.
    """

    __slots__ = ("sources", "names", "keys")

    def __init__(self, corr_props: Sequence[str]) -> None:
        self.sources: set[str] = set()
        self.names: set[str] = set()  # userName lowered, which is also its correlation key
        self.keys: dict[str, set[str]] = {p: self.names if p == ALPHA_USER.unique_ci else set() for p in corr_props}

    def record(self, batch: WriteBatch, names: Iterable[str]) -> None:
        """Remember the keys ``batch`` writes (before it is applied: a batch that fails adds only keys);
        ``names``: the userNames, lowered, its creates and updates give their objects."""
        self.sources.update(map(_SOURCE_ID, batch.links_add))
        self.names.update(names)
        others = [(p, keys) for p, keys in self.keys.items() if keys is not self.names]
        if others:
            for props in itertools.chain(map(_PROPS, batch.creates), map(_NEW_PROPS, batch.updates)):
                for prop, keys in others:
                    keys.update(index_keys(props.get(prop)))


class _Engine:
    """One run's working state: caches, overlays, the open batch, counters."""

    def __init__(self, store: Store, source: Source, mapping: CompiledMapping, run: ReconRun, *,
                 dry_run: bool, cancel: Callable[[], bool], progress: Progress | None) -> None:
        self.store = store
        self.source = source
        self.m = mapping
        self.run = run
        self.dry_run = dry_run
        self.cancelled = cancel
        self.progress = progress
        self.policy = mapping.policy
        self.targets = mapping.properties.targets
        self.corr_props = mapping.correlation.props if mapping.correlation is not None else ()
        self.values_of = mapping.properties.values
        # The object's values of the mapped targets, as a tuple to compare with a source's values.
        self.current_of: Callable[[Mapping[str, Any]], tuple[Any, ...]] = _getter(self.targets)
        # where userName sits in a mapped values tuple (None when the mapping does not map it)
        self.name_pos: int | None = mapping.properties.targets.index("userName") \
            if "userName" in mapping.properties.targets else None
        self.batch = WriteBatch()
        self.seq = 1
        self.deferred: list[_Deferred] = []
        self.cleanup: list[tuple[str, str]] = []
        self.handled: set[str] = set()
        self.track_handled = False  # full runs: remember targets the source phase handled
        self.links_seen = 0  # distinct stored links the source phase reached (see _unhandled_targets)
        self.links: dict[str, str] | None = None  # source id -> target id of every stored link (load_links)
        self.queued: set[str] = set()
        self.due: set[str] = set()  # the queued marks this incremental run re-reads (see _retry.due)
        self.delta_link: str | None = None  # the stored delta link an incremental run continues from
        self.empty_source = False  # a full read found nothing in scope (the guard decides with --allow-deletes)
        self.window_deletes = 0  # deletes/unlinks of this mapping's successful runs within safety.window
        self.removed_held: dict[str, _Deferred] = {}  # held-back @removed decisions of this delta round
        self.ambiguous: list[str] | None = None  # candidates of the AMBIGUOUS decision being carried out
        self.blocking = False  # dry run of a BLOCKED run: plan lines are what the guard stops
        self.uncommitted = 0  # source objects assessed since the last commit
        # A mapping with links has (had) objects: no need to count a large store to know it is not empty
        # (False only means "ask the store").
        self.store_empty = not run.linked and store.count() == 0
        self.empty_at_start = self.store_empty
        # A run into a store with no objects and no links of this mapping answers its lookups from
        # what it wrote (a dry run writes nothing, so it has nothing to remember).
        self.written = _Written(self.corr_props) if self.store_empty and not run.linked and not dry_run else None
        self._ids: list[str] = []  # new object ids made in bulk, the next one last
        # The two commonest decisions of a large run, taken without the general path's lookups when the
        # policy gives them their default action (``source_page``): a linked source whose object holds
        # its values already (CONFIRMED, UPDATE, nothing to write), and, into a store that started
        # empty, a source no lookup can match (ABSENT, CREATE).
        # The type's defaults when none of them is a mapped target (so every new object gets each one):
        # the targets followed by the defaults' names, and their values to append to a values tuple.
        self._constant_defaults: tuple[tuple[str, ...], tuple[Any, ...]] | None = None
        if not any(name in self.targets for name, _ in ALPHA_USER.defaults):
            self._constant_defaults = (self.targets + tuple(n for n, _ in ALPHA_USER.defaults),
                                       tuple(d for _, d in ALPHA_USER.defaults))
        self.confirm_unchanged = self.policy.action(Situation.CONFIRMED) is Action.UPDATE
        self.create_unseen = self.written is not None and self.policy.action(Situation.ABSENT) is Action.CREATE
        corr = mapping.correlation
        self.corr_keys: tuple[tuple[str, int], ...] = \
            tuple(zip(corr.props, corr.positions, strict=True)) if corr is not None else ()
        self._reset_caches()
        self._reset_overlays()

    # -- views: store as of the last prefetch, plus this run's uncommitted decisions -------------------

    def _reset_caches(self) -> None:
        self.c_src: dict[str, str | None] = {}
        self.c_tgt: dict[str, str | None] = {}
        self.c_obj: dict[str, tuple[int, dict[str, Any]] | None] = {}
        self.c_hits: dict[str, dict[Any, list[str]]] = {}
        self.c_names: dict[str, str] = {}
        self.c_names_known: set[str] = set()

    def _reset_overlays(self) -> None:
        self.o_src: dict[str, str | None] = {}
        self.o_tgt: dict[str, str | None] = {}
        self.o_obj: dict[str, tuple[int, dict[str, Any]] | None] = {}
        self.o_names: dict[str, str] = {}
        self.o_index: dict[tuple[str, str], set[str]] = {}

    def _stored_sources(self, sids: Sequence[str]) -> Sequence[str]:
        """The source ids that may have a stored link (all of them, unless the store started empty)."""
        w = self.written
        return sids if w is None else [s for s in sids if s in w.sources]

    def _known(self, prop: str) -> set[str] | None:
        """The keys of ``prop`` this run wrote to a store that started empty; None: ask the store."""
        w = self.written
        if w is None:
            return None
        return w.names if prop == ALPHA_USER.unique_ci else w.keys.get(prop)

    def _stored_keys(self, prop: str, keys: Iterable[str]) -> list[str]:
        """The lowered keys of ``prop`` that may be in the store."""
        known = self._known(prop)
        return list(keys) if known is None else [k for k in keys if k in known]

    def _stored_values(self, prop: str, values: Iterable[Any]) -> list[Any]:
        """The values of ``prop`` whose key may be in the store."""
        known = self._known(prop)
        return list(values) if known is None else [v for v in values if (k := index_key(v)) is not None
                                                   and k in known]

    def link_of_source(self, sid: str) -> str | None:
        if sid in self.o_src:
            return self.o_src[sid]
        try:
            return self.c_src[sid]
        except KeyError:  # not prefetched: one lookup, remembered
            stored = self._stored_sources([sid])
            tid = self.c_src[sid] = self.store.links_for_sources(self.m.name, stored).get(sid) if stored else None
            return tid

    def link_of_target(self, tid: str) -> str | None:
        if tid in self.o_tgt:
            return self.o_tgt[tid]
        try:
            return self.c_tgt[tid]
        except KeyError:
            sid = self.c_tgt[tid] = self.store.links_for_targets(self.m.name, [tid]).get(tid)
            return sid

    def obj(self, tid: str) -> tuple[int, dict[str, Any]] | None:
        if tid in self.o_obj:
            return self.o_obj[tid]
        try:
            return self.c_obj[tid]
        except KeyError:
            got = self.c_obj[tid] = self.store.get_many([tid]).get(tid)
            return got

    def name_holder(self, user_name: str) -> str | None:
        """The id of the object that holds ``user_name`` (any case) now, or None."""
        key = user_name.lower()
        candidates: list[str] = []
        if key in self.o_names:
            candidates.append(self.o_names[key])
        if key not in self.c_names_known:
            stored = self._stored_keys(ALPHA_USER.unique_ci, [key])
            if stored:
                self.c_names.update(self.store.usernames_taken(stored))
            self.c_names_known.add(key)
        if key in self.c_names:
            candidates.append(self.c_names[key])
        for oid in candidates:
            current = self.obj(oid)
            if current is not None and str(current[1].get("userName", "")).lower() == key:
                return oid
        return None

    def prefetch(self, source_ids: Sequence[str], values: Sequence[tuple[Any, ...]] | None = None,
                 user_names: Sequence[Any] = ()) -> None:
        """Fill the caches for one page: links, linked objects, correlation candidates, userNames.

        ``user_names``, when given, holds each source's mapped userName (any value; in the order of
        ``source_ids``). Only the userNames a decision can check are looked up: an unlinked source's
        (a create), and a linked one's whose object holds another userName (a rename, or a create when
        the object is gone). Any other is looked up when asked (``name_holder``), so this only saves queries.
        """
        self._reset_caches()
        store, name = self.store, self.m.name
        c_src, c_obj, c_tgt, o_src, o_obj = self.c_src, self.c_obj, self.c_tgt, self.o_src, self.o_obj
        stored_sids = self._stored_sources(source_ids)
        wanted: set[str] = set()
        if self.links is None and stored_sids:
            # The links and their objects in one lookup (a link whose object is gone has None).
            joined = store.linked_objects(name, stored_sids)
            links = {sid: tid for sid, (tid, _) in joined.items()}
            for tid, found in joined.values():
                c_obj[tid] = found
        else:  # every link in memory (a full run's), or no source that may have one
            in_memory = self.links or {}
            links = {s: t for s in stored_sids if (t := in_memory.get(s)) is not None}
            wanted.update(links.values())
        # One pass: each source's link as link_of_source answers it (this batch's overlay first), and
        # which sources are unlinked (their userNames and correlation values are looked up below).
        unlinked: list[int] = []
        for i, sid in enumerate(source_ids):
            target = c_src[sid] = links.get(sid)
            if sid in o_src:
                target = o_src[sid]
                if target is not None and target not in c_obj and target not in o_obj:  # (the overlay answers)
                    wanted.add(target)
            if target is None:
                unlinked.append(i)
        names = [n.lower() for i in unlinked if isinstance(n := user_names[i], str)] if user_names else []
        # userName lowered -> holder: one query serves both correlation on userName and the userName
        # checks of creates and renames (they are the same lookup on username_lower).
        taken: dict[str, str] | None = None
        corr = self.m.correlation
        if corr is not None and values is not None and unlinked and not (self.store_empty and not self.o_obj):
            for prop, pos in zip(corr.props, corr.positions, strict=True):
                # Only values correlation can compare (a list, say from a multi-valued source
                # attribute, has no key: it matches nothing, as in correlate()).
                vals = {v for i in unlinked if index_key(v := values[i][pos]) is not None}
                hits: dict[Any, list[str]] = {}
                if vals and not self.store_empty:
                    if prop == ALPHA_USER.unique_ci:
                        keys = {k for v in vals if (k := index_key(v)) is not None}
                        taken = self._names_taken([*names, *keys])
                        names = [*names, *keys]
                        hits = {v: [taken[k]] for v in vals if (k := index_key(v)) is not None and k in taken}
                    else:
                        stored = self._stored_values(prop, vals)
                        hits = store.find(prop, stored) if stored else {}
                self.c_hits[prop] = hits
                for ids in hits.values():
                    wanted.update(i for i in ids if i not in c_obj)
        if wanted:
            found_many = store.get_many(wanted)
            for tid in wanted:
                c_obj[tid] = found_many.get(tid)
        if wanted or links:
            # A target has at most one link per mapping, so the links just read already answer for
            # their targets; only targets reached otherwise (candidates, this run's links) are looked up.
            for sid, tid in links.items():
                c_tgt[tid] = sid
            others = [t for t in wanted if t not in c_tgt]
            tlinks = store.links_for_targets(name, others) if others else {}
            for tid in others:
                c_tgt[tid] = tlinks.get(tid)
        renamed: list[str] = []
        for sid, user_name in zip(source_ids, user_names, strict=True) if user_names else ():
            if isinstance(user_name, str):
                linked = o_src[sid] if sid in o_src else c_src[sid]
                if linked is not None:
                    low, o = user_name.lower(), self.obj(linked)
                    if o is None or str(o[1].get("userName", "")).lower() != low:
                        renamed.append(low)
        if not self.store_empty:
            if taken is not None:
                self.c_names.update(taken)
            ask = renamed if taken is not None else [*names, *renamed]
            if ask:
                self.c_names.update(self._names_taken(ask))
        self.c_names_known.update(names)
        self.c_names_known.update(renamed)

    def load_links(self) -> None:
        """Read every link of the mapping into ``links`` (a full run; at most ``LINKS_IN_MEMORY``).

        From then on ``commit`` keeps it in step with what each batch writes (the run holds the lock:
        nothing else changes the links), so it answers as the store would.
        """
        self.links = self.store.links_of_mapping(self.m.name)

    def _names_taken(self, keys: Sequence[str]) -> dict[str, str]:
        stored = self._stored_keys(ALPHA_USER.unique_ci, keys)
        return self.store.usernames_taken(stored) if stored else {}

    def correlate(self, values: tuple[Any, ...]) -> list[str] | None:
        corr = self.m.correlation
        if corr is None:
            return None
        hits: dict[str, dict[Any, list[str]]] = {}
        c_hits, o_index = self.c_hits, self.o_index
        for prop, pos in zip(corr.props, corr.positions, strict=True):
            value = values[pos]
            key = None if value is None else index_key(value)
            if key is None:
                continue
            by_value = c_hits.get(prop)
            if by_value is None:
                maybe = self._stored_values(prop, [value]) if not self.store_empty else []
                by_value = self.store.find(prop, maybe) if maybe else {}
            stored, staged = by_value.get(value), o_index.get((prop, key))
            if not stored and not staged:
                continue  # no candidate: the same to combine() as an empty list
            ids = set(stored or ())
            ids.update(staged or ())
            # Keep only candidates whose current value still matches (this run may have changed it).
            hits.setdefault(prop, {})[value] = sorted(
                i for i in ids if (o := self.obj(i)) is not None and _matches(o[1].get(prop), key))
        return corr.combine(values, hits) if hits else []

    # -- staging writes ------------------------------------------------------------------------------

    def _put_object(self, oid: str, rev: int, props: dict[str, Any], low: str | None = None) -> None:
        """Stage an object this batch writes: its values, its userName (``low``: lowered, when known)
        and its correlation keys, for the decisions after it."""
        self.o_obj[oid] = (rev, props)
        self.o_names[props["userName"].lower() if low is None else low] = oid
        if self.corr_props:
            o_index = self.o_index
            for prop in self.corr_props:
                value = props.get(prop)
                key = None if value is None else index_key(value)
                if key is not None:
                    staged = o_index.get((prop, key))
                    if staged is None:
                        o_index[(prop, key)] = {oid}
                    else:
                        staged.add(oid)

    def _link(self, sid: str, tid: str) -> None:
        old = self.link_of_source(sid)
        if old is not None:
            self.batch.links_remove.append(sid)
            self.o_tgt[old] = None
        self.batch.links_add.append(Link(sid, tid))
        self.o_src[sid] = tid
        self.o_tgt[tid] = sid
        if self.track_handled:
            self.handled.add(tid)

    def _unlink_source(self, sid: str) -> str | None:
        tid = self.link_of_source(sid)
        if tid is None:
            return None
        self.batch.links_remove.append(sid)
        self.o_src[sid] = None
        self.o_tgt[tid] = None
        return tid

    def _entry(self, phase: str, situation: Situation | None, action: Action, sid: str | None, tid: str | None,
               status: str = "SUCCESS", message: str | None = None,
               changes: dict[str, list[Any]] | None = None, op: str | None = None, label: str | None = None) -> None:
        self.run.entries += 1
        if status == "FAILURE":
            self.run.failures += 1
        if self.ambiguous:  # IDM's ambiguousTargetObjectIds, kept whatever the action
            changes = {**(changes or {}), "ambiguousTargetIds": self.ambiguous}
        if self.dry_run:
            if op is not None:
                self.run.plan.append(PlanItem(op, str(action), situation and str(situation), sid, tid,
                                              label or tid or sid or "?", changes, message, self.blocking))
            return
        self.batch.entries.append(EntryRecord(phase, sid, tid, situation and str(situation), str(action), status,
                                              message, _dumps(changes) if changes else None, label))

    def _retry_mark(self, sid: str | None, outcome: str | None) -> None:
        if sid is None or self.dry_run:
            return
        if outcome is not None:
            self.batch.retry_add.append(Retry(sid, outcome))
        elif sid in self.queued:
            self.batch.retry_remove.append(sid)

    def commit(self) -> None:
        """Write the open batch as one transaction (a dry run only forgets it)."""
        if not self.dry_run:
            if len(self.batch):
                if self.written is not None:
                    self.written.record(self.batch, self.o_names)  # every object staged gave o_names its name
                self.seq = self.store.apply(self.m.name, self.run.id, self.batch, self.seq)
                if self.batch.creates:
                    self.store_empty = False
                if self.links is not None:  # as the store applied them: removals first
                    for sid in self.batch.links_remove:
                        self.links.pop(sid, None)
                    self.links.update(self.batch.links_add)
            self._reset_overlays()
        self.batch = WriteBatch()
        self.uncommitted = 0

    # -- deciding and acting -------------------------------------------------------------------------

    def decide(self, phase: str, situation: Situation, sid: str | None, tid: str | None,
               values: tuple[Any, ...] | None, note: str | None = None,
               candidates: Sequence[str] | None = None) -> None:
        """Count the situation, pick its action and carry it out (or defer it when destructive)."""
        action = self.policy.action(situation)
        self.run.situations[str(situation)] += 1
        self.run.actions[str(action)] += 1
        if action in DESTRUCTIVE:
            self._defer(phase, situation, action, sid, tid, note)
            return
        outcome: str | None = None
        detail = ""
        if candidates and len(candidates) > 1:
            self.ambiguous = list(candidates)  # any entry this decision writes records them
            detail = f"; candidates: {', '.join(candidates)}"
        if action is Action.CREATE:
            outcome = self._create(phase, situation, sid, tid, values)
        elif action is Action.UPDATE or action is Action.LINK:
            outcome = self._update(phase, situation, action, sid, tid, values)
        elif action is Action.EXCEPTION or action is Action.REPORT:
            verb = "marked as EXCEPTION" if action is Action.EXCEPTION else "reported"
            self._entry(phase, situation, action, sid, tid,
                        message=f"Situation {situation} {verb}{detail}{'; ' + note if note else ''}",
                        op="?", label=self._label(sid, tid, values))
        elif action is Action.ASYNC:
            outcome = async_mark(situation, self.policy)
        self.ambiguous = None
        self._retry_mark(sid, outcome)

    def _label(self, sid: str | None, tid: str | None, values: tuple[Any, ...] | None) -> str:
        if values is not None and self.name_pos is not None and values[self.name_pos]:
            return str(values[self.name_pos])
        if tid is not None:
            o = self.obj(tid)
            if o is not None and o[1].get("userName"):
                return f"{o[1]['userName']} ({tid})"
            return tid
        return f"source {sid}"

    def _fail(self, phase: str, situation: Situation, action: Action, sid: str | None, tid: str | None,
              message: str, values: tuple[Any, ...] | None = None) -> str:
        self._entry(phase, situation, action, sid, tid, status="FAILURE", message=message, op="!",
                    label=self._label(sid, tid, values))
        return "FAILURE"

    def _create(self, phase: str, situation: Situation, sid: str | None, tid: str | None,
                values: tuple[Any, ...] | None) -> str | None:
        act = Action.CREATE
        if sid is None or values is None:
            return self._fail(phase, situation, act, sid, tid, f"CREATE needs a source object; {situation} has none")
        if tid is not None and self.obj(tid) is not None:
            return self._fail(phase, situation, act, sid, tid,
                              f"target object already exists: managed/alpha_user/{tid}", values)
        props = ALPHA_USER.with_defaults(self.m.properties.to_props(values))
        problem = ALPHA_USER.schema_error(props)
        if problem:
            return self._fail(phase, situation, act, sid, None, f"cannot create managed/alpha_user: {problem}",
                              values)
        holder = self.name_holder(props["userName"])
        if holder is not None:
            return self._fail(phase, situation, act, sid, holder,
                              duplicate_username(props["userName"], holder), values)
        oid = self._new_id()
        self.batch.creates.append(Create(oid, props))
        self._put_object(oid, 1, props)
        self._link(sid, oid)
        self._entry(phase, situation, act, sid, oid, op="+", label=props["userName"])
        return None

    def _update(self, phase: str, situation: Situation, action: Action, sid: str | None, tid: str | None,
                values: tuple[Any, ...] | None) -> str | None:
        current = self.obj(tid) if tid is not None else None
        if tid is None or current is None:
            return self._fail(phase, situation, action, sid, tid,
                              f"{action} needs a target object; {situation} has none", values)
        if action is Action.UPDATE and values is None:
            return self._fail(phase, situation, action, sid, tid,
                              f"UPDATE needs a source object; {situation} has none", values)
        relink = False
        if sid is not None and self.link_of_source(sid) != tid:
            other = self.link_of_target(tid)
            if other is not None and other != sid:
                return self._fail(phase, situation, action, sid, tid,
                                  f"managed/alpha_user/{tid} is already linked to source {other} by mapping "
                                  f"{self.m.name!r}", values)
            relink = True
        changes: dict[str, list[Any]] | None = None
        new: dict[str, Any] | None = None
        rev, old = current
        # The common case, nothing changed, is one read and one compare (_unchanged).
        if action is Action.UPDATE and values is not None and not self._unchanged(old, values):
            merged, changed = self._merged(old, values)
            if changed:
                new, changes = merged, changed
        if new is not None:
            problem = ALPHA_USER.schema_error(new)
            if problem:
                return self._fail(phase, situation, action, sid, tid,
                                  f"cannot update managed/alpha_user/{tid}: {problem}", values)
            if new["userName"].lower() != str(old.get("userName", "")).lower():
                holder = self.name_holder(new["userName"])
                if holder is not None and holder != tid:
                    return self._fail(phase, situation, action, sid, tid,
                                      duplicate_username(new["userName"], holder), values)
            if rev == 1 and self.o_obj.get(tid) is current and self._recreate(tid, new):
                self._put_object(tid, 1, new)
            else:
                self.batch.updates.append(Update(tid, rev + 1, new, old))
                self._put_object(tid, rev + 1, new)
        if relink and sid is not None:
            self._link(sid, tid)
        if new is not None or relink:
            message = "linked" if relink else None
            op = "~" if new is not None else "+"
            label = new["userName"] if new is not None else self._label(sid, tid, values)
            self._entry(phase, situation, action, sid, tid, message=message, changes=changes, op=op,
                        label=f"{label} ({tid})" if op == "~" else label)
        return None

    def _recreate(self, tid: str, props: dict[str, Any]) -> bool:
        """Give the create this batch stages for ``tid`` the properties ``props`` (False: it stages none).

        A store applies a batch's updates before its creates (so a userName one object gives up can be
        taken by a new one), so an update of an object the same batch creates would find no row: the
        object would be created with its first values, or collide on the userName it gave up. Only a
        source listed twice meets its own create (changed while the listing is read), so this is rare.
        """
        creates = self.batch.creates
        for i in range(len(creates) - 1, -1, -1):
            if creates[i].object_id == tid:
                creates[i] = Create(tid, props)
                return True
        return False

    def _defer(self, phase: str, situation: Situation, action: Action, sid: str | None, tid: str | None,
               note: str | None) -> None:
        has_link = (sid is not None and self.link_of_source(sid) is not None) or (
            tid is not None and self.link_of_target(tid) is not None)
        has_target = tid is not None and self.obj(tid) is not None
        effective = has_link or (action is Action.DELETE and has_target)
        counted = effective and situation is not Situation.LINK_ONLY
        if counted:
            self.run.deletes += 1
        d = _Deferred(phase, situation, action, sid, tid, counted, note)
        self.deferred.append(d)
        if phase == "deleted" and sid is not None:
            self.forget_removed(sid)  # a replayed @removed: the last event by id wins
            self.removed_held[sid] = d

    def forget_removed(self, sid: str) -> None:
        """Drop the held-back @removed decision for ``sid``, counts included: a later event of the same
        delta round (the user back as changed, or removed again) supersedes it. Graph does not order
        a round's events and replays some, so the last event by id wins."""
        d = self.removed_held.pop(sid, None)
        if d is None:
            return
        self.deferred.remove(d)
        run = self.run
        for counter, key in ((run.situations, str(d.situation)), (run.actions, str(d.action))):
            counter[key] -= 1
            if counter[key] <= 0:
                del counter[key]
        run.processed -= 1
        if d.counted:
            run.deletes -= 1

    def plan_blocked(self) -> None:
        """Dry run of a BLOCKED run: the held-back DELETE/UNLINK decisions and the link clean-up become
        plan lines marked as what the guard stops, so ``--dry-run`` shows what the block asks to review.
        A blocked run writes none of them, so neither the entry count nor the clean-up count changes."""
        entries, self.blocking = self.run.entries, True
        for d in self.deferred:
            self._destroy(d)
        for sid, tid in self.cleanup:
            if self.link_of_source(sid) == tid:
                self._cleanup_entry(sid, tid)
        self.run.entries, self.blocking = entries, False
        self.deferred, self.cleanup = [], []

    def execute_deferred(self, batch_size: int) -> None:
        """Carry out the held-back DELETE and UNLINK decisions, then the link clean-up, in batches."""
        for chunk in _batched(self.deferred, batch_size):
            self.check_cancel()
            self._prefetch_for_destroy([d.source_id for d in chunk if d.source_id is not None],
                                       [d.target_id for d in chunk if d.target_id is not None])
            for d in chunk:
                self._destroy(d)
            self.commit()
        self.deferred = []
        for pairs in _batched(self.cleanup, batch_size):
            self.check_cancel()
            self._prefetch_for_destroy([sid for sid, _ in pairs], [])
            for sid, tid in pairs:
                if self.link_of_source(sid) == tid:
                    self._unlink_source(sid)
                    self.run.links_cleaned += 1
                    self.run.actions[str(Action.UNLINK)] += 1  # no situation: counted as an action only
                    self._cleanup_entry(sid, tid)
            self.commit()
        self.cleanup = []

    def _prefetch_for_destroy(self, sids: Sequence[str], tids: Sequence[str]) -> None:
        """Fresh caches holding what ``_destroy`` and the clean-up look up for one chunk, in a few queries
        (instead of one per decision): the sources' links with their objects, then only the targets and
        objects those did not reach."""
        self._reset_caches()
        store, name = self.store, self.m.name
        c_src, c_tgt, c_obj = self.c_src, self.c_tgt, self.c_obj
        joined = store.linked_objects(name, sids) if sids else {}
        for sid in sids:
            c_src[sid] = None
        for sid, (tid, found) in joined.items():
            c_src[sid], c_tgt[tid], c_obj[tid] = tid, sid, found  # a target has one link per mapping
        if tids:
            others = [t for t in dict.fromkeys(tids) if t not in c_tgt]
            back = store.links_for_targets(name, others) if others else {}
            for tid in others:
                c_tgt[tid] = back.get(tid)
            wanted = [t for t in dict.fromkeys(tids) if t not in c_obj]
            found_many = store.get_many(wanted) if wanted else {}
            for tid in wanted:
                c_obj[tid] = found_many.get(tid)

    def _cleanup_entry(self, sid: str, tid: str) -> None:
        self._entry("cleanup", None, Action.UNLINK, sid, tid,
                    message="link clean-up: source and target are both gone", op="-", label=f"link {sid} -> {tid}")

    def _destroy(self, d: _Deferred) -> None:
        sid, tid, situation, action = d.source_id, d.target_id, d.situation, d.action
        note = d.note
        if action is Action.DELETE:
            current = self.obj(tid) if tid is not None else None
            deleted = False
            if tid is not None and current is not None:
                self.batch.deletes.append(Delete(tid, current[1]))
                self.o_obj[tid] = None
                deleted = True
            unlinked = self._unlink_source(sid) if sid is not None else None
            if unlinked is None and tid is not None and (other := self.link_of_target(tid)) is not None:
                unlinked = self._unlink_source(other)
            if deleted or unlinked:
                label = f"{current[1].get('userName')} ({tid})" if current else (tid or f"source {sid}")
                self._entry(d.phase, situation, action, sid, tid, message=note, op="-", label=label)
            self._retry_mark(sid, None)
            return
        unlinked = self._unlink_source(sid) if sid is not None else None
        if unlinked is None and tid is not None and (other := self.link_of_target(tid)) is not None:
            unlinked = self._unlink_source(other)
            sid = other
        if unlinked is not None:
            self._entry(d.phase, situation, action, sid, unlinked, message=note, op="-",
                        label=f"link {sid} -> {unlinked}")
        self._retry_mark(sid, None)

    # -- phases --------------------------------------------------------------------------------------

    def check_cancel(self) -> None:
        if self.cancelled():
            raise _Cancelled()

    def source_page(self, users: Sequence[Mapping[str, Any]], phase: str = "source", commit: bool = True) -> None:
        """Table 1a for one page of in-scope source objects, then commit (unless ``commit`` is False)."""
        if not users:
            return
        values_of, listed = self.values_of, len(users)
        sids = [u["id"] for u in users]
        values = [values_of(u) for u in users]
        if self.create_unseen:
            # Into a store that started empty, a prefetch would look up only keys ``written`` holds, and
            # the lookups make the same filtered query on a cache miss: an empty cache answers alike.
            self._reset_caches()
            confirmed, created = self._page_into_empty(phase, sids, users, values)
        else:
            confirmed = created = 0
            if self.links is not None and self.confirm_unchanged:
                confirmed, rest = self._confirm_linked(sids, users, values)
                if rest is not None:
                    sids, users, values = [sids[i] for i in rest], [users[i] for i in rest], [values[i] for i in rest]
            pos = self.name_pos
            if not sids:
                pass  # every source of the page was confirmed
            elif self.written is None:
                self.prefetch(sids, values, [v[pos] for v in values] if pos is not None else ())
            else:
                self._reset_caches()
            assess = self._assess
            for sid, user, vals in zip(sids, users, values, strict=True):
                outcome = assess(phase, sid, user, vals)
                if outcome is _CONFIRMED_UNCHANGED:
                    confirmed += 1
        if confirmed:
            self.run.situations[_CONFIRMED] += confirmed
            self.run.actions[_UPDATE] += confirmed
        if created:
            self.run.situations[_ABSENT] += created
            self.run.actions[_CREATE] += created
            self.run.entries += created
        self.run.processed += listed
        self.uncommitted += listed
        if commit:
            self.commit()

    def _assess(self, phase: str, sid: str, user: Mapping[str, Any], vals: tuple[Any, ...]) -> object:
        """Table 1a for one source object by the general path (lookups through the caches and overlays).

        Returns ``_CONFIRMED_UNCHANGED`` for a linked source whose object holds its values already
        (CONFIRMED, UPDATE with nothing to write: the caller counts it), else None (``decide`` counted)."""
        valid = self.m.valid(user) if self.m.valid is not None else True
        linked_here = self.written.sources if self.written is not None else None
        # Into a store that started empty, a source neither written nor staged by this run has no link.
        tid = None if linked_here is not None and sid not in linked_here and sid not in self.o_src \
            else self.link_of_source(sid)
        track_handled = self.track_handled
        if tid is not None:
            if track_handled and tid not in self.handled:
                self.handled.add(tid)
                self.links_seen += 1
            current = self.obj(tid)
            if valid and self.confirm_unchanged and current is not None and (
                    self._unchanged(current[1], vals) or self._update_linked(phase, sid, tid, current, vals)):
                if sid in self.queued and not self.dry_run:  # as _retry_mark(sid, None)
                    self.batch.retry_remove.append(sid)
                return _CONFIRMED_UNCHANGED
            situation = source_situation(valid=valid, linked=True, target_exists=current is not None, hits=None)
            self.decide(phase, situation, sid, tid if current is not None else None, vals)
            return None
        hits = self.correlate(vals)
        hit_linked = False
        if hits:
            if track_handled:
                self.handled.update(hits)
            hit_linked = len(hits) == 1 and self.link_of_target(hits[0]) not in (None, sid)
        situation = source_situation(valid=valid, linked=False, target_exists=False, hits=hits, hit_linked=hit_linked)
        target = hits[0] if hits and len(hits) == 1 else None
        self.decide(phase, situation, sid, target, vals, candidates=hits)
        return None

    def _confirm_linked(self, sids: Sequence[str], users: Sequence[Mapping[str, Any]],
                        values: Sequence[tuple[Any, ...]]) -> tuple[int, list[int] | None]:
        """With every link in memory (``links``): the page's valid linked sources whose object holds
        their values already, CONFIRMED with nothing to write, ahead of the rest of the page; returns
        how many, and the positions of the others (None: all of them are left, none was looked at).

        Such a decision writes nothing and stages nothing, so no other decision of the page can see
        whether it came first; what it does record (the target handled, a retry mark cleared) is the
        same in any order. Only the others are then prefetched and assessed, in their order: a second
        full run with nothing changed looks up each linked object once, in one query per page, and
        makes none of the general path's per-source lookups.
        """
        links, o_src = self.links, self.o_src
        assert links is not None
        if o_src and not o_src.keys().isdisjoint(sids):
            return 0, None  # a source this batch linked or unlinked: its link is the overlay's
        tids = [links.get(sid) for sid in sids]
        found = self.store.get_many(t for t in tids if t is not None)
        valid_fn, unchanged, handled = self.m.valid, self._unchanged, self.handled
        track_handled, queued, dry_run = self.track_handled, self.queued, self.dry_run
        rest: list[int] = []
        confirmed = 0
        for i, (sid, tid, vals) in enumerate(zip(sids, tids, values, strict=True)):
            current = found.get(tid) if tid is not None else None
            if tid is None or current is None or (valid_fn is not None and not valid_fn(users[i])):
                rest.append(i)
                continue
            if not unchanged(current[1], vals):
                rest.append(i)
                continue
            confirmed += 1
            if track_handled and tid not in handled:
                handled.add(tid)
                self.links_seen += 1
            if sid in queued and not dry_run:  # as _retry_mark(sid, None)
                self.batch.retry_remove.append(sid)
        return confirmed, rest

    def _merged(self, old: Mapping[str, Any], values: tuple[Any, ...]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
        """``old`` with the mapped ``values`` set and the type's defaults filled in, and what that changes
        (``{property: [old value, new value]}``; empty exactly when the result equals ``old``, as it holds
        every key of ``old``)."""
        new = dict(old)
        new.update(zip(self.targets, values, strict=True))
        ALPHA_USER.with_defaults(new)
        return new, {k: [old.get(k), v] for k, v in new.items() if old.get(k, _MISS) != v}

    def _update_linked(self, phase: str, sid: str, tid: str, current: tuple[int, dict[str, Any]],
                       values: tuple[Any, ...]) -> bool:
        """CONFIRMED, UPDATE for a valid linked source whose object holds other values, as ``decide`` and
        ``_update`` would carry it out, without their general checks; True when done (the caller counts
        the decision), False to leave it to them: a dry run, an object this batch created, a new value
        the type refuses, or a new userName (whose holder must be looked up)."""
        if self.dry_run:
            return False
        rev, old = current
        new, changes = self._merged(old, values)
        if not changes:
            return True
        name = new.get("userName")
        if not isinstance(name, str) or (low := name.lower()) != str(old.get("userName", "")).lower() \
                or (rev == 1 and self.o_obj.get(tid) is current) or ALPHA_USER.schema_error(new):
            return False
        batch = self.batch
        batch.updates.append(Update(tid, rev + 1, new, old))
        self._put_object(tid, rev + 1, new, low)
        self.run.entries += 1
        batch.entries.append(EntryRecord(phase, sid, tid, _CONFIRMED, _UPDATE, "SUCCESS", None, _dumps(changes),
                                         f"{name} ({tid})"))
        return True

    def _new_id(self) -> str:
        """The next new object id (made 1,024 at a time)."""
        ids = self._ids
        if not ids:
            ids.extend(reversed(new_object_ids(1024)))
        return ids.pop()

    def _unchanged(self, current: Mapping[str, Any], values: tuple[Any, ...]) -> bool:
        """Whether the object already holds ``values`` in every mapped target: one C-level read of every
        target and one compare."""
        try:
            return self.current_of(current) == values
        except KeyError:  # a target the object does not hold yet: a change
            return False

    def _page_into_empty(self, phase: str, sids: Sequence[str], users: Sequence[Mapping[str, Any]],
                         values: Sequence[tuple[Any, ...]]) -> tuple[int, int]:
        """One page into a store that was empty at the run's start (``written``); returns (confirmed, created).

        A valid source that is not linked and whose correlation keys and userName are in neither
        ``written`` nor this batch's overlays has no candidate and no userName holder anywhere, so
        ``correlate`` would find nothing, the situation is ABSENT and ``_create`` would create it: that
        is done here without the general path's lookups. Anything else (a source seen before, a key
        seen before, an object the type refuses) goes to ``_assess``: the same outcome either way.
        The loop is written out with local names: at 100,000 creates, the method calls and attribute
        reads of a per-source helper were a third of the engine's own time.
        """
        if self._page_all_new(phase, sids, values):
            return 0, len(sids)
        written = self.written
        assert written is not None
        valid_fn, assess = self.m.valid, self._assess
        w_sources, w_names = written.sources, written.names
        corr = tuple((prop, pos, written.keys[prop]) for prop, pos in self.corr_keys)
        o_src, o_tgt, o_obj, o_names, o_index = self.o_src, self.o_tgt, self.o_obj, self.o_names, self.o_index
        targets, queued, ids = self.targets, self.queued, self._ids
        handled = self.handled if self.track_handled else None
        # A type default given to a correlation property (accountStatus, say) is staged as its key, as
        # ``_put_object`` stages it; the keys checked are the source's values, as ``correlate`` checks them.
        defaulted = {p for p, _ in ALPHA_USER.defaults}.intersection(self.corr_props)
        batch = self.batch
        add_create, add_link, add_entry = batch.creates.append, batch.links_add.append, batch.entries.append
        confirmed = created = 0
        for sid, user, vals in zip(sids, users, values, strict=True):
            if sid in w_sources or sid in o_src or (valid_fn is not None and not valid_fn(user)):
                if assess(phase, sid, user, vals) is _CONFIRMED_UNCHANGED:
                    confirmed += 1
                continue
            keys: list[tuple[str, str]] = []
            for prop, pos, known in corr:
                value = vals[pos]
                key = value.lower() if value.__class__ is str else index_key(value)
                if key is not None:
                    if (prop, key) in o_index or key in known:
                        break
                    keys.append((prop, key))
            else:
                props = _with_defaults(dict(zip(targets, vals, strict=True)))
                low = props["userName"].lower() if _schema_error(props) is None else None
                if low is not None and low not in o_names and low not in w_names:
                    oid = ids.pop() if ids else self._new_id()
                    # The batch's records made with tuple.__new__: a NamedTuple's own __new__ is a
                    # Python function (a tenth of this path's time at 100,000 creates).
                    add_create(_new(Create, (oid, props)))
                    o_obj[oid] = (1, props)
                    o_names[low] = oid
                    if defaulted:
                        keys = [(p, k) for p, _, _ in corr if (k := index_key(props.get(p))) is not None]
                    for key_of in keys:
                        staged = o_index.get(key_of)
                        if staged is None:
                            o_index[key_of] = {oid}
                        else:
                            staged.add(oid)
                    add_link(_new(Link, (sid, oid)))
                    o_src[sid] = oid
                    o_tgt[oid] = sid
                    if handled is not None:
                        handled.add(oid)
                    add_entry(_new(EntryRecord, (phase, sid, oid, _ABSENT, _CREATE, "SUCCESS", None, None,
                                                 props["userName"])))
                    if sid in queued:
                        batch.retry_remove.append(sid)
                    created += 1
                    continue
            if assess(phase, sid, user, vals) is _CONFIRMED_UNCHANGED:  # a key or userName seen before
                confirmed += 1
        return confirmed, created

    def _page_all_new(self, phase: str, sids: Sequence[str], values: Sequence[tuple[Any, ...]]) -> bool:
        """Create every source of the page at once when each one is what ``_page_into_empty`` would
        create (valid, unlinked, with correlation keys and a userName that neither ``written``, the
        overlays nor another source of the page holds, and an object the type accepts); False, with
        nothing staged, when any one is not: the page then goes source by source.

        All of them ABSENT and CREATE either way; made a column at a time, it costs about half as much
        as the loop (100,000 creates: 0.28 CPU s of the engine's own work against 0.56).
        """
        written, name_pos = self.written, self.name_pos
        if written is None or name_pos is None or self.m.valid is not None or self._constant_defaults is None:
            return False
        o_src, o_names, o_index = self.o_src, self.o_names, self.o_index
        n = len(sids)
        if (not written.sources.isdisjoint(sids) or not o_src.keys().isdisjoint(sids)
                or len(set(sids)) != n):
            return False
        names = [v[name_pos] for v in values]
        if not all(isinstance(name, str) for name in names):
            return False  # the type refuses it: the loop words the failure
        lows = [name.lower() for name in names]
        if len(set(lows)) != n or not written.names.isdisjoint(lows) or not o_names.keys().isdisjoint(lows):
            return False
        staged_keys: list[tuple[tuple[str, str], ...]] = []
        for prop, pos in self.corr_keys:
            if pos == name_pos:
                keys: list[str | None] = list(lows)
            else:
                keys = [index_key(v[pos]) for v in values]
                present = [k for k in keys if k is not None]
                if len(set(present)) != len(present) or not written.keys[prop].isdisjoint(present):
                    return False
            pairs = tuple((prop, k) for k in keys if k is not None)
            if not o_index.keys().isdisjoint(pairs):
                return False
            staged_keys.append(pairs)
        names_and_defaults, tail = self._constant_defaults
        objects = [dict(zip(names_and_defaults, v + tail, strict=True)) for v in values]
        if not ALPHA_USER.all_valid(objects):
            return False
        oids = self._take_ids(n)
        batch = self.batch
        batch.creates.extend(map(_new_create, zip(oids, objects, strict=True)))
        self.o_obj.update(zip(oids, [(1, o) for o in objects], strict=True))
        o_names.update(zip(lows, oids, strict=True))
        for (_, pos), pairs in zip(self.corr_keys, staged_keys, strict=True):
            if pos == name_pos:
                o_index.update(zip(pairs, [{oid} for oid in oids], strict=True))
            else:
                keyed = [oid for oid, v in zip(oids, values, strict=True) if index_key(v[pos]) is not None]
                o_index.update(zip(pairs, [{oid} for oid in keyed], strict=True))
        batch.links_add.extend(map(_new_link, zip(sids, oids, strict=True)))
        o_src.update(zip(sids, oids, strict=True))
        self.o_tgt.update(zip(oids, sids, strict=True))
        if self.track_handled:
            self.handled.update(oids)
        batch.entries.extend([_new(EntryRecord, (phase, sid, oid, _ABSENT, _CREATE, "SUCCESS", None, None, name))
                              for sid, oid, name in zip(sids, oids, names, strict=True)])
        if self.queued:
            batch.retry_remove.extend(s for s in sids if s in self.queued)
        return True

    def _take_ids(self, n: int) -> list[str]:
        """The next ``n`` new object ids, in the order ``_new_id`` would give them."""
        ids = self._ids
        if len(ids) < n:
            ids[:0] = reversed(new_object_ids(n - len(ids) + 1024))
        taken = ids[-n:]
        del ids[-n:]
        taken.reverse()
        return taken

    def deleted_page(self, removed: Sequence[tuple[str, str]], commit: bool = True) -> None:
        """Table 1b for source objects that are gone (delta ``@removed``, or 404 on re-read)."""
        if not removed:
            return
        self.prefetch([sid for sid, _ in removed])
        for sid, reason in removed:
            tid = self.link_of_source(sid)
            exists = tid is not None and self.obj(tid) is not None
            situation = deleted_source_situation(linked=tid is not None, target_exists=exists)
            note = _REMOVED_REASON.get(reason, reason)
            self.decide("deleted", situation, sid, tid if exists else None, None, note=note)
        self.run.processed += len(removed)
        self.uncommitted += len(removed)
        if commit:
            self.commit()

    def leave_alone(self, users: Sequence[Mapping[str, Any]]) -> None:
        """Listed source objects the local part of ``sourceFilter`` drops (full run): they are proven
        present and out of scope, so their linked targets count as handled and the target phase
        neither re-reads them by id nor counts them out of scope a second time."""
        self.run.out_of_scope += len(users)
        links = self.store.links_for_sources(self.m.name, [u["id"] for u in users])
        handled = self.handled
        for tid in links.values():
            if tid and tid not in handled:
                handled.add(tid)
                self.links_seen += 1

    def probe(self, sids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any] | None]]:
        """Read sources by id, ``PROBE_CHUNK`` at a time (the connector batches them), checking for a
        cancel before each chunk: for each, ("missing", None), ("out", user) when out of scope, or
        ("in", user)."""
        if not sids:
            return {}
        select = list(self.m.select)
        users: dict[str, dict[str, Any]] = {}
        for start in range(0, len(sids), PROBE_CHUNK):
            self.check_cancel()
            users.update(self.source.get_users(sids[start:start + PROBE_CHUNK], select))
        scope = self.m.scope
        out: dict[str, tuple[str, dict[str, Any] | None]] = {}
        for sid in sids:
            user = users.get(sid)
            if user is None:
                out[sid] = ("missing", None)
            else:
                out[sid] = ("out", user) if scope is not None and not scope(user) else ("in", user)
        return out

    def _unhandled_targets(self, orphans: list[tuple[str, str]]) -> Iterator[tuple[str, str | None]]:
        """``(target id, linked source id or None)`` the target phase visits, streamed from the store.

        Links whose managed object is gone go to ``orphans`` instead. Every link this run made was
        handled by its source phase, so a mapping without links at the start has none to visit.
        """
        store, handled = self.store, self.handled
        linked: set[str] = set()
        # The source phase reached ``links_seen`` distinct stored links whose target it handled first
        # (a target has one link per mapping; a link this run made is handled when made, and one whose
        # target another decision handled first is not counted). When that is every link the mapping
        # had at the start, every link now in the store is handled: none is left to read back.
        if self.run.linked and self.links_seen < self.run.linked:
            for rows in store.iter_links(self.m.name):
                rows = [(s, t) for s, t in rows if t not in handled]
                exists = store.existing(t for _, t in rows) if rows else set()
                for sid, tid in rows:
                    if tid in exists:
                        linked.add(tid)
                        yield tid, sid
                    else:
                        orphans.append((sid, tid))
        if self.m.target_scope == "all" and not self.empty_at_start:
            yield from ((t, None) for t in self.store.iter_ids() if t not in handled and t not in linked)

    def target_phase(self, batch_size: int, read_proves_absence: bool) -> None:
        """Table 1c over the targets in ``targetScope`` the source phase did not handle, then link clean-up."""
        store, name = self.store, self.m.name
        orphans: list[tuple[str, str]] = []
        for chunk in _batched(self._unhandled_targets(orphans), batch_size):
            self.check_cancel()
            self._reset_caches()
            unlinked = [t for t, s in chunk if s is None]
            if unlinked:
                tl = store.links_for_targets(name, unlinked)
                chunk = [(t, s if s is not None else tl.get(t)) for t, s in chunk]
            found = store.get_many(t for t, _ in chunk)
            self.c_obj.update(found)
            for tid, sid in chunk:
                self.c_tgt[tid] = sid
                if sid is not None:
                    self.c_src[sid] = tid
            probed = {} if read_proves_absence else self.probe([s for _, s in chunk if s is not None])
            for tid, sid in chunk:
                if sid is None:
                    self.decide("target", target_situation(target_valid=True, linked=False, source_exists=False),
                                None, tid, None)
                    continue
                state, user = probed.get(sid, ("missing", None))
                if state == "out":
                    self.run.out_of_scope += 1
                    continue
                if state == "missing":
                    self.decide("target", target_situation(target_valid=True, linked=True, source_exists=False),
                                sid, tid, None, note="the source object no longer exists")
                    continue
                assert user is not None
                valid = self.m.valid(user) if self.m.valid is not None else True
                situation = target_situation(target_valid=True, linked=True, source_exists=True, source_valid=valid)
                self.decide("target", situation, sid, tid, self.values_of(user))
            self.run.processed += len(chunk)
            self.commit()
            if self.progress:
                self.progress("target", self.run.processed, None)
        for batch in _batched(orphans, batch_size):
            self.check_cancel()
            probed = {} if read_proves_absence else self.probe([sid for sid, _ in batch])
            self.cleanup.extend((sid, tid) for sid, tid in batch
                                if probed.get(sid, ("missing", None))[0] == "missing")


def _getter(keys: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """``d -> (d[k] for k in keys)`` as a tuple (KeyError for a missing key), for any number of keys."""
    if len(keys) == 1:
        key = keys[0]
        return lambda d: (d[key],)
    if not keys:
        return lambda d: ()
    getter: Callable[[Mapping[str, Any]], tuple[Any, ...]] = operator.itemgetter(*keys)
    return getter


def _matches(value: Any, key: str) -> bool:
    if isinstance(value, list):
        return any(index_key(v) == key for v in value)
    return index_key(value) == key


def cancel_check(cancel: CancelCheck | threading.Event | None) -> CancelCheck:
    """A callable answering "stop now?" from None, an Event or a callable."""
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    return cancel


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while batch := list(itertools.islice(it, size)):
        yield batch


# The cyclic garbage collector's thresholds during a run (CPython's defaults: 700, 10, 10). A run
# allocates a few containers per account (a page's user dicts, values, props, batch records), none of
# them in a reference cycle, and every 700 allocations the collector walks the young ones: a quarter of
# a full run's CPU (300,000 accounts: 16.9 CPU s, 13.4 with a first threshold of 100,000). The first
# threshold counts containers allocated and not yet freed; what a run holds at once (the read-ahead's
# pages, the open batch of at most 50,000 accounts and its overlays: a few hundred thousand) stays below
# 1,000,000, so a run that leaks nothing is never walked (at 100,000 creates the walks of a 100,000
# threshold found nothing and cost 0.06-0.08 CPU s), while garbage in cycles, if a run ever made it,
# would still be collected once a million containers piled up. Objects made before the run are frozen
# out of the collections for its length.
RUN_GC_THRESHOLDS = (1_000_000, 50, 100)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """``RUN_GC_THRESHOLDS`` (and what exists now frozen) for the block; the previous settings after it.

    Objects someone else froze (``controller._startup.start_work``) stay frozen: ``gc.unfreeze`` thaws
    every frozen object at once, so only a freeze made here is undone here."""
    previous = gc.get_threshold()
    mine = gc.get_freeze_count() == 0
    if mine:
        gc.freeze()
    if previous[0]:  # 0: collections are off already
        gc.set_threshold(*(max(a, b) for a, b in zip(RUN_GC_THRESHOLDS, previous, strict=True)))
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        if mine:
            gc.unfreeze()


def reconcile(
    store: Store,
    source: Source,
    mapping: CompiledMapping,
    *,
    mode: RunMode = RunMode.FULL,
    dry_run: bool = False,
    allow_deletes: int | None = None,
    reset_delta: bool = False,
    cancel: CancelCheck | threading.Event | None = None,
    progress: Progress | None = None,
    holder: str | None = None,
    batch_size: int = 5000,
    warnings: Sequence[str] = (),
    recorder: RunRecorder | None = None,
) -> ReconRun:
    """Run one reconciliation of ``mapping`` from ``source`` into ``store`` and return what happened.

    ``mode`` full or incremental (which becomes full, with the reason in ``full_because``, when there
    is no usable delta link). ``allow_deletes`` lets the guard pass up to that many DELETE/UNLINK
    actions (and an empty source). ``cancel`` is checked between batches, and between chunks of reads
    by id (``PROBE_CHUNK``). ``recorder`` writes the run record (a plain ``RunRecorder`` when not
    given; none for a dry run). Never raises for a run that started: the outcome is the state.
    """
    with fewer_collections():
        return _reconcile(store, source, mapping, mode=RunMode(mode), dry_run=dry_run, allow_deletes=allow_deletes,
                          reset_delta=reset_delta, cancel=cancel, progress=progress, holder=holder,
                          batch_size=batch_size, warnings=warnings, recorder=recorder)


def _reconcile(store: Store, source: Source, mapping: CompiledMapping, *, mode: RunMode, dry_run: bool,
               allow_deletes: int | None, reset_delta: bool, cancel: CancelCheck | threading.Event | None,
               progress: Progress | None, holder: str | None, batch_size: int, warnings: Sequence[str],
               recorder: RunRecorder | None) -> ReconRun:
    run = ReconRun(id=str(uuid.uuid4()), mapping=mapping.name, mode=mode, started=_now(), dry_run=dry_run,
                   requested_mode=mode, warnings=list(warnings))
    engine = _prepare(store, source, mapping, run, reset_delta=reset_delta, cancel=cancel_check(cancel),
                      progress=progress)
    records = None if dry_run else (recorder or RunRecorder(store, holder=holder))
    if records is not None:
        records.start(run)
    new_link = _execute(engine, allow_deletes, batch_size)
    run.ended = _now()
    run.duration_ms = int((datetime.fromisoformat(run.ended)
                           - datetime.fromisoformat(run.started)).total_seconds() * 1000)
    if records is not None:
        records.finish(run, delta_link=new_link, select_hash=mapping.select_hash, allow_deletes=allow_deletes)
    return run


def _prepare(store: Store, source: Source, mapping: CompiledMapping, run: ReconRun, *, reset_delta: bool,
             cancel: CancelCheck, progress: Progress | None) -> _Engine:
    """Decide the run's real mode, carry a renamed mapping's links over, index correlation, load retries."""
    name, dry_run = mapping.name, run.dry_run
    if mapping.renamed_from and not dry_run and store.link_count(name) == 0 and store.delta_state(name) is None:
        moved = store.rename_mapping(mapping.renamed_from, name)
        if moved:
            run.warnings.append(f"carried {moved} links and the delta link over from mapping "
                                f"{mapping.renamed_from!r} (renamedFrom)")
    delta = store.delta_state(name)
    if run.mode is RunMode.INCREMENTAL:
        if reset_delta:
            run.full_because = "--reset-delta was given"
        elif delta is None:
            run.full_because = "no delta link is stored for this mapping yet (first run)"
        elif delta[1] != mapping.select_hash:
            run.full_because = ("the mapping's selected attributes or source filter changed since its delta "
                                "link was stored")
        if run.full_because:
            run.mode = RunMode.FULL
    if not dry_run and mapping.correlation is not None:
        # Correlation looks its properties up page by page; without an index each is one scan of
        # every object. Indexing is a write, so a dry run scans instead (Store.find).
        store.ensure_indexed(mapping.correlation.props)
    run.linked = store.link_count(name)
    engine = _Engine(store, source, mapping, run, dry_run=dry_run, cancel=cancel, progress=progress)
    engine.delta_link = delta[0] if delta is not None else None
    if mapping.safety.window_seconds is not None:
        since = datetime.now(UTC) - timedelta(seconds=mapping.safety.window_seconds)
        engine.window_deletes = store.deletes_since(name, since.isoformat(timespec="milliseconds")
                                                    .replace("+00:00", "Z"))
    marks = store.retry_marks(name)
    engine.queued = {mark.source_id for mark in marks}
    engine.due = due_retries(marks, mapping.policy)
    return engine


def _execute(engine: _Engine, allow_deletes: int | None, batch_size: int) -> str | None:
    """The engine proper: read, assess, guard, write; the run's state says how it ended. The new delta link."""
    run = engine.run
    new_link: str | None = None
    try:
        try:
            if run.mode is RunMode.INCREMENTAL:
                assert engine.delta_link is not None
                new_link = _incremental(engine, engine.delta_link, allow_deletes, batch_size)
        except _GoFull as exc:
            run.mode = RunMode.FULL
            run.full_because = str(exc)
        if run.mode is RunMode.FULL:
            new_link = _full(engine, allow_deletes, batch_size)
        run.state = RunState.SUCCESS
    except _Blocked as exc:
        run.state = RunState.BLOCKED
        run.reason = str(exc)
        if engine.dry_run:
            engine.plan_blocked()
        engine.deferred.clear()
    except (_Cancelled, KeyboardInterrupt):
        run.state = RunState.CANCELED
        run.reason = "canceled: batches committed before the cancel are kept; nothing destructive was skipped half-way"
    except IdmctlError as exc:  # LockLost among them: a writer that lost the lock commits nothing more
        run.state = RunState.FAILED
        run.reason = str(exc)
    except Exception as exc:  # a bug or an unexpected library error: the run record must still close
        run.state = RunState.FAILED
        run.reason = f"internal error ({type(exc).__name__}: {exc})"
    return new_link


def _guard(engine: _Engine, allow_deletes: int | None) -> None:
    """BLOCKED (nothing destructive written) when the run's deletes break a ``safety`` limit, unless a
    person allowed at least that many with ``--allow-deletes N`` (zero means zero)."""
    run = engine.run
    why = safety_block(engine.m.safety, deletes=run.deletes, linked=run.linked, empty_source=engine.empty_source,
                       window_deletes=engine.window_deletes, allow_deletes=allow_deletes)
    if why is not None:
        raise _Blocked(why)


def _full(engine: _Engine, allow_deletes: int | None, batch_size: int) -> str:
    m, source, run = engine.m, engine.source, engine.run
    link = source.latest_delta_link(list(m.select), m.pushdown)
    in_scope = 0
    # The target phase visits what the source phase did not handle: the mapping's links, and with
    # targetScope "all" the objects; a run with neither to visit need not remember (a set the size
    # of the source on a first run).
    engine.track_handled = bool(run.linked) or (m.target_scope == "all" and not engine.empty_at_start)
    if 0 < run.linked <= LINKS_IN_MEMORY:
        engine.load_links()
    # Each page is assessed as it arrives (the next one is read meanwhile); whole pages are gathered
    # into one transaction until it holds at least ``limit`` source objects, so commits are few.
    limit = batch_size
    with ReadAhead(source.iter_users(list(m.select), m.pushdown)) as pages:
        for page in pages:
            engine.check_cancel()
            if m.listing_scope is not None:
                users: list[dict[str, Any]] = []
                dropped: list[dict[str, Any]] = []
                for u in page:
                    (users if m.listing_scope(u) else dropped).append(u)
                if dropped:
                    engine.leave_alone(dropped)
            else:
                users = page
            in_scope += len(users)
            for chunk in _batched(users, batch_size):
                engine.source_page(chunk, commit=False)
            if engine.uncommitted >= limit:
                engine.commit()
                limit = grown_batch(limit, batch_size)
            if engine.progress:
                engine.progress("source", run.processed, None)
    engine.commit()
    if in_scope == 0 and not m.safety.allow_empty_source and allow_deletes is None:  # no need to look further
        raise _Blocked(
            "the source returned no objects in scope; a run from an empty source could delete or orphan "
            f"every one of the {run.linked} linked objects. Check the connector and sourceFilter; set "
            "safety.allowEmptySource: true, or rerun with --allow-deletes N, if an empty source is expected")
    engine.empty_source = in_scope == 0 and not m.safety.allow_empty_source  # --allow-deletes N decides
    engine.track_handled = False
    # A complete, unfiltered listing proves that what it did not list is gone. A partitioned read
    # (every partition completed) is not a snapshot: a user whose UPN moved between partitions during
    # the read may be missing from it, so a linked source it did not list is read by id first.
    partitioned = bool(getattr(source, "partitioned", False))
    engine.target_phase(batch_size, read_proves_absence=m.scope is None and not partitioned)
    _guard(engine, allow_deletes)
    engine.execute_deferred(batch_size)
    if not engine.dry_run:
        engine.store.prune_retries(m.name, run.id)
    return link


def _incremental(engine: _Engine, delta_link: str, allow_deletes: int | None, batch_size: int) -> str:
    m, source, run = engine.m, engine.source, engine.run
    new_link: str | None = None
    done: set[str] = set()
    pages = 0
    limit = batch_size
    try:
        with ReadAhead(source.read_delta(delta_link)) as delta_pages:
            for page in delta_pages:
                engine.check_cancel()
                pages += 1
                users = []
                for u in page.users:
                    done.add(u["id"])
                    if engine.removed_held:
                        engine.forget_removed(u["id"])
                    if m.scope is None or m.scope(u):
                        users.append(u)
                    else:
                        run.out_of_scope += 1
                        engine._retry_mark(u["id"], None)
                # Pages are gathered into batches of at least ``limit`` changes, as in a full run:
                # the delta link is stored only after the last batch, so a batch boundary between two
                # pages changes nothing a rerun would see.
                for chunk in _batched(users, batch_size):
                    engine.source_page(chunk, commit=False)
                removed = list(page.removed)
                done.update(sid for sid, _ in removed)
                for chunk in _batched(removed, batch_size):
                    engine.deleted_page(chunk, commit=False)
                if engine.uncommitted >= limit:
                    engine.commit()
                    limit = grown_batch(limit, batch_size)
                if page.delta_link:
                    new_link = page.delta_link
                if engine.progress:
                    engine.progress("delta", run.processed, None)
        engine.commit()
    except DeltaExpired as exc:
        if pages == 0:
            raise _GoFull(f"the stored delta link has expired ({exc.code or 'syncStateNotFound'}); "
                          "Graph needs a full resync") from exc
        raise
    if new_link is None:
        raise ReconError("the delta round ended without a deltaLink; the changes read were applied, the old "
                         "delta link is kept", hint="Run again; if it persists, run with --reset-delta")
    retry = sorted(engine.due - done)
    for chunk in _batched(retry, batch_size):
        engine.check_cancel()
        gone: list[tuple[str, str]] = []
        back: list[dict[str, Any]] = []
        for sid, (state, user) in engine.probe(chunk).items():
            if state == "missing":
                gone.append((sid, "notFound"))
            elif state == "out":
                run.out_of_scope += 1
                engine._retry_mark(sid, None)
            else:
                assert user is not None
                back.append(user)
        engine.source_page(back, phase="retry")
        engine.deleted_page(gone)
        engine.commit()
    _guard(engine, allow_deletes)
    engine.execute_deferred(batch_size)
    return new_link
