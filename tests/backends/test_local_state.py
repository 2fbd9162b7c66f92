"""The local target's file: creation, idempotent init, schema versions, applied state, all-or-nothing."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest
from backend_docs import environment

from controller.backends import Create, Link, StateBackend, WriteBatch, open_backend
from controller.backends.sqlite import SqliteBackend, SqliteScheduleState, SqliteStore, _schema
from controller.backends.sqlite import _database as database
from controller.config.models import RunMode
from controller.errors import StalePlanError, StateError, StateNotInitialized

CONNECTOR = {"apiVersion": "idmctl/v1", "kind": "Connector", "name": "entra", "metadata": {"name": "entra"},
             "spec": {"type": "microsoft-graph", "tenantId": "f7ff6108-c26f-48dd-ae9e-9743eefbd11f",
                      "clientSecret": {"sensitive": True, "secret": "entra_client_secret",
                                       "fingerprint": "hmac-sha256:" + "0f" * 32}}}
MAPPING = {"apiVersion": "idmctl/v1", "kind": "Mapping", "name": "entra-users",
           "metadata": {"name": "entra-users"},
           "spec": {"source": {"connector": "entra", "objectType": "User"}, "target": "managed/alpha_user",
                    "properties": [{"source": "mail", "target": "mail"}]}}


def test_missing_state_says_to_run_init(tmp_path: Path) -> None:
    with pytest.raises(StateNotInitialized) as info:
        open_backend(tmp_path, environment("prod"))
    assert "idmctl init --env prod" in str(info.value)
    assert not (tmp_path / ".idmctl").exists() or not any((tmp_path / ".idmctl").iterdir())


def test_init_creates_a_private_wal_file_and_is_idempotent(fresh_target: SqliteBackend) -> None:
    assert fresh_target.init() is True
    assert isinstance(fresh_target, StateBackend)
    lineage = fresh_target.read_applied().lineage
    assert fresh_target.init() is False
    assert fresh_target.read_applied().lineage == lineage
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{fresh_target.path}{suffix}")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    conn = fresh_target.connection
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert len(fresh_target.fingerprint_key) == 32


def test_init_on_an_empty_file_left_by_a_crash_creates_the_state(fresh_target: SqliteBackend) -> None:
    fresh_target.path.parent.mkdir(parents=True)
    fresh_target.path.touch()
    assert not fresh_target.exists()
    assert fresh_target.init() is True and fresh_target.exists()


def test_write_applied_bumps_serial_and_audits(target: SqliteBackend) -> None:
    state = target.read_applied()
    assert (state.serial, state.resources, state.applied_at) == (0, {}, None)
    with target.lock("test", timeout=5) as lease:
        after = target.write_applied({"Connector.entra": CONNECTOR, "Mapping.entra-users": MAPPING},
                                     expected_serial=0, expected_lineage=state.lineage, lease=lease,
                                     summary="Plan: 2 to add", plan_hash="sha256:p", git_commit="abc")
        assert after.serial == 1 and after.resources == {"Connector.entra": CONNECTOR,
                                                          "Mapping.entra-users": MAPPING}
        after = target.write_applied({"Mapping.entra-users": None}, expected_serial=1,
                                     expected_lineage=state.lineage, lease=lease, summary="1 to destroy")
    assert after.serial == 2 and list(after.resources) == ["Connector.entra"]
    log = target.audit_log()
    assert [(e.action, e.serial, e.summary) for e in log] == [("apply", 2, "1 to destroy"),
                                                              ("apply", 1, "Plan: 2 to add")]
    assert log[1].plan_hash == "sha256:p" and log[1].git_commit == "abc" and log[1].user and log[1].host


def test_stale_serial_or_lineage_is_refused(target: SqliteBackend) -> None:
    lineage = target.read_applied().lineage
    with target.lock("test", timeout=5) as lease:
        with pytest.raises(StalePlanError, match="serial 3"):
            target.write_applied({"Connector.entra": CONNECTOR}, expected_serial=3, expected_lineage=lineage,
                                 lease=lease, summary="x")
        with pytest.raises(StalePlanError, match="lineage"):
            target.write_applied({"Connector.entra": CONNECTOR}, expected_serial=0, expected_lineage="other",
                                 lease=lease, summary="x")
    assert target.read_applied().resources == {}


def test_failure_mid_write_leaves_state_as_it_was(target: SqliteBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    lineage = target.read_applied().lineage
    written: list[str] = []
    original = SqliteBackend._write_resource

    def failing(self: SqliteBackend, conn: sqlite3.Connection, address: str, canonical: object) -> None:
        if written:
            raise OSError("disk full (injected)")
        original(self, conn, address, canonical)  # type: ignore[arg-type]
        written.append(address)

    monkeypatch.setattr(SqliteBackend, "_write_resource", failing)
    with target.lock("test", timeout=5) as lease, pytest.raises(OSError, match="injected"):
        target.write_applied({"Connector.entra": CONNECTOR, "Mapping.entra-users": MAPPING},
                             expected_serial=0, expected_lineage=lineage, lease=lease, summary="x")
    assert written == ["Connector.entra"]
    state = target.read_applied()
    assert (state.serial, state.resources) == (0, {})
    assert target.audit_log() == []


def test_older_schema_is_upgraded_in_one_transaction(target: SqliteBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    path = target.path
    with target.lock("t", 5) as lease:
        target.write_applied({"Connector.entra": CONNECTOR}, expected_serial=0,
                             expected_lineage=target.read_applied().lineage, lease=lease, summary="x")
    target.close()
    # The code moves on to a fake next version whose upgrade adds a column.
    monkeypatch.setattr(_schema, "SCHEMA_VERSION", _schema.SCHEMA_VERSION + 1)
    monkeypatch.setitem(_schema.UPGRADES, _schema.SCHEMA_VERSION,
                        "-- fake upgrade\nALTER TABLE applied_resources ADD COLUMN note TEXT;\n"
                        "UPDATE applied_resources SET note = 'upgraded';")
    upgraded = open_backend(path.parent.parent, environment())
    conn = upgraded.connection
    assert conn.execute("SELECT schema_version FROM meta").fetchone()[0] == _schema.SCHEMA_VERSION
    assert conn.execute("SELECT note FROM applied_resources").fetchall() == [("upgraded",)]
    assert upgraded.read_applied().resources == {"Connector.entra": CONNECTOR}
    upgraded.close()


def test_failed_upgrade_changes_nothing(target: SqliteBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    path, version = target.path, _schema.SCHEMA_VERSION
    target.close()
    monkeypatch.setattr(_schema, "SCHEMA_VERSION", version + 1)
    monkeypatch.setitem(_schema.UPGRADES, version + 1,
                        "ALTER TABLE applied_resources ADD COLUMN note TEXT;\nSELECT * FROM no_such_table;")
    with pytest.raises(sqlite3.OperationalError):
        open_backend(path.parent.parent, environment())
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT schema_version FROM meta").fetchone()[0] == version
    assert "note" not in {row[1] for row in conn.execute("PRAGMA table_info(applied_resources)")}
    conn.close()


def test_state_from_a_newer_idmctl_is_refused(target: SqliteBackend) -> None:
    target.connection.execute("UPDATE meta SET schema_version = 99")
    target.close()
    with pytest.raises(StateError, match="schema version 99"):
        open_backend(target.path.parent.parent, environment())


def test_target_path_is_relative_to_the_root_and_parents_are_created(tmp_path: Path) -> None:
    target = open_backend(tmp_path, environment("qa", "state/deep/qa.sqlite"), must_exist=False)
    target.init()
    assert target.path == (tmp_path / "state/deep/qa.sqlite").resolve()
    assert os.path.isfile(target.path)
    target.close()


def test_identity_and_schedule_stores_share_the_state_file(target: SqliteBackend) -> None:
    assert target.store().count() == 0
    assert target.store() is target.store()
    assert target.store().schedules.all() == {}


def test_a_version_1_state_is_upgraded_to_name_its_entries(tmp_path: Path) -> None:
    """Schema 2 adds recon_entries.label; a state written by the release before is upgraded in place."""
    from controller.backends import EntryRecord, WriteBatch
    from controller.backends.sqlite._database import split_statements

    path = tmp_path / ".idmctl" / "dev.db"
    path.parent.mkdir()
    conn = sqlite3.connect(path)
    v1_identity = _schema.IDENTITY_DDL.replace("    label     TEXT,\n", "")
    for section in (_schema.STATE_DDL, v1_identity, _schema.SCHEDULE_DDL):
        for statement in split_statements(section):
            conn.execute(statement)
    conn.execute("INSERT INTO meta (id, schema_version, environment, lineage, serial, created, fingerprint_key) "
                 "VALUES (1, 1, 'dev', 'lin', 0, '2026-01-01T00:00:00Z', ?)", (b"k" * 32,))
    conn.execute("INSERT INTO recon_entries (run_id, seq, phase, source_id, target_id, situation, action, status) "
                 "VALUES ('old-run', 1, 'source', 's1', 't1', 'ABSENT', 'CREATE', 'SUCCESS')")
    conn.commit()
    conn.close()
    backend = open_backend(tmp_path, environment())
    try:
        store = backend.store()
        [old] = store.entries("old-run")
        assert old.label is None and old.source_id == "s1"
        store.apply("entra-users", "new-run", WriteBatch(entries=[EntryRecord(
            "source", "s2", None, "ABSENT", "CREATE", "FAILURE", "required property 'sn' is missing", None,
            "Rainier@contoso.onmicrosoft.com")]), 1)
        [new] = store.entries("new-run")
        assert new.label == "Rainier@contoso.onmicrosoft.com" and new.to_dict()["label"] == new.label
        assert backend.connection.execute("SELECT schema_version FROM meta").fetchone()[0] == _schema.SCHEMA_VERSION
        assert backend.platform_objects() == {}  # and version 3's table is there
    finally:
        backend.close()


def test_a_version_2_state_is_upgraded_to_record_platform_objects(tmp_path: Path) -> None:
    """Schema 3 adds platform_objects (what idmctl wrote to an AIC tenant); a version 2 state gains it."""
    from controller.backends import PlatformObject
    from controller.backends.sqlite._database import split_statements

    path = tmp_path / ".idmctl" / "dev.db"
    path.parent.mkdir()
    conn = sqlite3.connect(path)
    for section in (_schema.STATE_DDL, _schema.IDENTITY_DDL, _schema.SCHEDULE_DDL):
        for statement in split_statements(section):
            conn.execute(statement)
    conn.execute("INSERT INTO meta (id, schema_version, environment, lineage, serial, created, fingerprint_key) "
                 "VALUES (1, 2, 'dev', 'lin', 4, '2026-01-01T00:00:00Z', ?)", (b"k" * 32,))
    conn.commit()
    conn.close()
    backend = open_backend(tmp_path, environment())
    try:
        assert backend.read_applied().serial == 4
        obj = PlatformObject("schedule/s", "schedule", "Schedule.s", "sha256:x", {"_id": "schedule/s"},
                             "2026-12-01T00:00:00Z")
        with backend.lock("t", 5) as lease:
            backend.record_platform_objects({obj.id: obj}, lease=lease)
        assert backend.platform_objects() == {obj.id: obj}
        assert backend.connection.execute("SELECT schema_version FROM meta").fetchone()[0] == 3
    finally:
        backend.close()


def _store_at(path: Path) -> tuple[SqliteStore, sqlite3.Connection]:
    new = not path.exists()
    conn = database.connect(path)
    if new:
        database.create_schema(conn)
    return SqliteStore(conn, SqliteScheduleState(conn)), conn


def _cache_kib(conn: sqlite3.Connection) -> int:
    return -int(conn.execute("PRAGMA cache_size").fetchone()[0])  # negative: KiB, not pages


def _creates(first: int, n: int) -> WriteBatch:
    ids = [f"0195a000-0000-7000-8000-{i:012d}" for i in range(first, first + n)]
    return WriteBatch(creates=[Create(oid, {"userName": f"user{i}@contoso.com", "givenName": f"Given{i}",
                                             "sn": f"Surname{i}", "mail": f"user{i}@contoso.com"})
                               for i, oid in enumerate(ids, first)],
                      links_add=[Link(f"entra-{oid}", oid) for oid in ids])


def test_the_page_cache_starts_small_and_grows_once_a_run_writes_more_rows_than_pages(tmp_path: Path) -> None:
    """An incremental round changes each page about once (a big cache is only fresh memory); a full run,
    or a round that writes more rows than the file has pages, comes back to its pages (the bulk cache)."""
    store, conn = _store_at(tmp_path / "state.db")
    assert _cache_kib(conn) == database.CACHE_KIB < database.BULK_CACHE_KIB
    store.start_run("run-inc", "entra-users", RunMode.INCREMENTAL, started="2026-12-02T10:00:00.000Z")
    store.apply("entra-users", "run-inc", _creates(0, 3), 0)
    assert _cache_kib(conn) == database.CACHE_KIB  # 6 rows into a file of more pages
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    store.apply("entra-users", "run-inc", _creates(3, pages), 0)  # 2 rows each: more rows than pages
    assert _cache_kib(conn) == database.BULK_CACHE_KIB
    assert store.count() == 3 + pages and store.link_count("entra-users") == 3 + pages
    # The next run starts small again, and only its own reads and writes count.
    store.start_run("run-inc-2", "entra-users", RunMode.INCREMENTAL, started="2026-12-02T10:15:00.000Z")
    assert _cache_kib(conn) == database.CACHE_KIB
    store.apply("entra-users", "run-inc-2", _creates(10_000, 3), 0)
    assert _cache_kib(conn) == database.CACHE_KIB
    conn.close()

    store, conn = _store_at(tmp_path / "full.db")
    store.start_run("run-full", "entra-users", RunMode.FULL, started="2026-12-02T10:00:00.000Z")
    assert _cache_kib(conn) == database.BULK_CACHE_KIB  # a full run reads every linked object
    # The next run in the same process (``schedule run``) starts small again, its own rows counted.
    store.start_run("run-inc-2", "entra-users", RunMode.INCREMENTAL, started="2026-12-02T10:15:00.000Z")
    assert _cache_kib(conn) == database.CACHE_KIB
    store.apply("entra-users", "run-inc-2", _creates(0, 3), 0)
    assert _cache_kib(conn) == database.CACHE_KIB
    conn.close()


def test_renaming_a_mapping_moves_its_links_with_the_bulk_cache(tmp_path: Path) -> None:
    store, conn = _store_at(tmp_path / "state.db")
    store.apply("old-name", "run-1", _creates(0, 5), 0)
    conn.close()
    store, conn = _store_at(tmp_path / "state.db")  # the next command: the engine renames, then records the run
    assert _cache_kib(conn) == database.CACHE_KIB
    assert store.rename_mapping("old-name", "entra-users") == 5
    assert _cache_kib(conn) == database.BULK_CACHE_KIB  # every link moves in the target index
    store.start_run("run-2", "entra-users", RunMode.INCREMENTAL, started="2026-12-02T10:00:00.000Z")
    assert _cache_kib(conn) == database.CACHE_KIB
    assert store.link_count("entra-users") == 5
    conn.close()


def test_reading_more_objects_than_pages_by_id_gives_the_bulk_cache(tmp_path: Path) -> None:
    """A run that went full when its delta link expired never says so to the store: the lookups of
    every linked object do (``linked_objects`` and ``get_many`` count the rows they return)."""
    store, conn = _store_at(tmp_path / "state.db")
    batch = _creates(0, 400)
    store.apply("entra-users", "run-1", batch, 0)
    conn.close()
    store, conn = _store_at(tmp_path / "state.db")  # a new command: a new connection, the small cache
    assert _cache_kib(conn) == database.CACHE_KIB
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    assert pages < 400
    sources = [link.source_id for link in batch.links_add]
    half = pages // 2
    assert len(store.linked_objects("entra-users", sources[:half])) == half
    assert len(store.get_many(c.object_id for c in batch.creates[:pages - half - 1])) == pages - half - 1
    assert _cache_kib(conn) == database.CACHE_KIB  # one row fewer than pages so far
    store.linked_objects("entra-users", sources[half:half + 2])  # one more than pages
    assert _cache_kib(conn) == database.BULK_CACHE_KIB
    conn.close()

