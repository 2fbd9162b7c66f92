"""The SQLite schema of an environment's state, one section per owning module.

Each section is plain DDL run inside one transaction when the state is created or upgraded.
``SCHEMA_VERSION`` goes up by one for each released change; upgrades live in ``UPGRADES``.
"""

from __future__ import annotations

__all__ = ["IDENTITY_DDL", "PLATFORM_DDL", "SCHEDULE_DDL", "SCHEMA_VERSION", "STATE_DDL", "UPGRADES"]

SCHEMA_VERSION = 3

# Owner: controller/backends/sqlite/_backend.py (state, serial, lineage, applied resources, audit, lock).
STATE_DDL = """
-- One row: what this state is. fingerprint_key is the HMAC key for secret fingerprints (never a secret
-- value itself); lineage is fixed at init, serial goes up by one with every apply that changes something.
CREATE TABLE meta (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    schema_version  INTEGER NOT NULL,
    environment     TEXT    NOT NULL,
    lineage         TEXT    NOT NULL,
    serial          INTEGER NOT NULL DEFAULT 0,
    created         TEXT    NOT NULL,
    applied_at      TEXT,
    fingerprint_key BLOB    NOT NULL CHECK (length(fingerprint_key) = 32)
);

-- Applied resources in canonical form (secrets as fingerprints only).
CREATE TABLE applied_resources (
    address   TEXT PRIMARY KEY,
    kind      TEXT NOT NULL,
    name      TEXT NOT NULL,
    canonical TEXT NOT NULL,
    UNIQUE (kind, name)
);

-- Append-only record of what changed the environment: applies, force-unlocks, overrides.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    time       TEXT    NOT NULL,
    user       TEXT    NOT NULL,
    host       TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    serial     INTEGER NOT NULL,
    git_commit TEXT,
    plan_hash  TEXT,
    summary    TEXT    NOT NULL,
    details    TEXT    NOT NULL DEFAULT '{}'
);

-- The environment lock: at most one lease; a lease whose expiry passed belongs to nobody.
CREATE TABLE env_lock (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    lock_id  TEXT NOT NULL,
    holder   TEXT NOT NULL,
    pid      INTEGER NOT NULL,
    host     TEXT NOT NULL,
    acquired REAL NOT NULL,
    expires  REAL NOT NULL
);
"""

# Owner: controller/backends/sqlite/_backend.py (what idmctl wrote to the platform, e.g. an AIC tenant).
PLATFORM_DDL = """
-- One row per native object idmctl wrote and the platform confirmed: its normalised body (never a
-- secret value; an ESV secret holds a keyed fingerprint) and the digest of that body. Plans compare
-- the live object with it (drift); objects without a row are not idmctl's and are never changed.
CREATE TABLE IF NOT EXISTS platform_objects (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    address    TEXT NOT NULL,
    digest     TEXT NOT NULL,
    body       TEXT NOT NULL,
    written_at TEXT NOT NULL
);
"""

# Owner: controller/backends/sqlite/_store.py (managed objects, links, runs, entries, sync tokens).
IDENTITY_DDL = """
-- Managed objects of type alpha_user. properties is a JSON object; username_lower keeps userName unique
-- case-insensitively (Python str.lower, as the filter language compares strings).
CREATE TABLE alpha_user (
    id             TEXT    PRIMARY KEY,
    rev            INTEGER NOT NULL,
    username_lower TEXT    NOT NULL UNIQUE,
    properties     TEXT    NOT NULL
);

-- Lowered values of the properties correlation looks up (managed_indexed lists which ones;
-- userName is served by alpha_user.username_lower instead).
CREATE TABLE managed_indexed (
    prop TEXT PRIMARY KEY
);
CREATE TABLE managed_index (
    prop        TEXT NOT NULL,
    value_lower TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    PRIMARY KEY (prop, value_lower, object_id)
) WITHOUT ROWID;

-- The remembered pairing of one source object and one managed object under a mapping.
CREATE TABLE links (
    mapping   TEXT NOT NULL,
    source_id TEXT NOT NULL,
    target_id TEXT NOT NULL,
    created   TEXT NOT NULL,
    PRIMARY KEY (mapping, source_id),
    UNIQUE (mapping, target_id)
);

-- One row per reconciliation run; counts is {"situations": {...}, "actions": {...}, ...} as JSON.
CREATE TABLE recon_runs (
    id           TEXT    PRIMARY KEY,
    mapping      TEXT    NOT NULL,
    mode         TEXT    NOT NULL,
    state        TEXT    NOT NULL
                 CHECK (state IN ('ACTIVE', 'SUCCESS', 'FAILED', 'CANCELED', 'BLOCKED')),
    counts       TEXT    NOT NULL DEFAULT '{}',
    processed    INTEGER NOT NULL DEFAULT 0,
    failures     INTEGER NOT NULL DEFAULT 0,
    started      TEXT    NOT NULL,
    ended        TEXT,
    reason       TEXT,
    full_because TEXT,
    holder       TEXT
);
CREATE INDEX recon_runs_mapping ON recon_runs (mapping, started);

-- An entry for every object whose action changed something, failed, or asked for attention
-- (situation is NULL for link clean-up, which IDM has no situation for).
CREATE TABLE recon_entries (
    run_id    TEXT    NOT NULL,
    seq       INTEGER NOT NULL,
    phase     TEXT    NOT NULL,
    source_id TEXT,
    target_id TEXT,
    situation TEXT,
    action    TEXT    NOT NULL,
    status    TEXT    NOT NULL CHECK (status IN ('SUCCESS', 'FAILURE')),
    message   TEXT,
    changes   TEXT,
    label     TEXT,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

-- Per mapping: the Graph delta link and a hash of what it selects and filters.
CREATE TABLE sync_tokens (
    mapping     TEXT PRIMARY KEY,
    delta_link  TEXT NOT NULL,
    select_hash TEXT NOT NULL,
    updated     TEXT NOT NULL
);

-- Source objects to re-read by id at a later incremental run (FAILURE and ASYNC outcomes). reason is
-- "FAILURE" or "ASYNC <situation> <policy digest>"; which marks a run re-reads: controller/recon/_retry.py.
CREATE TABLE recon_retry (
    mapping   TEXT    NOT NULL,
    source_id TEXT    NOT NULL,
    reason    TEXT    NOT NULL,
    run_id    TEXT    NOT NULL,
    attempts  INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (mapping, source_id)
) WITHOUT ROWID;

-- Every `--allow-deletes N` a person gave, and what the run then deleted or unlinked.
CREATE TABLE recon_overrides (
    run_id  TEXT    NOT NULL,
    mapping TEXT    NOT NULL,
    allowed INTEGER NOT NULL,
    deletes INTEGER NOT NULL,
    time    TEXT    NOT NULL,
    holder  TEXT    NOT NULL
);
"""

# Owner: controller/backends/sqlite/_schedules.py (last/next fire times, pauses).
SCHEDULE_DDL = """
-- One row per schedule the scheduler has seen. Times are ISO 8601 UTC with a Z ('2026-01-01T00:15:00Z'),
-- so they compare as text; next_fire is the compare-and-set token that lets one replica claim a fire.
-- cron and time_zone are what next_fire was computed from: a changed schedule starts afresh.
CREATE TABLE schedule_state (
    name           TEXT    PRIMARY KEY,
    mapping        TEXT    NOT NULL,
    cron           TEXT    NOT NULL,
    time_zone      TEXT    NOT NULL,
    next_fire      TEXT,
    last_fire      TEXT,
    last_run_id    TEXT,
    last_run_state TEXT,
    last_run_ended TEXT,
    last_message   TEXT,
    paused         INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    paused_reason  TEXT,
    paused_at      TEXT,
    updated        TEXT    NOT NULL
);

-- The run in flight per mapping (IDM concurrentExecution false): a claim with its holder and an expiry
-- after which a crashed holder's claim belongs to nobody.
CREATE TABLE schedule_runs (
    mapping  TEXT PRIMARY KEY,
    schedule TEXT NOT NULL,
    holder   TEXT NOT NULL,
    pid      INTEGER NOT NULL,
    host     TEXT NOT NULL,
    started  TEXT NOT NULL,
    expires  TEXT NOT NULL
);
"""

# version -> DDL that upgrades a state of version-1 to version, run by ``_migrate.upgrade_schema`` in
# the same transaction that bumps meta.schema_version. A new state gets the sections above directly.
UPGRADES: dict[int, str] = {
    # 2: entries name their object as people know it (the source's userPrincipalName / the userName)
    2: "ALTER TABLE recon_entries ADD COLUMN label TEXT;",
    # 3: what idmctl wrote to the platform (the aic platform's objects)
    3: PLATFORM_DDL,
}
