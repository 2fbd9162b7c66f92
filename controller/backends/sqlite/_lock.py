"""The environment lock of the SQLite backend: one lease row, renewed by a daemon thread while held.

A lease whose expiry passed belongs to nobody, so a killed holder blocks others for at most ``ttl``
seconds; ``force_unlock`` frees it at once for people who know the holder is gone.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from controller.backends._protocol import LockLease, format_time
from controller.backends.sqlite._database import connect, transaction
from controller.errors import LockHeldError

__all__ = ["hold_lock", "read_lease", "remove_lease"]

# How often a waiter looks again; short enough to feel immediate, long enough not to spin.
_POLL_SECONDS = 0.1


def read_lease(conn: sqlite3.Connection) -> LockLease | None:
    """The lease row as it is, expired or not."""
    row = conn.execute(
        "SELECT lock_id, holder, pid, host, acquired, expires FROM env_lock WHERE id = 1").fetchone()
    return None if row is None else LockLease(*row)


def remove_lease(conn: sqlite3.Connection, lock_id: str) -> bool:
    return conn.execute("DELETE FROM env_lock WHERE id = 1 AND lock_id = ?", (lock_id,)).rowcount == 1


def _try_acquire(conn: sqlite3.Connection, holder: str, ttl: float) -> tuple[LockLease | None, LockLease | None]:
    """(our new lease, None) or (None, the live lease of someone else)."""
    with transaction(conn):
        current = read_lease(conn)
        now = time.time()
        if current is not None and current.expires > now:
            return None, current
        lease = LockLease(str(uuid.uuid4()), holder, os.getpid(), socket.gethostname(), now, now + ttl)
        conn.execute(
            "INSERT OR REPLACE INTO env_lock (id, lock_id, holder, pid, host, acquired, expires) "
            "VALUES (1, ?, ?, ?, ?, ?, ?)",
            (lease.lock_id, lease.holder, lease.pid, lease.host, lease.acquired, lease.expires),
        )
        return lease, None


def _renew(path: Path, lease: LockLease, ttl: float, stop: threading.Event) -> None:
    """Push the expiry forward every ttl/3 until stopped; mark the lease lost if it disappears."""
    conn = connect(path)
    try:
        while not stop.wait(ttl / 3):
            try:
                updated = conn.execute("UPDATE env_lock SET expires = ? WHERE id = 1 AND lock_id = ?",
                                       (time.time() + ttl, lease.lock_id)).rowcount
            except sqlite3.OperationalError:
                continue  # busy beyond the timeout: try again next tick, the lease still has 2/3 left
            if updated == 0:
                lease.lost.set()  # force-unlocked, or taken over after we stalled past expiry
                return
    finally:
        conn.close()


@contextmanager
def hold_lock(
    conn: sqlite3.Connection,
    path: Path,
    env: str,
    holder: str,
    timeout: float,
    ttl: float,
    on_wait: Callable[[LockLease], None] | None = None,
) -> Iterator[LockLease]:
    """Acquire (waiting up to ``timeout`` seconds), renew while the block runs, release on exit."""
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    deadline = time.monotonic() + max(timeout, 0.0)
    told: str | None = None
    while True:
        lease, other = _try_acquire(conn, holder, ttl)
        if lease is not None:
            break
        assert other is not None
        if time.monotonic() >= deadline:
            raise LockHeldError(
                f"environment {env!r} is locked by {other.holder} (pid {other.pid} on {other.host}) since "
                f"{format_time(other.acquired)}, lock id {other.lock_id}; waited {timeout:g}s",
                lock_id=other.lock_id,
                holder=other.holder,
                hint=(f"Wait for it to finish (its lease expires {format_time(other.expires)} unless renewed), "
                      f"or if that process is gone run `idmctl force-unlock --env {env} {other.lock_id}`"),
            )
        if on_wait is not None and told != other.lock_id:
            on_wait(other)
            told = other.lock_id
        time.sleep(min(_POLL_SECONDS, max(deadline - time.monotonic(), 0.0)))

    stop = threading.Event()
    renewer = threading.Thread(target=_renew, args=(path, lease, ttl, stop),
                               name=f"idmctl-lock-{env}", daemon=True)
    renewer.start()
    try:
        yield lease
    finally:
        stop.set()
        renewer.join()
        with transaction(conn):
            remove_lease(conn, lease.lock_id)
