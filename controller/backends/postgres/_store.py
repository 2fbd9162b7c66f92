"""The embedded platform's store in PostgreSQL: managed objects, links, runs and their entries, delta state.

The same data and guarantees as the SQLite store, in the environment's schema. One ``apply`` is one
transaction holding objects, links, entries and retry marks together, bulk rows going in by ``COPY``
and the rest by pipelined ``executemany``; the delta link is written only in ``finish_run``'s
transaction, after every batch of the run. Several writers may share the database, so nothing is
read-then-write: the userName pre-check is advice for a good message, the ``UNIQUE`` indexes are the
final word (a violation rolls the batch back and becomes a ``ManagedObjectInvalid`` naming the
object), and a deadlock or serialization failure retries the batch, which was rolled back whole.
Inside ``fenced(lease)`` every write transaction first checks the lease, holding the lock row
``FOR SHARE`` until it commits.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg

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
from controller.backends.postgres._database import Connection, Database
from controller.config.managed import ALPHA_USER, index_keys
from controller.config.models import RunMode, RunState
from controller.errors import ManagedObjectInvalid, StateError

__all__ = ["PostgresStore"]

_CHUNK = 5000  # keys per = ANY(%s) array
_RETRIES = 3  # a batch that hit a deadlock or serialization failure is tried again this often
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

Fence = Callable[[LockLease, Connection], None]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def _props(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else json.loads(value)


class PostgresStore:
    """Managed objects, links, runs, entries, retry marks and delta links in one schema."""

    def __init__(self, db: Database, schedules: ScheduleStateStore, fence: Fence | None = None) -> None:
        self.db = db
        self.schedules = schedules
        self._check_lease = fence
        self._lease: LockLease | None = None
        self._indexed: set[str] | None = None
        self._scans: dict[str, dict[str, list[str]]] = {}

    # -- transactions ------------------------------------------------------------------------------

    @contextmanager
    def fenced(self, lease: LockLease) -> Iterator[None]:
        previous = self._lease
        self._lease = lease
        try:
            yield
        finally:
            self._lease = previous

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One write transaction (a savepoint inside one this thread holds), fenced when asked."""
        with self.db.transaction() as conn:
            if self._lease is not None and self._check_lease is not None:
                self._check_lease(self._lease, conn)
            yield conn

    def _rows(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[tuple[Any, ...]]:
        with self.db.transaction() as conn:
            return conn.execute(sql, params).fetchall()

    def _select_any(self, sql: str, keys: Sequence[Any], *prefix: Any) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` (whose last parameter is an array for ``= ANY(%s)``) over ``keys``, chunk by chunk."""
        if not keys:
            return []
        out: list[tuple[Any, ...]] = []
        with self.db.transaction() as conn:
            for chunk in _chunks(keys):
                out.extend(conn.execute(sql, (*prefix, chunk)).fetchall())
        return out

    # -- managed objects ---------------------------------------------------------------------------

    def count(self) -> int:
        return int(self._rows("SELECT count(*) FROM alpha_user")[0][0])

    def get(self, object_id: str) -> ManagedObject | None:
        rows = self._rows("SELECT id, rev, properties FROM alpha_user WHERE id = %s", (object_id,))
        return None if not rows else ManagedObject(rows[0][0], rows[0][1], _props(rows[0][2]))

    def get_many(self, ids: Iterable[str]) -> dict[str, tuple[int, dict[str, Any]]]:
        wanted = list(dict.fromkeys(ids))
        return {oid: (rev, _props(props)) for oid, rev, props in
                self._select_any("SELECT id, rev, properties FROM alpha_user WHERE id = ANY(%s)", wanted)}

    def existing(self, ids: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(ids))
        return {r[0] for r in self._select_any("SELECT id FROM alpha_user WHERE id = ANY(%s)", wanted)}

    def iter_objects(self, batch: int = 1000) -> Iterator[ManagedObject]:
        """Every managed object, ordered by userName (read in batches, not all at once)."""
        last = ""
        while True:
            rows = self._rows("SELECT id, rev, properties, username_lower FROM alpha_user WHERE username_lower > %s "
                              "ORDER BY username_lower LIMIT %s", (last, batch))
            if not rows:
                return
            for oid, rev, props, _ in rows:
                yield ManagedObject(oid, rev, _props(props))
            last = rows[-1][3]

    def iter_ids(self) -> Iterator[str]:
        yield from (r[0] for r in self._rows("SELECT id FROM alpha_user"))

    def create(self, properties: Mapping[str, Any], object_id: str | None = None) -> ManagedObject:
        props = ALPHA_USER.with_defaults(dict(properties))
        oid = object_id or new_object_id()
        if object_id is not None and self.get(object_id) is not None:
            raise ManagedObjectInvalid(f"managed/alpha_user/{object_id} already exists", object_id=object_id,
                                       hint="Update it instead, or create without an id to get a new one")
        self._check(oid, props)
        try:
            with self.transaction() as conn:
                self._insert(conn, [Create(oid, props)])
        except psycopg.errors.UniqueViolation as exc:
            raise self._collision("", WriteBatch(creates=[Create(oid, props)]), exc) from None
        return ManagedObject(oid, 1, props)

    def update(self, object_id: str, properties: Mapping[str, Any]) -> ManagedObject:
        props = dict(properties)
        try:
            with self.transaction() as conn:
                row = conn.execute("SELECT rev, properties FROM alpha_user WHERE id = %s FOR UPDATE",
                                   (object_id,)).fetchone()
                if row is None:
                    raise ManagedObjectInvalid(f"managed/alpha_user/{object_id} does not exist", object_id=object_id,
                                               hint="List objects with `idmctl identities search`")
                self._check(object_id, props)
                rev = int(row[0]) + 1
                self._update(conn, [Update(object_id, rev, props, _props(row[1]))])
        except psycopg.errors.UniqueViolation as exc:
            raise self._collision("", WriteBatch(updates=[Update(object_id, 0, props, {})]), exc) from None
        return ManagedObject(object_id, rev, props)

    def delete(self, object_id: str) -> ManagedObject | None:
        with self.transaction() as conn:
            row = conn.execute("DELETE FROM alpha_user WHERE id = %s RETURNING rev, properties",
                               (object_id,)).fetchone()
            if row is None:
                return None
            current = ManagedObject(object_id, int(row[0]), _props(row[1]))
            self._unindex(conn, [(object_id, current.properties)])
        self._scans.clear()
        return current

    def _check(self, object_id: str, props: Mapping[str, Any]) -> None:
        check_object(self, object_id, props)

    def usernames_taken(self, user_names: Iterable[str]) -> dict[str, str]:
        keys = list(dict.fromkeys(u.lower() for u in user_names))
        return dict(self._select_any(
            "SELECT username_lower, id FROM alpha_user WHERE username_lower = ANY(%s)", keys))

    # -- correlation indexes -----------------------------------------------------------------------

    def indexed_props(self) -> set[str]:
        if self._indexed is None:
            self._indexed = {r[0] for r in self._rows("SELECT prop FROM managed_indexed")}
        return self._indexed

    def ensure_indexed(self, props: Iterable[str]) -> list[str]:
        """Index ``props`` for correlation, backfilling existing objects by ``COPY``; returns the newly indexed."""
        new = [p for p in dict.fromkeys(props) if p != ALPHA_USER.unique_ci and p not in self.indexed_props()]
        if not new:
            return []
        with self.transaction() as conn:
            added = [r[0] for r in conn.execute(
                "INSERT INTO managed_indexed (prop) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING RETURNING prop",
                (new,)).fetchall()]
            if added:
                rows: list[tuple[str, str, str]] = []
                with conn.cursor(name="idmctl_backfill") as cur:  # server-side: not every object in memory
                    cur.itersize = 5000
                    cur.execute("SELECT id, properties FROM alpha_user")
                    for oid, props_json in cur:
                        props_obj = _props(props_json)
                        for prop in added:
                            rows.extend((prop, key, oid) for key in index_keys(props_obj.get(prop)))
                self._copy_ignore(conn, "managed_index", ("prop", "value_lower", "object_id"), rows)
        self._indexed = None
        self._scans.clear()
        return [p for p in new if p in added]

    def find(self, prop: str, values: Iterable[Any]) -> dict[Any, list[str]]:
        by_key = by_index_key(values)
        if not by_key:
            return {}
        keys = list(by_key)
        hits: dict[str, list[str]] = {}
        if prop == ALPHA_USER.unique_ci:
            for key, oid in self._select_any("SELECT username_lower, id FROM alpha_user "
                                             "WHERE username_lower = ANY(%s)", keys):
                hits.setdefault(key, []).append(oid)
        elif prop in self.indexed_props():
            for key, oid in self._select_any("SELECT value_lower, object_id FROM managed_index "
                                             "WHERE prop = %s AND value_lower = ANY(%s)", keys, prop):
                hits.setdefault(key, []).append(oid)
        else:
            scan = self._scans.get(prop)
            if scan is None:
                scan = {}
                for oid, props_json in self._rows("SELECT id, properties FROM alpha_user"):
                    for key in index_keys(_props(props_json).get(prop)):
                        scan.setdefault(key, []).append(oid)
                self._scans[prop] = scan
            hits = {k: scan[k] for k in keys if k in scan}
        return hits_by_value(hits, by_key)

    # -- links -------------------------------------------------------------------------------------

    def link_count(self, mapping: str) -> int:
        return int(self._rows("SELECT count(*) FROM links WHERE mapping = %s", (mapping,))[0][0])

    def links_for_sources(self, mapping: str, source_ids: Iterable[str]) -> dict[str, str]:
        return dict(self._select_any(
            "SELECT source_id, target_id FROM links WHERE mapping = %s AND source_id = ANY(%s)",
            list(dict.fromkeys(source_ids)), mapping))

    def links_for_targets(self, mapping: str, target_ids: Iterable[str]) -> dict[str, str]:
        return dict(self._select_any(
            "SELECT target_id, source_id FROM links WHERE mapping = %s AND target_id = ANY(%s)",
            list(dict.fromkeys(target_ids)), mapping))

    def linked_objects(self, mapping: str, source_ids: Iterable[str]
                       ) -> dict[str, tuple[str, tuple[int, dict[str, Any]] | None]]:
        return {sid: (tid, None if rev is None else (rev, _props(props))) for sid, tid, rev, props in
                self._select_any("SELECT l.source_id, l.target_id, a.rev, a.properties FROM links l "
                                 "LEFT JOIN alpha_user a ON a.id = l.target_id "
                                 "WHERE l.mapping = %s AND l.source_id = ANY(%s)",
                                 list(dict.fromkeys(source_ids)), mapping)}

    def iter_links(self, mapping: str, batch: int = 5000) -> Iterator[list[tuple[str, str]]]:
        last = ""
        while True:
            rows = self._rows("SELECT source_id, target_id FROM links WHERE mapping = %s AND source_id > %s "
                              "ORDER BY source_id LIMIT %s", (mapping, last, batch))
            if rows:
                yield [(r[0], r[1]) for r in rows]
            if len(rows) < batch:
                return
            last = rows[-1][0]

    def links_of_mapping(self, mapping: str) -> dict[str, str]:
        return {r[0]: r[1] for r in self._rows("SELECT source_id, target_id FROM links WHERE mapping = %s",
                                               (mapping,))}

    def links_of_object(self, object_id: str) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self._rows(
            "SELECT mapping, source_id FROM links WHERE target_id = %s ORDER BY mapping", (object_id,))]

    def rename_mapping(self, old: str, new: str) -> int:
        with self.transaction() as conn:
            moved = conn.execute("UPDATE links SET mapping = %s WHERE mapping = %s", (new, old)).rowcount
            conn.execute("UPDATE sync_tokens SET mapping = %s WHERE mapping = %s AND NOT EXISTS "
                         "(SELECT 1 FROM sync_tokens WHERE mapping = %s)", (new, old, new))
            conn.execute("DELETE FROM sync_tokens WHERE mapping = %s", (old,))
            conn.execute("UPDATE recon_retry r SET mapping = %s WHERE mapping = %s AND NOT EXISTS "
                         "(SELECT 1 FROM recon_retry n WHERE n.mapping = %s AND n.source_id = r.source_id)",
                         (new, old, new))
            conn.execute("DELETE FROM recon_retry WHERE mapping = %s", (old,))
        return int(moved)

    # -- batched writes ----------------------------------------------------------------------------

    def apply(self, mapping: str, run_id: str, batch: WriteBatch, seq: int) -> int:
        """Write one batch in one transaction; entries are numbered from ``seq``; returns the next seq.

        A broken ``UNIQUE`` constraint (another writer got there first) rolls the batch back and raises a
        ``ManagedObjectInvalid`` naming the object; a deadlock or serialization failure tries it again.
        """
        for attempt in range(_RETRIES + 1):
            try:
                return self._apply(mapping, run_id, batch, seq)
            except psycopg.errors.IntegrityError as exc:
                raise self._collision(mapping, batch, exc) from None
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
                if attempt == _RETRIES:
                    raise StateError(f"a write batch of mapping {mapping!r} kept meeting concurrent writers "
                                     f"(deadlock) {_RETRIES + 1} times; it was rolled back",
                                     hint="Run again; writers of one environment should hold its lock") from None
        raise AssertionError("unreachable")

    def _collision(self, mapping: str, batch: WriteBatch, exc: psycopg.Error) -> ManagedObjectInvalid:
        return batch_collision(self, mapping, batch, exc.diag.message_primary or type(exc).__name__)

    def _apply(self, mapping: str, run_id: str, batch: WriteBatch, seq: int) -> int:
        now = _now()
        with self.transaction() as conn, conn.cursor() as cur:
            if batch.links_remove:
                cur.executemany("DELETE FROM links WHERE mapping = %s AND source_id = %s",
                                [(mapping, s) for s in batch.links_remove])
            # Updates go before creates so that a userName one object gives up can be taken by a new one.
            if batch.deletes:
                self._delete(conn, batch.deletes)
            if batch.updates:
                self._update(conn, batch.updates)
            if batch.creates:
                self._insert(conn, batch.creates)
            if batch.links_add:
                self._copy(conn, "links", ("mapping", "source_id", "target_id", "created"),
                           [(mapping, s, t, now) for s, t in batch.links_add])
            if batch.entries:
                self._copy(conn, "recon_entries", ("run_id", "seq", "phase", "source_id", "target_id", "situation",
                                                   "action", "status", "message", "changes", "label"),
                           [(run_id, seq + i, *row) for i, row in enumerate(batch.entries)])
                seq += len(batch.entries)
            if batch.retry_remove:
                cur.executemany("DELETE FROM recon_retry WHERE mapping = %s AND source_id = %s",
                                [(mapping, s) for s in batch.retry_remove])
            if batch.retry_add:
                cur.executemany(
                    "INSERT INTO recon_retry (mapping, source_id, reason, run_id, attempts) "
                    "VALUES (%s, %s, %s, %s, 1) ON CONFLICT (mapping, source_id) DO UPDATE SET "
                    "reason = excluded.reason, run_id = excluded.run_id, attempts = recon_retry.attempts + 1",
                    [(mapping, s, reason, run_id) for s, reason in batch.retry_add])
        return seq

    @staticmethod
    def _copy(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def _copy_ignore(self, conn: Connection, table: str, columns: Sequence[str],
                     rows: Sequence[Sequence[Any]]) -> None:
        """``COPY`` into a temporary table, then one ``INSERT ... ON CONFLICT DO NOTHING`` (a bulk INSERT OR IGNORE)."""
        if not rows:
            return
        if len(rows) < 500:
            with conn.cursor() as cur:
                cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                                f"({', '.join(['%s'] * len(columns))}) ON CONFLICT DO NOTHING", rows)
            return
        temp = f"idmctl_load_{table}"
        conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {temp} (LIKE {table}) ON COMMIT DELETE ROWS")
        self._copy(conn, temp, columns, rows)
        conn.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM {temp} "
                     "ON CONFLICT DO NOTHING")
        conn.execute(f"TRUNCATE {temp}")

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

    def _unindex(self, conn: Connection, items: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        rows = self._index_rows(items)
        if rows:
            with conn.cursor() as cur:
                cur.executemany("DELETE FROM managed_index WHERE prop = %s AND value_lower = %s AND object_id = %s",
                                rows)

    def _insert(self, conn: Connection, creates: Sequence[Create]) -> None:
        self._copy(conn, "alpha_user", ("id", "rev", "username_lower", "properties"),
                   [(oid, 1, props["userName"].lower(), _dumps(props)) for oid, props in creates])
        self._copy_ignore(conn, "managed_index", ("prop", "value_lower", "object_id"), self._index_rows(creates))
        self._scans.clear()

    def _update(self, conn: Connection, updates: Sequence[Update]) -> None:
        with conn.cursor() as cur:
            cur.executemany(
                "UPDATE alpha_user SET rev = %s, username_lower = %s, properties = %s::jsonb WHERE id = %s",
                [(rev, props["userName"].lower(), _dumps(props), oid) for oid, rev, props, _ in updates])
        self._unindex(conn, ((oid, old) for oid, _, _, old in updates))
        self._copy_ignore(conn, "managed_index", ("prop", "value_lower", "object_id"),
                          self._index_rows((oid, new) for oid, _, new, _ in updates))
        self._scans.clear()

    def _delete(self, conn: Connection, deletes: Sequence[Delete]) -> None:
        with conn.cursor() as cur:
            cur.executemany("DELETE FROM alpha_user WHERE id = %s", [(oid,) for oid, _ in deletes])
        self._unindex(conn, deletes)
        self._scans.clear()

    # -- runs --------------------------------------------------------------------------------------

    def start_run(self, run_id: str, mapping: str, mode: RunMode, *, started: str,
                  full_because: str | None = None, holder: str | None = None) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT INTO recon_runs (id, mapping, mode, state, started, full_because, holder) "
                         "VALUES (%s, %s, %s, 'ACTIVE', %s, %s, %s)",
                         (run_id, mapping, str(mode), started, full_because, holder))

    def finish_run(self, run_id: str, *, state: RunState, counts: Mapping[str, Any], processed: int,
                   failures: int, ended: str, reason: str | None = None, mode: RunMode | None = None,
                   full_because: str | None = None, delta: tuple[str, str, str] | None = None) -> None:
        """Close a run; with ``delta=(mapping, link, hash)`` store the delta link in the same transaction."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE recon_runs SET state = %s, counts = %s::jsonb, processed = %s, failures = %s, ended = %s, "
                "reason = %s, mode = coalesce(%s, mode), full_because = coalesce(%s, full_because) WHERE id = %s",
                (str(state), _dumps(dict(counts)), processed, failures, ended, reason,
                 None if mode is None else str(mode), full_because, run_id))
            if delta is not None:
                mapping, link, digest = delta
                conn.execute(
                    "INSERT INTO sync_tokens (mapping, delta_link, select_hash, updated) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (mapping) DO UPDATE SET delta_link = excluded.delta_link, "
                    "select_hash = excluded.select_hash, updated = excluded.updated",
                    (mapping, link, digest, ended))

    def fail_interrupted_runs(self, mapping: str) -> list[str]:
        with self.transaction() as conn:
            rows = conn.execute(
                "UPDATE recon_runs SET state = 'FAILED', ended = %s, reason = %s "
                "WHERE mapping = %s AND state = 'ACTIVE' RETURNING id, ord",
                (_now(), "interrupted: the process ended before the run finished (its committed batches are "
                 "kept; the next run converges)", mapping)).fetchall()
        return [r[0] for r in sorted(rows, key=lambda r: r[1])]

    _RUN_COLUMNS = "id, mapping, mode, state, counts, processed, failures, started, ended, reason, full_because"

    @staticmethod
    def _run(row: Sequence[Any]) -> RunRecord:
        return RunRecord(row[0], row[1], RunMode(row[2]), RunState(row[3]), _props(row[4]), row[5], row[6],
                         row[7], row[8], row[9], row[10])

    def list_runs(self, mapping: str | None = None, limit: int | None = None) -> list[RunRecord]:
        sql = f"SELECT {self._RUN_COLUMNS} FROM recon_runs"
        params: list[Any] = []
        if mapping:
            sql += " WHERE mapping = %s"
            params.append(mapping)
        sql += " ORDER BY started DESC, ord DESC"
        if limit:
            sql += " LIMIT %s"
            params.append(limit)
        return [self._run(r) for r in self._rows(sql, params)]

    def get_run(self, run_id: str) -> RunRecord | None:
        rows = self._rows(f"SELECT {self._RUN_COLUMNS} FROM recon_runs WHERE id = %s", (run_id,))
        if not rows and len(run_id) >= 4:
            pattern = run_id.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"
            rows = self._rows(f"SELECT {self._RUN_COLUMNS} FROM recon_runs WHERE id LIKE %s ESCAPE '\\' LIMIT 2",
                              (pattern,))
            if len(rows) == 2:
                raise StateError(f"run id prefix {run_id!r} is ambiguous", hint="Give more characters of the id")
        return None if not rows else self._run(rows[0])

    def entries(self, run_id: str, *, situation: str | None = None, action: str | None = None,
                status: str | None = None, limit: int | None = None) -> list[RunEntry]:
        sql = ("SELECT seq, phase, source_id, target_id, situation, action, status, message, changes, label "
               "FROM recon_entries WHERE run_id = %s")
        params: list[Any] = [run_id]
        for column, value in (("situation", situation), ("action", action), ("status", status)):
            if value:
                sql += f" AND {column} = %s"
                params.append(value.upper())
        sql += " ORDER BY seq"
        if limit:
            sql += " LIMIT %s"
            params.append(limit)
        return [RunEntry(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], json.loads(r[8]) if r[8] else None, r[9])
                for r in self._rows(sql, params)]

    def prune_runs(self, *, keep: int | None = None, older_than_days: float | None = None,
                   mapping: str | None = None, dry_run: bool = False) -> list[str]:
        doomed = runs_to_prune(self.list_runs(mapping), keep, older_than_days)
        if doomed and not dry_run:
            with self.transaction() as conn:
                conn.execute("DELETE FROM recon_entries WHERE run_id = ANY(%s)", (doomed,))
                conn.execute("DELETE FROM recon_runs WHERE id = ANY(%s)", (doomed,))
        return doomed

    def deletes_since(self, mapping: str, since: str) -> int:
        return int(self._rows(
            "SELECT coalesce(sum((counts->>'deletes')::bigint), 0) FROM recon_runs "
            "WHERE mapping = %s AND state = 'SUCCESS' AND ended >= %s", (mapping, since))[0][0])

    # -- delta state and retries -------------------------------------------------------------------

    def delta_state(self, mapping: str) -> tuple[str, str] | None:
        rows = self._rows("SELECT delta_link, select_hash FROM sync_tokens WHERE mapping = %s", (mapping,))
        return None if not rows else (rows[0][0], rows[0][1])

    def retry_queue(self, mapping: str) -> list[tuple[str, str, int]]:
        return [(r[0], r[1], r[2]) for r in self._rows(
            "SELECT source_id, reason, attempts FROM recon_retry WHERE mapping = %s ORDER BY source_id", (mapping,))]

    def retry_marks(self, mapping: str) -> list[RetryMark]:
        with self.db.transaction("repeatable read") as conn:
            runs = [r[0] for r in conn.execute("SELECT id FROM recon_runs WHERE mapping = %s ORDER BY ord",
                                               (mapping,)).fetchall()]
            marks = conn.execute("SELECT source_id, reason, attempts, run_id FROM recon_retry WHERE mapping = %s "
                                 "ORDER BY source_id", (mapping,)).fetchall()
        position = {rid: i for i, rid in enumerate(runs)}
        last = len(runs) - 1
        return [RetryMark(sid, reason, attempts, last - position[rid] if rid in position else None)
                for sid, reason, attempts, rid in marks]

    def prune_retries(self, mapping: str, keep_run: str) -> int:
        with self.transaction() as conn:
            return int(conn.execute("DELETE FROM recon_retry WHERE mapping = %s AND run_id <> %s",
                                    (mapping, keep_run)).rowcount)
