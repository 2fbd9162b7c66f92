"""``SqliteBackend``: an environment's state in one SQLite file on this host (the default backend).

It owns the file's lifecycle (init, schema upgrades), the applied resources with serial and lineage,
the audit log and the environment lock. The embedded platform's store (managed objects, links, runs,
schedule state) lives in the same file and is reached through ``store()``, built by its own modules.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from controller.backends._process import check_force_unlock
from controller.backends._protocol import AppliedState, AuditEntry, LockLease, PlatformObject, format_time
from controller.backends.sqlite import _database as db
from controller.backends.sqlite import _lock, _schema
from controller.backends.sqlite._schedules import SqliteScheduleState
from controller.backends.sqlite._store import SqliteStore
from controller.errors import LockLost, StalePlanError, StateNotInitialized

__all__ = ["SqliteBackend"]


def _json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers with arbitrary uids)
        return f"uid {os.getuid()}"


class SqliteBackend:
    """The SQLite state of environment ``env`` at ``path`` (absolute)."""

    def __init__(self, env: str, path: Path) -> None:
        self.env = env
        self.path = path
        self.location = str(path)
        self._conn: sqlite3.Connection | None = None
        self._store: SqliteStore | None = None

    def __repr__(self) -> str:
        return f"SqliteBackend(env={self.env!r}, path={self.location!r})"

    # --- lifecycle ---------------------------------------------------------------------------------

    def exists(self) -> bool:
        if not self.path.is_file():
            return False
        return db.has_meta(self.connection)

    def init(self) -> bool:
        db.create_file(self.path)
        conn = self.connection
        with db.transaction(conn):
            if db.has_meta(conn):
                created = False
            else:
                db.create_schema(conn)
                conn.execute(
                    "INSERT INTO meta (id, schema_version, environment, lineage, serial, created, "
                    "fingerprint_key) VALUES (1, ?, ?, ?, 0, ?, ?)",
                    (_schema.SCHEMA_VERSION, self.env, str(uuid.uuid4()), format_time(time.time()),
                     secrets.token_bytes(32)),
                )
                created = True
        if not created:
            db.upgrade_schema(conn, self.location)
        return created

    def open_existing(self) -> SqliteBackend:
        """Check the state exists (else ``StateNotInitialized``) and is at the current schema version."""
        if not self.exists():
            raise StateNotInitialized(self.env, self.location)
        db.upgrade_schema(self.connection, self.location)
        return self

    def close(self) -> None:
        self._store = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # --- for the store in this package -------------------------------------------------------------

    @property
    def connection(self) -> sqlite3.Connection:
        """The target's connection (autocommit; wrap writes in ``transaction()``)."""
        if self._conn is None:
            if not self.path.is_file():  # never create a state by reading it: only init does
                raise StateNotInitialized(self.env, self.location)
            self._conn = db.connect(self.path)
        return self._conn

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One all-or-nothing write transaction on the target's connection."""
        return db.transaction(self.connection)

    def assert_lease(self, lease: LockLease, conn: sqlite3.Connection | None = None) -> None:
        """Inside a transaction: refuse to write when ``lease`` is no longer the environment's lock (fencing)."""
        current = _lock.read_lease(conn or self.connection)
        if current is None or current.lock_id != lease.lock_id:
            lease.lost.set()
            other = f"; it is now held by {current.describe()}" if current else ""
            raise LockLost(
                f"environment {self.env!r}: lock {lease.lock_id} was lost before writing (force-unlocked, "
                f"or expired while this process stalled){other}; nothing was written",
                lock_id=lease.lock_id, holder=lease.holder, hint="Run the command again")

    def store(self) -> SqliteStore:
        """The embedded platform's store in this file (managed objects, links, runs, schedule state)."""
        if self._store is None:
            conn = self.connection
            self._store = SqliteStore(conn, SqliteScheduleState(conn),
                                      fence=lambda c, lease: self.assert_lease(lease, c))
        return self._store

    # --- applied resources -------------------------------------------------------------------------

    def _meta(self) -> tuple[Any, ...]:
        row = self.connection.execute(
            "SELECT serial, lineage, applied_at, fingerprint_key FROM meta WHERE id = 1").fetchone()
        if row is None:
            raise StateNotInitialized(self.env, self.location)
        return tuple(row)

    @property
    def fingerprint_key(self) -> bytes:
        return bytes(self._meta()[3])

    def read_applied(self) -> AppliedState:
        conn = self.connection
        own = not conn.in_transaction
        if own:
            conn.execute("BEGIN")  # one snapshot for meta and rows
        try:
            serial, lineage, applied_at, _ = self._meta()
            rows = conn.execute("SELECT address, canonical FROM applied_resources ORDER BY address").fetchall()
        finally:
            if own:
                conn.execute("COMMIT")
        return AppliedState(serial=serial, lineage=lineage, applied_at=applied_at,
                            resources={address: json.loads(text) for address, text in rows})

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
        conn = self.connection
        with db.transaction(conn):
            self.assert_lease(lease)
            serial, lineage, _, _ = self._meta()
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
            for address, canonical in changes.items():
                self._write_resource(conn, address, canonical)
            new_serial = serial + 1
            now = format_time(time.time())
            conn.execute("UPDATE meta SET serial = ?, applied_at = ? WHERE id = 1", (new_serial, now))
            self._insert_audit(conn, "apply", summary, new_serial, plan_hash=plan_hash, git_commit=git_commit,
                               details={**(details or {}), "lockId": lease.lock_id, "addresses": sorted(changes)})
        return self.read_applied()

    def _write_resource(self, conn: sqlite3.Connection, address: str,
                        canonical: Mapping[str, Any] | None) -> None:
        if canonical is None:
            conn.execute("DELETE FROM applied_resources WHERE address = ?", (address,))
            return
        conn.execute(
            "INSERT OR REPLACE INTO applied_resources (address, kind, name, canonical) VALUES (?, ?, ?, ?)",
            (address, canonical["kind"], canonical["name"], _json(canonical)),
        )

    # --- what idmctl wrote to the platform ----------------------------------------------------------

    def platform_objects(self) -> dict[str, PlatformObject]:
        rows = self.connection.execute(
            "SELECT id, kind, address, digest, body, written_at FROM platform_objects ORDER BY id").fetchall()
        return {row[0]: PlatformObject(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5]) for row in rows}

    def record_platform_objects(self, changes: Mapping[str, PlatformObject | None], *, lease: LockLease) -> None:
        conn = self.connection
        with db.transaction(conn):
            self.assert_lease(lease)
            for native_id, obj in changes.items():
                if obj is None:
                    conn.execute("DELETE FROM platform_objects WHERE id = ?", (native_id,))
                else:
                    conn.execute(
                        "INSERT OR REPLACE INTO platform_objects (id, kind, address, digest, body, written_at) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (native_id, obj.kind, obj.address, obj.digest, _json(obj.body), obj.written_at))

    # --- lock --------------------------------------------------------------------------------------

    def lock(
        self,
        holder: str,
        timeout: float,
        ttl: float = 30.0,
        *,
        on_wait: Callable[[LockLease], None] | None = None,
    ) -> AbstractContextManager[LockLease]:
        self._meta()
        return _lock.hold_lock(self.connection, self.path, self.env, holder, timeout, ttl, on_wait)

    def current_lock(self) -> LockLease | None:
        lease = _lock.read_lease(self.connection)
        return lease if lease is not None and lease.expires > time.time() else None

    def force_unlock(self, lock_id: str, *, force: bool = False) -> LockLease:
        conn = self.connection
        with db.transaction(conn):
            lease = check_force_unlock(self.env, _lock.read_lease(conn), lock_id, force=force)
            _lock.remove_lease(conn, lock_id)
            serial = self._meta()[0]
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
        conn = self.connection
        with db.transaction(conn):
            if lease is not None:
                self.assert_lease(lease)
            entry_id = self._insert_audit(conn, action, summary, self._meta()[0], plan_hash=plan_hash,
                                          git_commit=git_commit, details=details)
        return self._audit_entries("WHERE id = ?", (entry_id,))[0]

    def _insert_audit(self, conn: sqlite3.Connection, action: str, summary: str, serial: int, *,
                      plan_hash: str | None = None, git_commit: str | None = None,
                      details: Mapping[str, Any] | None = None) -> int:
        cur = conn.execute(
            "INSERT INTO audit_log (time, user, host, action, serial, git_commit, plan_hash, summary, details) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (format_time(time.time()), _user(), socket.gethostname(), action, serial, git_commit, plan_hash,
             summary, _json(dict(details or {}))),
        )
        return int(cur.lastrowid or 0)

    def audit_log(self, limit: int | None = None) -> list[AuditEntry]:
        return self._audit_entries("ORDER BY id DESC LIMIT ?", (-1 if limit is None else limit,))

    def _audit_entries(self, where: str, params: tuple[Any, ...]) -> list[AuditEntry]:
        rows = self.connection.execute(
            "SELECT id, time, user, host, action, serial, git_commit, plan_hash, summary, details "
            f"FROM audit_log {where}", params).fetchall()
        return [AuditEntry(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8],
                           details=json.loads(row[9])) for row in rows]
