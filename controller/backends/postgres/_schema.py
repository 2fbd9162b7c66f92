"""The PostgreSQL schema of an environment's state: the SQLite schema translated, one section per owner.

Every table lives in the environment's own schema (``spec.state.schema``); the DDL names no schema and
runs after ``SET LOCAL search_path``. Text that is ordered or compared by range uses ``COLLATE "C"``
(byte order, as SQLite compares), so listings and keyset paging do not depend on the database's
locale. ``SCHEMA_VERSION`` goes up by one for each released change; upgrades live in ``UPGRADES`` and
run in the same transaction that bumps ``meta.schema_version``.
"""

from __future__ import annotations

__all__ = ["IDENTITY_DDL", "PLATFORM_DDL", "SCHEDULE_DDL", "SCHEMA_VERSION", "STATE_DDL", "UPGRADES", "all_ddl"]

SCHEMA_VERSION = 3

# Owner: controller/backends/postgres/_backend.py and _lock.py (state, serial, lineage, audit, lock).
STATE_DDL = """
CREATE TABLE meta (
    id              integer     PRIMARY KEY CHECK (id = 1),
    schema_version  integer     NOT NULL,
    environment     text        NOT NULL,
    lineage         text        NOT NULL,
    serial          bigint      NOT NULL DEFAULT 0,
    created         text        NOT NULL,
    applied_at      text,
    fingerprint_key bytea       NOT NULL CHECK (octet_length(fingerprint_key) = 32)
);

CREATE TABLE applied_resources (
    address   text  PRIMARY KEY,
    kind      text  NOT NULL,
    name      text  NOT NULL,
    canonical jsonb NOT NULL,
    UNIQUE (kind, name)
);

-- "user" is a reserved word in PostgreSQL: the column is actor.
CREATE TABLE audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time       text   NOT NULL,
    actor      text   NOT NULL,
    host       text   NOT NULL,
    action     text   NOT NULL,
    serial     bigint NOT NULL,
    git_commit text,
    plan_hash  text,
    summary    text   NOT NULL,
    details    jsonb  NOT NULL DEFAULT '{}'
);

-- The environment lock: at most one lease. Expiry is the database's clock (one clock for every host);
-- fence goes up by one with every acquisition.
CREATE TABLE env_lock (
    id       integer     PRIMARY KEY CHECK (id = 1),
    lock_id  text        NOT NULL,
    holder   text        NOT NULL,
    pid      integer     NOT NULL,
    host     text        NOT NULL,
    acquired timestamptz NOT NULL,
    expires  timestamptz NOT NULL,
    fence    bigint      NOT NULL
);
"""

# Owner: controller/backends/postgres/_backend.py: what idmctl wrote to the platform (an AIC tenant).
PLATFORM_DDL = """
CREATE TABLE IF NOT EXISTS platform_objects (
    id         text  COLLATE "C" PRIMARY KEY,
    kind       text  NOT NULL,
    address    text  NOT NULL,
    digest     text  NOT NULL,
    body       jsonb NOT NULL,
    written_at text  NOT NULL
);
"""

# Owner: controller/backends/postgres/_store.py.
IDENTITY_DDL = """
CREATE TABLE alpha_user (
    id             text    PRIMARY KEY,
    rev            integer NOT NULL,
    username_lower text    COLLATE "C" NOT NULL UNIQUE,
    properties     jsonb   NOT NULL
);

CREATE TABLE managed_indexed (
    prop text PRIMARY KEY
);
CREATE TABLE managed_index (
    prop        text NOT NULL,
    value_lower text NOT NULL,
    object_id   text NOT NULL,
    PRIMARY KEY (prop, value_lower, object_id)
);

CREATE TABLE links (
    mapping   text NOT NULL,
    source_id text COLLATE "C" NOT NULL,
    target_id text NOT NULL,
    created   text NOT NULL,
    PRIMARY KEY (mapping, source_id),
    UNIQUE (mapping, target_id)
);
CREATE INDEX links_target ON links (target_id);

-- ord keeps insertion order (SQLite's rowid): ties of started, and "runs since" of retry marks.
CREATE TABLE recon_runs (
    id           text    PRIMARY KEY,
    ord          bigint  GENERATED ALWAYS AS IDENTITY,
    mapping      text    NOT NULL,
    mode         text    NOT NULL,
    state        text    NOT NULL
                 CHECK (state IN ('ACTIVE', 'SUCCESS', 'FAILED', 'CANCELED', 'BLOCKED')),
    counts       jsonb   NOT NULL DEFAULT '{}',
    processed    integer NOT NULL DEFAULT 0,
    failures     integer NOT NULL DEFAULT 0,
    started      text    COLLATE "C" NOT NULL,
    ended        text    COLLATE "C",
    reason       text,
    full_because text,
    holder       text
);
CREATE INDEX recon_runs_mapping ON recon_runs (mapping, started);

CREATE TABLE recon_entries (
    run_id    text    NOT NULL,
    seq       integer NOT NULL,
    phase     text    NOT NULL,
    source_id text,
    target_id text,
    situation text,
    action    text    NOT NULL,
    status    text    NOT NULL CHECK (status IN ('SUCCESS', 'FAILURE')),
    message   text,
    changes   text,
    label     text,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE sync_tokens (
    mapping     text PRIMARY KEY,
    delta_link  text NOT NULL,
    select_hash text NOT NULL,
    updated     text NOT NULL
);

CREATE TABLE recon_retry (
    mapping   text    NOT NULL,
    source_id text    COLLATE "C" NOT NULL,
    reason    text    NOT NULL,
    run_id    text    NOT NULL,
    attempts  integer NOT NULL DEFAULT 1,
    PRIMARY KEY (mapping, source_id)
);

CREATE TABLE recon_overrides (
    run_id  text    NOT NULL,
    mapping text    NOT NULL,
    allowed integer NOT NULL,
    deletes integer NOT NULL,
    time    text    NOT NULL,
    holder  text    NOT NULL
);
"""

# Owner: controller/backends/postgres/_schedules.py. next_fire is the compare-and-set token of a fire.
SCHEDULE_DDL = """
CREATE TABLE schedule_state (
    name           text        COLLATE "C" PRIMARY KEY,
    mapping        text        NOT NULL,
    cron           text        NOT NULL,
    time_zone      text        NOT NULL,
    next_fire      timestamptz,
    last_fire      timestamptz,
    last_run_id    text,
    last_run_state text,
    last_run_ended timestamptz,
    last_message   text,
    paused         boolean     NOT NULL DEFAULT false,
    paused_reason  text,
    paused_at      timestamptz,
    updated        timestamptz NOT NULL
);

CREATE TABLE schedule_runs (
    mapping  text        PRIMARY KEY,
    schedule text        NOT NULL,
    holder   text        NOT NULL,
    pid      integer     NOT NULL,
    host     text        NOT NULL,
    started  timestamptz NOT NULL,
    expires  timestamptz NOT NULL
);
"""

# version -> DDL that upgrades a state of version-1 to version (run under the init advisory lock, in the
# transaction that bumps meta.schema_version).
UPGRADES: dict[int, str] = {
    # 2: entries name their object as people know it (the source's userPrincipalName / the userName)
    2: "ALTER TABLE recon_entries ADD COLUMN label text",
    # 3: what idmctl wrote to the platform (the aic platform's objects)
    3: PLATFORM_DDL,
}


def all_ddl() -> str:
    """The whole current schema, every owner's section."""
    return "\n".join((STATE_DDL, PLATFORM_DDL, IDENTITY_DDL, SCHEDULE_DDL))
