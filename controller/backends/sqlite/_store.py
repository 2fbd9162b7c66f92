"""The embedded platform's store in SQLite: managed objects, links, runs and their entries, delta state.

Everything reconciliation writes lives here, in the environment's SQLite file. The store enforces the
managed schema on every write (``controller.config.managed.ALPHA_USER``) and writes in batches: one
``apply`` call is one transaction holding objects, links, entries and retry marks together, so a run
killed between two batches leaves no object without its link. Inside ``fenced(lease)`` every write
transaction first checks that the lease is still the environment's lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson

from controller.backends._ids import new_object_id
from controller.backends._protocol import (
    Create,
    Delete,
    LockLease,
    ManagedObject,
    RetryMark,
    RunEntry,
    RunRecord,
    ScheduleStateStore,
    Update,
    WriteBatch,
)
from controller.backends._shared import (
    batch_collision,
    by_index_key,
    check_object,
    hits_by_value,
    runs_to_prune,
)
from controller.backends.sqlite._database import BULK_CACHE_KIB, CACHE_KIB, transaction
from controller.config.managed import ALPHA_USER, index_keys
from controller.config.models import RunMode, RunState
from controller.errors import ManagedObjectInvalid, StateError

__all__ = ["SqliteStore"]

_CHUNK = 2000  # bound parameters per IN (...) query; SQLite allows 32766


def _dumps(obj: Any) -> str:
    """Compact JSON text (UTF-8, not ASCII-escaped): what ``json`` would write, at a fifth of the cost.

    Stored as TEXT (orjson makes bytes; a BLOB would break ``json_extract`` and older readers).
    """
    return orjson.dumps(obj).decode()


_loads = orjson.loads

Fence = Callable[[sqlite3.Connection], None]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _select_in(conn: sqlite3.Connection, sql: str, keys: Sequence[Any], *prefix: Any) -> list[Any]:
    """Rows of ``sql`` (with one ``{marks}`` placeholder for ``IN (...)``) over ``keys``, chunk by chunk.

    A list, not a generator: every caller keeps all the rows, and handing 100,000 rows on one at a time
    through a generator's frame cost 20-35 ms more than ``fetchall`` per chunk."""
    rows: list[Any] = []
    for chunk in _chunks(keys):
        rows += conn.execute(sql.format(marks=",".join("?" * len(chunk))), (*prefix, *chunk)).fetchall()
    return rows


class SqliteStore:
    """Managed objects, links, runs, entries, retry marks and delta links in one SQLite connection.

    ``fence(conn, lease)`` is the backend's check that ``lease`` is still the environment's lock; it
    runs first in every write transaction made inside ``fenced(lease)``.
    """

    def __init__(self, conn: sqlite3.Connection, schedules: ScheduleStateStore,
                 fence: Callable[[sqlite3.Connection, LockLease], None] | None = None) -> None:
        self.conn = conn
        self.schedules = schedules
        self._check_lease = fence
        self._fence: Fence | None = None
        self._indexed: set[str] | None = None
        self._scans: dict[str, dict[str, list[str]]] = {}
        self._rows_touched = 0  # objects and links read by id or written by batches in this run (start_run)
        self._bulk_cache = False

    # -- transactions ------------------------------------------------------------------------------

    @contextmanager
    def fenced(self, lease: LockLease) -> Iterator[None]:
        check = self._check_lease
        previous = self._fence
        self._fence = None if check is None else (lambda conn: check(conn, lease))
        try:
            yield
        finally:
            self._fence = previous

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (a savepoint when the caller already holds one), fenced when asked."""
        with transaction(self.conn, "identities") as conn:
            if self._fence is not None:
                self._fence(conn)
            yield conn

    # -- managed objects ---------------------------------------------------------------------------

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM alpha_user").fetchone()[0])

    def get(self, object_id: str) -> ManagedObject | None:
        row = self.conn.execute(
            "SELECT id, rev, properties FROM alpha_user WHERE id = ?", (object_id,)
        ).fetchone()
        return None if row is None else ManagedObject(row[0], row[1], _loads(row[2]))

    def get_many(self, ids: Iterable[str]) -> dict[str, tuple[int, dict[str, Any]]]:
        """``{id: (rev, properties)}`` for the ids that exist."""
        out: dict[str, tuple[int, dict[str, Any]]] = {}
        wanted = list(dict.fromkeys(ids))
        for oid, rev, props in _select_in(self.conn, "SELECT id, rev, properties FROM alpha_user "
                                                     "WHERE id IN ({marks})", wanted):
            out[oid] = (rev, _loads(props))
        self._grow_cache(len(out))
        return out

    def existing(self, ids: Iterable[str]) -> set[str]:
        """The ids among ``ids`` that exist."""
        out: set[str] = set()
        wanted = list(dict.fromkeys(ids))
        out.update(r[0] for r in _select_in(self.conn, "SELECT id FROM alpha_user WHERE id IN ({marks})", wanted))
        return out

    def iter_objects(self, batch: int = 1000) -> Iterator[ManagedObject]:
        """Every managed object, ordered by userName (read in batches, not all at once)."""
        last = ""
        while True:
            rows = self.conn.execute(
                "SELECT id, rev, properties, username_lower FROM alpha_user WHERE username_lower > ? "
                "ORDER BY username_lower LIMIT ?", (last, batch)).fetchall()
            if not rows:
                return
            for oid, rev, props, _ in rows:
                yield ManagedObject(oid, rev, _loads(props))
            last = rows[-1][3]

    def iter_ids(self) -> Iterator[str]:
        """Every managed object id (for the target phase over ``targetScope: all``)."""
        yield from (r[0] for r in self.conn.execute("SELECT id FROM alpha_user").fetchall())

    def create(self, properties: Mapping[str, Any], object_id: str | None = None) -> ManagedObject:
        """Create one object (schema enforced, defaults filled); raises ``ManagedObjectInvalid``."""
        props = ALPHA_USER.with_defaults(dict(properties))
        oid = object_id or new_object_id()
        if object_id is not None and self.get(object_id) is not None:
            raise ManagedObjectInvalid(f"managed/alpha_user/{object_id} already exists", object_id=object_id,
                                       hint="Update it instead, or create without an id to get a new one")
        self._check(oid, props)
        with self.transaction() as conn:
            self._insert(conn, [Create(oid, props)])
        return ManagedObject(oid, 1, props)

    def update(self, object_id: str, properties: Mapping[str, Any]) -> ManagedObject:
        """Replace the properties of one object (rev + 1); raises ``ManagedObjectInvalid``."""
        current = self.get(object_id)
        if current is None:
            raise ManagedObjectInvalid(f"managed/alpha_user/{object_id} does not exist", object_id=object_id,
                                       hint="List objects with `idmctl identities search`")
        props = dict(properties)
        self._check(object_id, props)
        with self.transaction() as conn:
            self._update(conn, [Update(object_id, current.rev + 1, props, current.properties)])
        return ManagedObject(object_id, current.rev + 1, props)

    def delete(self, object_id: str) -> ManagedObject | None:
        """Delete one object; its links stay (a later run sees them as LINK_ONLY or MISSING)."""
        current = self.get(object_id)
        if current is None:
            return None
        with self.transaction() as conn:
            self._delete(conn, [Delete(object_id, current.properties)])
        return current

    def _check(self, object_id: str, props: Mapping[str, Any]) -> None:
        check_object(self, object_id, props)

    def usernames_taken(self, user_names: Iterable[str]) -> dict[str, str]:
        """``{userName lowered: object id}`` for the userNames (any case) already used."""
        keys = list(dict.fromkeys(u.lower() for u in user_names))
        return dict(_select_in(self.conn, "SELECT username_lower, id FROM alpha_user "
                                         "WHERE username_lower IN ({marks})", keys))

    # -- correlation indexes -----------------------------------------------------------------------

    def indexed_props(self) -> set[str]:
        if self._indexed is None:
            self._indexed = {r[0] for r in self.conn.execute("SELECT prop FROM managed_indexed")}
        return self._indexed

    def ensure_indexed(self, props: Iterable[str]) -> list[str]:
        """Index ``props`` for correlation (backfilling existing objects); returns the newly indexed."""
        new = [p for p in dict.fromkeys(props) if p != ALPHA_USER.unique_ci and p not in self.indexed_props()]
        if not new:
            return []
        with self.transaction() as conn:
            conn.executemany("INSERT OR IGNORE INTO managed_indexed (prop) VALUES (?)", [(p,) for p in new])
            rows: list[tuple[str, str, str]] = []
            for oid, props_json in conn.execute("SELECT id, properties FROM alpha_user").fetchall():
                props_obj = _loads(props_json)
                for prop in new:
                    rows.extend((prop, key, oid) for key in index_keys(props_obj.get(prop)))
            rows.sort()  # in the index's key order: appended, whatever the page cache holds
            conn.executemany("INSERT OR IGNORE INTO managed_index VALUES (?, ?, ?)", rows)
        self._indexed = None
        self._scans.clear()
        return new

    def find(self, prop: str, values: Iterable[Any]) -> dict[Any, list[str]]:
        """Correlation: ``{value: [object ids]}`` of objects whose ``prop`` equals a value, ignoring case.

        Served by an index (userName's column, or ``managed_index``); a property without one is
        answered by one scan, kept for the life of this store object (a dry run must not write).
        """
        by_key = by_index_key(values)
        if not by_key:
            return {}
        keys = list(by_key)
        hits: dict[str, list[str]] = {}
        if prop == ALPHA_USER.unique_ci:
            for key, oid in _select_in(self.conn, "SELECT username_lower, id FROM alpha_user "
                                                  "WHERE username_lower IN ({marks})", keys):
                hits.setdefault(key, []).append(oid)
        elif prop in self.indexed_props():
            for key, oid in _select_in(self.conn, "SELECT value_lower, object_id FROM managed_index "
                                                  "WHERE prop = ? AND value_lower IN ({marks})", keys, prop):
                hits.setdefault(key, []).append(oid)
        else:
            scan = self._scans.get(prop)
            if scan is None:
                scan = {}
                for oid, props_json in self.conn.execute("SELECT id, properties FROM alpha_user"):
                    for key in index_keys(_loads(props_json).get(prop)):
                        scan.setdefault(key, []).append(oid)
                self._scans[prop] = scan
            hits = {k: scan[k] for k in keys if k in scan}
        return hits_by_value(hits, by_key)

    # -- links -------------------------------------------------------------------------------------

    def link_count(self, mapping: str) -> int:
        return int(self.conn.execute("SELECT count(*) FROM links WHERE mapping = ?", (mapping,)).fetchone()[0])

    def links_for_sources(self, mapping: str, source_ids: Iterable[str]) -> dict[str, str]:
        """``{source id: target id}`` of the links of ``mapping`` for these sources."""
        return dict(_select_in(self.conn, "SELECT source_id, target_id FROM links "
                                         "WHERE mapping = ? AND source_id IN ({marks})", list(source_ids), mapping))

    def linked_objects(self, mapping: str, source_ids: Iterable[str]
                       ) -> dict[str, tuple[str, tuple[int, dict[str, Any]] | None]]:
        # One join instead of links_for_sources and then get_many: an incremental run's 5,000 changed
        # users cost 8% fewer instructions (one statement, one row and one IN list per source, not two).
        out: dict[str, tuple[str, tuple[int, dict[str, Any]] | None]] = {}
        for sid, tid, rev, props in _select_in(
                self.conn, "SELECT l.source_id, l.target_id, a.rev, a.properties FROM links l "
                           "LEFT JOIN alpha_user a ON a.id = l.target_id "
                           "WHERE l.mapping = ? AND l.source_id IN ({marks})", list(source_ids), mapping):
            out[sid] = (tid, None if rev is None else (rev, _loads(props)))
        self._grow_cache(len(out))
        return out

    def links_for_targets(self, mapping: str, target_ids: Iterable[str]) -> dict[str, str]:
        """``{target id: source id}`` of the links of ``mapping`` for these targets."""
        return dict(_select_in(self.conn, "SELECT target_id, source_id FROM links "
                                         "WHERE mapping = ? AND target_id IN ({marks})",
                              list(dict.fromkeys(target_ids)), mapping))

    def iter_links(self, mapping: str, batch: int = 5000) -> Iterator[list[tuple[str, str]]]:
        """Every link of ``mapping`` as ``(source id, target id)``, by source id, in lists of ``batch``.

        Each list is its own query resuming after the last source id (the primary key's order, so no
        sort), so the caller may write between lists; links it adds or removes meanwhile may or may
        not be seen.
        """
        last = ""
        while True:
            rows = self.conn.execute(
                "SELECT source_id, target_id FROM links WHERE mapping = ? AND source_id > ? "
                "ORDER BY source_id LIMIT ?", (mapping, last, batch)).fetchall()
            if rows:
                yield rows
            if len(rows) < batch:
                return
            last = rows[-1][0]

    def links_of_mapping(self, mapping: str) -> dict[str, str]:
        # No ORDER BY: in source-id order every row is a jump into the table (100,000 links: 0.15-0.20
        # CPU s); in the order SQLite picks (the target-id index, as ids are time-ordered) 0.08 s.
        return dict(self.conn.execute("SELECT source_id, target_id FROM links WHERE mapping = ?", (mapping,)))

    def links_of_object(self, object_id: str) -> list[tuple[str, str]]:
        """``[(mapping, source id)]`` of every link that points at ``object_id``."""
        return self.conn.execute(
            "SELECT mapping, source_id FROM links WHERE target_id = ? ORDER BY mapping", (object_id,)
        ).fetchall()

    def rename_mapping(self, old: str, new: str) -> int:
        """Carry links, delta state and retry marks of mapping ``old`` over to ``new`` (``renamedFrom``)."""
        # Every link moves in the (mapping, target_id) index, in no order of it: bulk work (300,000
        # links: 4.9 CPU s with the bulk cache, 8.5 s with the small one).
        self._set_cache(bulk=True)
        with self.transaction() as conn:
            moved = conn.execute("UPDATE links SET mapping = ? WHERE mapping = ?", (new, old)).rowcount
            conn.execute("UPDATE sync_tokens SET mapping = ? WHERE mapping = ? AND NOT EXISTS "
                         "(SELECT 1 FROM sync_tokens WHERE mapping = ?)", (new, old, new))
            conn.execute("DELETE FROM sync_tokens WHERE mapping = ?", (old,))
            conn.execute("UPDATE OR IGNORE recon_retry SET mapping = ? WHERE mapping = ?", (new, old))
            conn.execute("DELETE FROM recon_retry WHERE mapping = ?", (old,))
        return int(moved)

    # -- batched writes ----------------------------------------------------------------------------

    def apply(self, mapping: str, run_id: str, batch: WriteBatch, seq: int) -> int:
        """Write one batch in one transaction; entries are numbered from ``seq``; returns the next seq.

        The caller has validated objects with ``ALPHA_USER.schema_error`` and checked userName
        uniqueness, so a broken constraint here means another writer got there first (or a bug): the
        batch rolls back and a ``ManagedObjectInvalid`` names the object and what collided.
        """
        try:
            seq = self._apply(mapping, run_id, batch, seq)
        except sqlite3.IntegrityError as exc:
            raise self._collision(mapping, batch, exc) from None
        self._grow_cache(len(batch.creates) + len(batch.updates) + len(batch.deletes)
                         + len(batch.links_add) + len(batch.links_remove))
        return seq

    def _grow_cache(self, rows: int) -> None:
        """The bulk page cache once this run (or command) has read by id or written more objects and
        links than the file has pages. An incremental round of a few thousand changes touches each
        table page about once and the smaller index B-trees' pages a few times, which a small cache
        serves as well as a large one: most of what a large cache would keep is memory the process
        touches for the first time. Past the file's page count the work comes back to the same pages
        over and over (random inserts into the same index pages; a run that went full when its delta
        link expired, looking up every linked object), and a small cache would read, and write, each
        of them again every time."""
        self._rows_touched += rows
        if not self._bulk_cache and self._rows_touched > int(self.conn.execute("PRAGMA page_count").fetchone()[0]):
            self._set_cache(bulk=True)

    def _set_cache(self, *, bulk: bool) -> None:
        if bulk != self._bulk_cache:
            self.conn.execute(f"PRAGMA cache_size = -{BULK_CACHE_KIB if bulk else CACHE_KIB}")
            self._bulk_cache = bulk

    def _collision(self, mapping: str, batch: WriteBatch, exc: sqlite3.IntegrityError) -> ManagedObjectInvalid:
        return batch_collision(self, mapping, batch, str(exc))

    def _apply(self, mapping: str, run_id: str, batch: WriteBatch, seq: int) -> int:
        now = _now()
        with self.transaction() as conn:
            if batch.links_remove:
                conn.executemany("DELETE FROM links WHERE mapping = ? AND source_id = ?",
                                 [(mapping, s) for s in batch.links_remove])
            # Decision order within a batch is kept per kind; updates go before creates so that a
            # userName one object gives up can be taken by a new one in the same batch.
            if batch.deletes:
                self._delete(conn, batch.deletes)
            if batch.updates:
                self._update(conn, batch.updates)
            if batch.creates:
                self._insert(conn, batch.creates)
            if batch.links_add:
                conn.executemany("INSERT INTO links (mapping, source_id, target_id, created) VALUES (?, ?, ?, ?)",
                                 [(mapping, s, t, now) for s, t in batch.links_add])
            if batch.entries:
                conn.executemany(
                    "INSERT INTO recon_entries (run_id, seq, phase, source_id, target_id, situation, action, "
                    "status, message, changes, label) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(run_id, seq + i, *row) for i, row in enumerate(batch.entries)])
                seq += len(batch.entries)
            if batch.retry_remove:
                conn.executemany("DELETE FROM recon_retry WHERE mapping = ? AND source_id = ?",
                                 [(mapping, s) for s in batch.retry_remove])
            if batch.retry_add:
                conn.executemany(
                    "INSERT INTO recon_retry (mapping, source_id, reason, run_id, attempts) VALUES (?, ?, ?, ?, 1) "
                    "ON CONFLICT (mapping, source_id) DO UPDATE SET reason = excluded.reason, "
                    "run_id = excluded.run_id, attempts = attempts + 1",
                    [(mapping, s, reason, run_id) for s, reason in batch.retry_add])
        return seq

    def _index_rows(self, items: Iterable[tuple[str, Mapping[str, Any]]]) -> list[tuple[str, str, str]]:
        indexed = self.indexed_props()
        if not indexed:
            return []
        rows: list[tuple[str, str, str]] = []
        for oid, props in items:
            for prop in indexed:
                value = props.get(prop)
                if value is not None:
                    rows.extend((prop, key, oid) for key in index_keys(value))
        return rows

    def _insert(self, conn: sqlite3.Connection, creates: Sequence[Create]) -> None:
        conn.executemany(
            "INSERT INTO alpha_user (id, rev, username_lower, properties) VALUES (?, 1, ?, ?)",
            [(oid, props["userName"].lower(), _dumps(props)) for oid, props in creates])
        rows = self._index_rows(creates)
        if rows:
            conn.executemany("INSERT OR IGNORE INTO managed_index VALUES (?, ?, ?)", rows)
        self._scans.clear()

    def _update(self, conn: sqlite3.Connection, updates: Sequence[Update]) -> None:
        # Most updates keep their userName: setting username_lower anyway makes SQLite rewrite its unique
        # index entry (5,000 random updates of 100,000 rows: 0.11 CPU s with it, 0.075 without). Order
        # between the two statements does not matter: only renames touch that index.
        renamed: list[tuple[int, str, str, str]] = []
        kept: list[tuple[int, str, str]] = []
        for oid, rev, props, old in updates:
            low = props["userName"].lower()
            if low == str(old.get("userName", "")).lower():
                kept.append((rev, _dumps(props), oid))
            else:
                renamed.append((rev, low, _dumps(props), oid))
        if renamed:
            conn.executemany("UPDATE alpha_user SET rev = ?, username_lower = ?, properties = ? WHERE id = ?", renamed)
        if kept:
            conn.executemany("UPDATE alpha_user SET rev = ?, properties = ? WHERE id = ?", kept)
        old_rows = self._index_rows((oid, old) for oid, _, _, old in updates)
        if old_rows:
            conn.executemany("DELETE FROM managed_index WHERE prop = ? AND value_lower = ? AND object_id = ?",
                             old_rows)
        new_rows = self._index_rows((oid, new) for oid, _, new, _ in updates)
        if new_rows:
            conn.executemany("INSERT OR IGNORE INTO managed_index VALUES (?, ?, ?)", new_rows)
        self._scans.clear()

    def _delete(self, conn: sqlite3.Connection, deletes: Sequence[Delete]) -> None:
        conn.executemany("DELETE FROM alpha_user WHERE id = ?", [(oid,) for oid, _ in deletes])
        rows = self._index_rows(deletes)
        if rows:
            conn.executemany("DELETE FROM managed_index WHERE prop = ? AND value_lower = ? AND object_id = ?",
                             rows)
        self._scans.clear()

    # -- runs --------------------------------------------------------------------------------------

    def start_run(self, run_id: str, mapping: str, mode: RunMode, *, started: str,
                  full_because: str | None = None, holder: str | None = None) -> None:
        # A full run reads every linked object, and may write every account: the bulk cache. Anything
        # else starts small again, in a process that runs many (``schedule run``): SQLite releases the
        # pages an earlier run kept, and that run's reads and writes do not count towards this one's.
        self._rows_touched = 0
        self._set_cache(bulk=mode == RunMode.FULL)
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO recon_runs (id, mapping, mode, state, started, full_because, holder) "
                "VALUES (?, ?, ?, 'ACTIVE', ?, ?, ?)", (run_id, mapping, mode, started, full_because, holder))

    def finish_run(self, run_id: str, *, state: RunState, counts: Mapping[str, Any], processed: int,
                   failures: int, ended: str, reason: str | None = None, mode: RunMode | None = None,
                   full_because: str | None = None,
                   delta: tuple[str, str, str] | None = None) -> None:
        """Close a run; with ``delta=(mapping, link, hash)`` store the delta link in the same transaction."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE recon_runs SET state = ?, counts = ?, processed = ?, failures = ?, ended = ?, "
                "reason = ?, mode = coalesce(?, mode), full_because = coalesce(?, full_because) WHERE id = ?",
                (state, _dumps(dict(counts)), processed, failures, ended, reason, mode, full_because, run_id))
            if delta is not None:
                mapping, link, digest = delta
                conn.execute(
                    "INSERT INTO sync_tokens (mapping, delta_link, select_hash, updated) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (mapping) DO UPDATE SET delta_link = excluded.delta_link, "
                    "select_hash = excluded.select_hash, updated = excluded.updated",
                    (mapping, link, digest, ended))

    def fail_interrupted_runs(self, mapping: str) -> list[str]:
        """Mark runs of ``mapping`` left ACTIVE by a process that died as FAILED; returns their ids.

        Call this only while holding the environment lock: then no other run can be active.
        """
        with self.transaction() as conn:
            ids = [r[0] for r in conn.execute(
                "SELECT id FROM recon_runs WHERE mapping = ? AND state = 'ACTIVE'", (mapping,))]
            conn.executemany(
                "UPDATE recon_runs SET state = 'FAILED', ended = ?, reason = ? WHERE id = ?",
                [(_now(), "interrupted: the process ended before the run finished (its committed "
                  "batches are kept; the next run converges)", rid) for rid in ids])
        return ids

    def _run(self, row: Sequence[Any]) -> RunRecord:
        return RunRecord(row[0], row[1], RunMode(row[2]), RunState(row[3]), _loads(row[4]), row[5], row[6],
                         row[7], row[8], row[9], row[10])

    _RUN_COLUMNS = "id, mapping, mode, state, counts, processed, failures, started, ended, reason, full_because"

    def list_runs(self, mapping: str | None = None, limit: int | None = None) -> list[RunRecord]:
        """Runs, newest first."""
        sql = f"SELECT {self._RUN_COLUMNS} FROM recon_runs"
        params: list[Any] = []
        if mapping:
            sql += " WHERE mapping = ?"
            params.append(mapping)
        sql += " ORDER BY started DESC, rowid DESC"
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        return [self._run(r) for r in self.conn.execute(sql, params)]

    def get_run(self, run_id: str) -> RunRecord | None:
        """A run by id, or by a unique prefix of its id (at least 4 characters)."""
        row = self.conn.execute(f"SELECT {self._RUN_COLUMNS} FROM recon_runs WHERE id = ?", (run_id,)).fetchone()
        if row is None and len(run_id) >= 4:
            rows = self.conn.execute(f"SELECT {self._RUN_COLUMNS} FROM recon_runs WHERE id LIKE ? ESCAPE '\\' "
                                     "LIMIT 2", (run_id.replace("%", r"\%").replace("_", r"\_") + "%",)).fetchall()
            if len(rows) == 2:
                raise StateError(f"run id prefix {run_id!r} is ambiguous", hint="Give more characters of the id")
            row = rows[0] if rows else None
        return None if row is None else self._run(row)

    def entries(self, run_id: str, *, situation: str | None = None, action: str | None = None,
                status: str | None = None, limit: int | None = None) -> list[RunEntry]:
        """The entries of a run in order, optionally only those of one situation, action or status."""
        sql = ("SELECT seq, phase, source_id, target_id, situation, action, status, message, changes, label "
               "FROM recon_entries WHERE run_id = ?")
        params: list[Any] = [run_id]
        for column, value in (("situation", situation), ("action", action), ("status", status)):
            if value:
                sql += f" AND {column} = ?"
                params.append(value.upper())
        sql += " ORDER BY seq"
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        return [
            RunEntry(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], _loads(r[8]) if r[8] else None, r[9])
            for r in self.conn.execute(sql, params)
        ]

    def prune_runs(self, *, keep: int | None = None, older_than_days: float | None = None,
                   mapping: str | None = None, dry_run: bool = False) -> list[str]:
        """Delete finished runs (and their entries) beyond the newest ``keep`` or older than the age."""
        doomed = runs_to_prune(self.list_runs(mapping), keep, older_than_days)
        if doomed and not dry_run:
            with self.transaction() as conn:
                conn.executemany("DELETE FROM recon_entries WHERE run_id = ?", [(d,) for d in doomed])
                conn.executemany("DELETE FROM recon_runs WHERE id = ?", [(d,) for d in doomed])
        return doomed

    def deletes_since(self, mapping: str, since: str) -> int:
        row = self.conn.execute(
            "SELECT coalesce(sum(json_extract(counts, '$.deletes')), 0) FROM recon_runs "
            "WHERE mapping = ? AND state = 'SUCCESS' AND ended >= ?", (mapping, since)).fetchone()
        return int(row[0])

    # -- delta state and retries -------------------------------------------------------------------

    def delta_state(self, mapping: str) -> tuple[str, str] | None:
        """``(delta link, select hash)`` stored for ``mapping``, or None."""
        row = self.conn.execute("SELECT delta_link, select_hash FROM sync_tokens WHERE mapping = ?",
                                (mapping,)).fetchone()
        return None if row is None else (row[0], row[1])

    def retry_queue(self, mapping: str) -> list[tuple[str, str, int]]:
        """``[(source id, reason, attempts)]`` waiting to be re-read by id."""
        return self.conn.execute(
            "SELECT source_id, reason, attempts FROM recon_retry WHERE mapping = ? ORDER BY source_id", (mapping,)
        ).fetchall()

    def retry_marks(self, mapping: str) -> list[RetryMark]:
        """``[(source id, reason, attempts, runs since)]``: runs since = runs of ``mapping`` started after
        the run that last wrote the mark (None when that run's record was pruned). For retry back-off."""
        runs = [r[0] for r in self.conn.execute("SELECT id FROM recon_runs WHERE mapping = ? ORDER BY rowid",
                                                (mapping,))]
        position = {rid: i for i, rid in enumerate(runs)}
        last = len(runs) - 1
        return [RetryMark(sid, reason, attempts, last - position[rid] if rid in position else None)
                for sid, reason, attempts, rid in self.conn.execute(
                    "SELECT source_id, reason, attempts, run_id FROM recon_retry WHERE mapping = ? "
                    "ORDER BY source_id", (mapping,))]

    def prune_retries(self, mapping: str, keep_run: str) -> int:
        """After a complete full run: forget retry marks that run did not renew (gone or out of scope)."""
        with self.transaction() as conn:
            return int(conn.execute("DELETE FROM recon_retry WHERE mapping = ? AND run_id != ?",
                                    (mapping, keep_run)).rowcount)
