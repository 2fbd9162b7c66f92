"""The environment lock of the PostgreSQL backend: one lease row, taken and renewed by compare-and-set.

Acquisition is one statement: an ``INSERT ... ON CONFLICT DO UPDATE ... WHERE env_lock.expires < now()``
that takes the row only when nobody holds it or the holder's lease ran out. Expiry is the database's
``now()``, one clock for every host. Renewal updates the row only while it still carries our lock id;
finding it gone marks the lease lost. Every fenced write reads the row ``FOR SHARE``, which a takeover
(it needs the row for update) must wait for, so no takeover slips between the check and the commit.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from controller.backends._protocol import LockLease, format_time
from controller.backends.postgres._database import Connection, Database
from controller.errors import LockHeldError

__all__ = ["LEASE_COLUMNS", "hold_lock", "lease_of", "read_lease"]

_POLL_SECONDS = 0.1

LEASE_COLUMNS = ("lock_id, holder, pid, host, extract(epoch FROM acquired)::float8, "
                 "extract(epoch FROM expires)::float8")


def lease_of(row: tuple[object, ...] | None) -> LockLease | None:
    if row is None:
        return None
    lock_id, holder, pid, host, acquired, expires = row
    return LockLease(str(lock_id), str(holder), int(str(pid)), str(host), float(str(acquired)),
                     float(str(expires)))


def read_lease(conn: Connection, *, for_share: bool = False) -> LockLease | None:
    """The lease row as it is, expired or not (``for_share``: and hold it against takeover until commit)."""
    row = conn.execute(f"SELECT {LEASE_COLUMNS} FROM env_lock WHERE id = 1"
                       + (" FOR SHARE" if for_share else "")).fetchone()
    return lease_of(row)


def _try_acquire(db: Database, holder: str, ttl: float) -> tuple[LockLease | None, LockLease | None]:
    """(our new lease, None) or (None, the live lease of someone else)."""
    lock_id = str(uuid.uuid4())
    with db.transaction() as conn:
        row = conn.execute(
            "INSERT INTO env_lock (id, lock_id, holder, pid, host, acquired, expires, fence) "
            "VALUES (1, %(lock_id)s, %(holder)s, %(pid)s, %(host)s, now(), now() + make_interval(secs => %(ttl)s), 1) "
            "ON CONFLICT (id) DO UPDATE SET lock_id = excluded.lock_id, holder = excluded.holder, "
            "  pid = excluded.pid, host = excluded.host, acquired = excluded.acquired, "
            "  expires = excluded.expires, fence = env_lock.fence + 1 "
            f"WHERE env_lock.expires < now() RETURNING {LEASE_COLUMNS}",
            {"lock_id": lock_id, "holder": holder, "pid": os.getpid(), "host": socket.gethostname(), "ttl": ttl},
        ).fetchone()
        if row is not None:
            return lease_of(row), None
        return None, read_lease(conn)


def _renew(db: Database, lease: LockLease, ttl: float, stop: threading.Event) -> None:
    """Push the expiry forward every ttl/3 until stopped; mark the lease lost if it disappears."""
    conn: Connection | None = None
    try:
        while not stop.wait(ttl / 3):
            try:
                if conn is None or conn.closed:
                    conn = db.connect()
                cur = conn.execute(
                    f'UPDATE "{db.schema}".env_lock SET expires = now() + make_interval(secs => %s) '
                    "WHERE id = 1 AND lock_id = %s", (ttl, lease.lock_id))
            except Exception:  # the server is away for a moment: try again next tick, 2/3 of the lease are left
                conn = None
                continue
            if cur.rowcount == 0:
                lease.lost.set()  # force-unlocked, or taken over after we stalled past expiry
                return
    finally:
        if conn is not None:
            conn.close()


@contextmanager
def hold_lock(db: Database, env: str, holder: str, timeout: float, ttl: float,
              on_wait: Callable[[LockLease], None] | None = None) -> Iterator[LockLease]:
    """Acquire (waiting up to ``timeout`` seconds), renew while the block runs, release on exit."""
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    deadline = time.monotonic() + max(timeout, 0.0)
    told: str | None = None
    while True:
        lease, other = _try_acquire(db, holder, ttl)
        if lease is not None:
            break
        if other is None:  # released between our insert and our read: try again at once
            continue
        if time.monotonic() >= deadline:
            raise LockHeldError(
                f"environment {env!r} is locked by {other.holder} (pid {other.pid} on {other.host}) since "
                f"{format_time(other.acquired)}, lock id {other.lock_id}; waited {timeout:g}s",
                lock_id=other.lock_id, holder=other.holder,
                hint=(f"Wait for it to finish (its lease expires {format_time(other.expires)} unless renewed), "
                      f"or if that process is gone run `idmctl force-unlock --env {env} {other.lock_id}`"))
        if on_wait is not None and told != other.lock_id:
            on_wait(other)
            told = other.lock_id
        time.sleep(min(_POLL_SECONDS, max(deadline - time.monotonic(), 0.0)))

    stop = threading.Event()
    renewer = threading.Thread(target=_renew, args=(db, lease, ttl, stop), name=f"idmctl-lock-{env}", daemon=True)
    renewer.start()
    try:
        yield lease
    finally:
        stop.set()
        renewer.join()
        with db.transaction() as conn:
            conn.execute("DELETE FROM env_lock WHERE id = 1 AND lock_id = %s", (lease.lock_id,))
