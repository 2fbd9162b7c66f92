"""``PostgresBackend``: an environment's state in one schema of a PostgreSQL database, shared by CI runners
and controller replicas.

It owns the schema's lifecycle (``init`` creates it; older versions are upgraded in place, in one
transaction, under a transaction-level advisory lock), the applied resources with serial and lineage,
the audit log and the environment lock. The embedded platform's store lives in the same schema and is
reached through ``store()``.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from controller.backends._process import check_force_unlock
from controller.backends._protocol import AppliedState, AuditEntry, JsonObject, LockLease, PlatformObject, format_time
from controller.backends.postgres import _lock, _schema
from controller.backends.postgres._database import Connection, Database
from controller.backends.postgres._schedules import PostgresScheduleState
from controller.backends.postgres._store import PostgresStore
from controller.errors import LockLost, StalePlanError, StateError, StateNotInitialized

__all__ = ["PostgresBackend"]


def _dumps(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers with arbitrary uids)
        return f"uid {os.getuid()}"


def _object(value: object) -> JsonObject:
    """A jsonb value as read (psycopg parses it) or as text."""
    if isinstance(value, dict):
        return value
    loaded = json.loads(str(value))
    assert isinstance(loaded, dict)
    return loaded


class PostgresBackend:
    """The state of environment ``env`` in schema ``db.schema`` of the database ``db`` connects to."""

    def __init__(self, env: str, db: Database) -> None:
        self.env = env
        self.db = db
        self.location = db.location
        self._store: PostgresStore | None = None

    def __repr__(self) -> str:
        return f"PostgresBackend(env={self.env!r}, location={self.location!r})"

    # --- lifecycle ---------------------------------------------------------------------------------

    def _advisory_lock(self, conn: Connection) -> None:
        """Serialise init and upgrades of this schema across every process (released at commit)."""
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"idmctl:init:{self.db.schema}",))

    @staticmethod
    def _has_meta(conn: Connection) -> bool:
        row = conn.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()
        if row is None or not row[0]:
            return False
        return conn.execute("SELECT 1 FROM meta WHERE id = 1").fetchone() is not None

    def exists(self) -> bool:
        with self.db.transaction() as conn:
            return self._has_meta(conn)

    def init(self) -> bool:
        try:
            with self.db.transaction() as conn:
                self._advisory_lock(conn)
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.db.schema}"')
                if self._has_meta(conn):
                    created = False
                else:
                    conn.execute(_schema.all_ddl())
                    conn.execute(
                        "INSERT INTO meta (id, schema_version, environment, lineage, serial, created, "
                        "fingerprint_key) VALUES (1, %s, %s, %s, 0, %s, %s)",
                        (_schema.SCHEMA_VERSION, self.env, str(uuid.uuid4()), format_time(time.time()),
                         secrets.token_bytes(32)))
                    created = True
        except psycopg.errors.InsufficientPrivilege:
            raise StateError(
                f"environment {self.env!r}: user {self.db.user or '(default)'} may not create schema "
                f"{self.db.schema} in database {self.db.dbname} on host {self.db.host}",
                hint=f"Grant it (`GRANT CREATE ON DATABASE {self.db.dbname} TO {self.db.user or 'USER'}`), or "
                     f"have the database owner run `CREATE SCHEMA {self.db.schema} AUTHORIZATION "
                     f"{self.db.user or 'USER'}`") from None
        if not created:
            self._upgrade()
        return created

    def open_existing(self) -> PostgresBackend:
        """Check the state exists (else ``StateNotInitialized``) and is at the current schema version."""
        if not self.exists():
            raise StateNotInitialized(self.env, self.location)
        self._upgrade()
        return self

    def _upgrade(self) -> int:
        """Bring an older schema up to ``SCHEMA_VERSION`` in one transaction; returns the version found."""
        found = self._schema_version()
        if found == _schema.SCHEMA_VERSION:
            return found
        if found > _schema.SCHEMA_VERSION:
            raise StateError(f"the state at {self.location} has schema version {found}; this idmctl reads up to "
                             f"{_schema.SCHEMA_VERSION}",
                             hint="Upgrade idmctl to the version that last wrote this state")
        with self.db.transaction() as conn:
            self._advisory_lock(conn)
            found = self._schema_version()  # another process may have upgraded while we waited
            for version in range(found + 1, _schema.SCHEMA_VERSION + 1):
                ddl = _schema.UPGRADES.get(version)
                if ddl is None:
                    raise StateError(f"the state at {self.location} has schema version {found} and no upgrade to "
                                     f"{version} exists",
                                     hint="Upgrade it with the idmctl release that introduced that version")
                conn.execute(ddl)
            conn.execute("UPDATE meta SET schema_version = %s WHERE id = 1", (_schema.SCHEMA_VERSION,))
        return found

    def _schema_version(self) -> int:
        with self.db.transaction() as conn:
            row = conn.execute("SELECT schema_version FROM meta WHERE id = 1").fetchone()
        if row is None:
            raise StateNotInitialized(self.env, self.location)
        return int(str(row[0]))

    def close(self) -> None:
        self._store = None
        self.db.close()

    # --- fencing and the store ---------------------------------------------------------------------

    def assert_lease(self, lease: LockLease, conn: Connection) -> None:
        """Inside a transaction: refuse to write when ``lease`` is no longer the environment's lock.

        The row is read ``FOR SHARE``: a takeover waits for this transaction, so the check holds until commit.
        """
        current = _lock.read_lease(conn, for_share=True)
        if current is None or current.lock_id != lease.lock_id:
            lease.lost.set()
            other = f"; it is now held by {current.describe()}" if current else ""
            raise LockLost(
                f"environment {self.env!r}: lock {lease.lock_id} was lost before writing (force-unlocked, "
                f"or expired while this process stalled){other}; nothing was written",
                lock_id=lease.lock_id, holder=lease.holder, hint="Run the command again")

    def store(self) -> PostgresStore:
        if self._store is None:
            self._store = PostgresStore(self.db, PostgresScheduleState(self.db), fence=self.assert_lease)
        return self._store

    # --- applied resources -------------------------------------------------------------------------

    def _meta(self, conn: Connection, *, for_update: bool = False) -> tuple[int, str, str | None, bytes]:
        row = conn.execute("SELECT serial, lineage, applied_at, fingerprint_key FROM meta WHERE id = 1"
                           + (" FOR UPDATE" if for_update else "")).fetchone()
        if row is None:
            raise StateNotInitialized(self.env, self.location)
        serial, lineage, applied_at, key = row
        return int(str(serial)), str(lineage), None if applied_at is None else str(applied_at), bytes(key)

    @property
    def fingerprint_key(self) -> bytes:
        try:
            with self.db.transaction() as conn:
                return self._meta(conn)[3]
        except psycopg.errors.UndefinedTable:
            raise StateNotInitialized(self.env, self.location) from None

    def read_applied(self) -> AppliedState:
        try:
            with self.db.transaction("repeatable read") as conn:  # one snapshot for meta and rows
                serial, lineage, applied_at, _ = self._meta(conn)
                rows = conn.execute("SELECT address, canonical FROM applied_resources ORDER BY address").fetchall()
        except psycopg.errors.UndefinedTable:
            raise StateNotInitialized(self.env, self.location) from None
        return AppliedState(serial=serial, lineage=lineage, applied_at=applied_at,
                            resources={str(address): _object(canonical) for address, canonical in rows})

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
        with self.db.transaction() as conn:
            self.assert_lease(lease, conn)
            serial, lineage, _, _ = self._meta(conn, for_update=True)
            if lineage != expected_lineage:
                raise StalePlanError(
                    f"environment {self.env!r}: the plan was made for state lineage {expected_lineage}, "
                    f"but {self.location} has lineage {lineage} (it was re-created)",
                    hint=f"Run `idmctl plan --env {self.env}` again")
            if serial != expected_serial:
                raise StalePlanError(
                    f"environment {self.env!r}: the plan was made at state serial {expected_serial}, "
                    f"but the state is now at serial {serial} (another apply ran since)",
                    hint=f"Run `idmctl plan --env {self.env}` again and review it")
            deleted = [(a,) for a, c in changes.items() if c is None]
            written = [(a, c["kind"], c["name"], _dumps(c)) for a, c in changes.items() if c is not None]
            with conn.cursor() as cur:
                if deleted:
                    cur.executemany("DELETE FROM applied_resources WHERE address = %s", deleted)
                if written:
                    cur.executemany(
                        "INSERT INTO applied_resources (address, kind, name, canonical) VALUES (%s, %s, %s, %s::jsonb) "
                        "ON CONFLICT (address) DO UPDATE SET kind = excluded.kind, name = excluded.name, "
                        "canonical = excluded.canonical", written)
            new_serial = serial + 1
            conn.execute("UPDATE meta SET serial = %s, applied_at = %s WHERE id = 1",
                         (new_serial, format_time(time.time())))
            self._insert_audit(conn, "apply", summary, new_serial, plan_hash=plan_hash, git_commit=git_commit,
                               details={**(details or {}), "lockId": lease.lock_id, "addresses": sorted(changes)})
        return self.read_applied()

    # --- what idmctl wrote to the platform ----------------------------------------------------------

    def platform_objects(self) -> dict[str, PlatformObject]:
        try:
            with self.db.transaction() as conn:
                rows = conn.execute("SELECT id, kind, address, digest, body, written_at FROM platform_objects "
                                    "ORDER BY id").fetchall()
        except psycopg.errors.UndefinedTable:
            raise StateNotInitialized(self.env, self.location) from None
        return {str(r[0]): PlatformObject(str(r[0]), str(r[1]), str(r[2]), str(r[3]), _object(r[4]), str(r[5]))
                for r in rows}

    def record_platform_objects(self, changes: Mapping[str, PlatformObject | None], *, lease: LockLease) -> None:
        with self.db.transaction() as conn:
            self.assert_lease(lease, conn)
            with conn.cursor() as cur:
                deleted = [(i,) for i, o in changes.items() if o is None]
                written = [(i, o.kind, o.address, o.digest, _dumps(o.body), o.written_at)
                           for i, o in changes.items() if o is not None]
                if deleted:
                    cur.executemany("DELETE FROM platform_objects WHERE id = %s", deleted)
                if written:
                    cur.executemany(
                        "INSERT INTO platform_objects (id, kind, address, digest, body, written_at) "
                        "VALUES (%s, %s, %s, %s, %s::jsonb, %s) ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, "
                        "address = excluded.address, digest = excluded.digest, body = excluded.body, "
                        "written_at = excluded.written_at", written)

    # --- lock --------------------------------------------------------------------------------------

    def lock(
        self,
        holder: str,
        timeout: float,
        ttl: float = 30.0,
        *,
        on_wait: Callable[[LockLease], None] | None = None,
    ) -> AbstractContextManager[LockLease]:
        self.fingerprint_key  # noqa: B018 - the state must exist before anyone locks it
        return _lock.hold_lock(self.db, self.env, holder, timeout, ttl, on_wait)

    def current_lock(self) -> LockLease | None:
        with self.db.transaction() as conn:
            row = conn.execute(f"SELECT {_lock.LEASE_COLUMNS} FROM env_lock WHERE id = 1 AND expires > now()"
                               ).fetchone()
        return _lock.lease_of(row)

    def force_unlock(self, lock_id: str, *, force: bool = False) -> LockLease:
        with self.db.transaction() as conn:
            row = conn.execute(f"SELECT {_lock.LEASE_COLUMNS} FROM env_lock WHERE id = 1 FOR UPDATE").fetchone()
            lease = check_force_unlock(self.env, _lock.lease_of(row), lock_id, force=force)
            conn.execute("DELETE FROM env_lock WHERE id = 1 AND lock_id = %s", (lock_id,))
            serial = self._meta(conn)[0]
            self._insert_audit(conn, "force-unlock", f"removed the lock of {lease.describe()}", serial,
                               details=lease.to_dict())
        return lease

    # --- audit -------------------------------------------------------------------------------------

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
        with self.db.transaction() as conn:
            if lease is not None:
                self.assert_lease(lease, conn)
            entry_id = self._insert_audit(conn, action, summary, self._meta(conn)[0], plan_hash=plan_hash,
                                          git_commit=git_commit, details=details)
        return self._audit_entries("WHERE id = %s", (entry_id,))[0]

    def _insert_audit(self, conn: Connection, action: str, summary: str, serial: int, *,
                      plan_hash: str | None = None, git_commit: str | None = None,
                      details: Mapping[str, Any] | None = None) -> int:
        row = conn.execute(
            "INSERT INTO audit_log (time, actor, host, action, serial, git_commit, plan_hash, summary, details) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (format_time(time.time()), _user(), socket.gethostname(), action, serial, git_commit, plan_hash,
             summary, Jsonb(dict(details or {}), dumps=_dumps)),
        ).fetchone()
        assert row is not None
        return int(str(row[0]))

    def audit_log(self, limit: int | None = None) -> list[AuditEntry]:
        return self._audit_entries("ORDER BY id DESC LIMIT %s", (limit,))

    def _audit_entries(self, where: str, params: tuple[Any, ...]) -> list[AuditEntry]:
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT id, time, actor, host, action, serial, git_commit, plan_hash, summary, details "
                f"FROM audit_log {where}", params).fetchall()
        return [AuditEntry(int(str(r[0])), str(r[1]), str(r[2]), str(r[3]), str(r[4]), int(str(r[5])),
                           None if r[6] is None else str(r[6]), None if r[7] is None else str(r[7]), str(r[8]),
                           details=_object(r[9])) for r in rows]
