"""The SQLite file of a local target: creating it private, connecting with the right pragmas,
transactions, and creating or upgrading the versioned schema.

Only ``controller/backends/sqlite`` uses this module; every other package goes through ``SqliteBackend``.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from controller.backends.sqlite import _schema
from controller.errors import StateError

__all__ = [
    "BULK_CACHE_KIB",
    "BUSY_TIMEOUT_MS",
    "CACHE_KIB",
    "connect",
    "create_file",
    "create_schema",
    "has_meta",
    "schema_version",
    "split_statements",
    "transaction",
    "upgrade_schema",
]

# Long enough for another writer's batch to commit; the lock lease, not this, serialises writers.
BUSY_TIMEOUT_MS = 15_000
# Page cache per connection, in KiB; ``SqliteStore`` sets it per run. Small (SQLite's default is about
# 2 MiB) for most commands, which read a few pages, and for an incremental round, which touches each
# table page it changes about once (7,000 changes on 100,000 accounts: 9,300 distinct pages), so a
# page a large cache kept was mostly memory the process touched for the first time and never read
# again: 4,900 page faults per such round instead of 16,900, 88 MiB peak instead of 121; CPU seconds
# within the machine's noise (README, round 8 of issue 13).
CACHE_KIB = 4 * 1024
# The page cache of bulk work (``SqliteStore`` raises it for a full run, and once a run has read
# by id or written more objects and links than the file has pages). A full run inserts into three
# unique B-trees (the objects' primary key, username_lower, the links' key) in an order unrelated to
# their keys; once those indexes outgrow the cache every insert is a read and a write of a random page,
# the same pages over and over. 256 MiB holds the indexes of about a million accounts. SQLite
# allocates it as pages are touched.
BULK_CACHE_KIB = 256 * 1024
# Pages the WAL may hold before a commit checkpoints it into the database (SQLite's default: 1000,
# 4 MiB). A run's batch dirties thousands of index pages; with the default every batch is checkpointed
# on its own, so each hot index page is written to the file once per batch. 50,000 pages (about 200 MiB
# of WAL at most) lets one checkpoint write the latest version of a page for many batches: a full
# run of 300,000 accounts took 15.6 s instead of 27 s. The WAL is removed when the last connection closes.
WAL_AUTOCHECKPOINT_PAGES = 50_000


def create_file(path: Path) -> bool:
    """Create ``path`` (and its parents) readable by its owner only; False when it already exists.

    The file is made with ``os.open`` before SQLite touches it, so it is never world-readable, not even
    for an instant; SQLite gives its -wal and -shm files the same mode.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        if path.parent.is_dir():
            return False
        raise StateError(f"cannot create the state at {path}: {path.parent} exists and is not a folder",
                         hint="Point spec.state.path in environment.yaml at a file in a folder") from None
    except OSError as exc:
        raise StateError(f"cannot create the state at {path}: {exc.strerror or exc}",
                         hint="Point spec.state.path in environment.yaml at a folder you may write, "
                              "or fix that folder's permissions") from None
    os.close(fd)
    os.chmod(path, 0o600)  # in case a umask widened nothing but a filesystem ignored the mode
    return True


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, foreign keys on."""
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000,
                               check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        # synchronous=NORMAL in WAL mode: a commit is appended to the WAL without an fsync; the WAL is
        # synced at each checkpoint. A power loss can therefore lose the last few committed batches,
        # never part of one: WAL replays only whole transactions (each ends in a commit frame with its
        # checksum), in commit order, so what survives is a prefix of the batches, each with all its
        # objects, links, entries and retry marks, and the file is never corrupt. The delta link is
        # written in the run's final transaction, after every batch, so it survives only if they all
        # did: a rerun reads the source again from the old link (or in full) and converges, as after a
        # SIGKILL (which loses nothing committed at all).
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as exc:
        raise StateError(f"cannot open the state at {path}: {exc}",
                         hint="Check that the file is an idmctl state and that you may write it") from None
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection, savepoint: str = "nested") -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on any exception: all or nothing.

    Inside a transaction the caller already holds, it is a savepoint: the inner work is undone on
    error and the outer transaction decides.
    """
    if conn.in_transaction:
        conn.execute(f"SAVEPOINT {savepoint}")
        try:
            yield conn
        except BaseException:
            conn.execute(f"ROLLBACK TO {savepoint}")
            conn.execute(f"RELEASE {savepoint}")
            raise
        conn.execute(f"RELEASE {savepoint}")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def split_statements(script: str) -> list[str]:
    """Split DDL into statements; ``executescript`` would COMMIT the caller's transaction first."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        if not buffer and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise ValueError(f"incomplete SQL statement: {buffer.strip()[:60]!r}")
    return statements


def has_meta(conn: sqlite3.Connection) -> bool:
    """Whether the file holds an initialised state (an empty file left by a crashed init does not)."""
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    return row is not None and conn.execute("SELECT 1 FROM meta WHERE id = 1").fetchone() is not None


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT schema_version FROM meta WHERE id = 1").fetchone()[0])


def create_schema(conn: sqlite3.Connection) -> None:
    """Run every owner's section of the current schema; the caller holds the transaction."""
    for section in (_schema.STATE_DDL, _schema.PLATFORM_DDL, _schema.IDENTITY_DDL, _schema.SCHEDULE_DDL):
        for statement in split_statements(section):
            conn.execute(statement)


def upgrade_schema(conn: sqlite3.Connection, location: str) -> int:
    """Bring an older state up to ``SCHEMA_VERSION`` in one transaction; returns the version found.

    A state newer than this idmctl is refused rather than misread.
    """
    found = schema_version(conn)
    if found == _schema.SCHEMA_VERSION:
        return found
    if found > _schema.SCHEMA_VERSION:
        raise StateError(
            f"the state at {location} has schema version {found}; this idmctl reads up to "
            f"{_schema.SCHEMA_VERSION}",
            hint="Upgrade idmctl to the version that last wrote this state",
        )
    with transaction(conn):
        found = schema_version(conn)  # another process may have upgraded while we waited
        for version in range(found + 1, _schema.SCHEMA_VERSION + 1):
            ddl = _schema.UPGRADES.get(version)
            if ddl is None:
                raise StateError(
                    f"the state at {location} has schema version {found} and no upgrade to {version} "
                    "exists", hint="Upgrade it with the idmctl release that introduced that version")
            for statement in split_statements(ddl):
                conn.execute(statement)
        conn.execute("UPDATE meta SET schema_version = ? WHERE id = 1", (_schema.SCHEMA_VERSION,))
    return found
