"""What a person sees when the PostgreSQL state cannot serve: unreachable, refused, missing; never the password."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.backends import EntryRecord, PlatformObject, StateBackend, WriteBatch, open_backend
from controller.backends.postgres._schema import SCHEMA_VERSION
from controller.config.models import EnvironmentResource
from controller.errors import StateAuthFailed, StateError, StateNotInitialized, StateUnreachable
from tests.postgres_cluster import PASSWORD_ENV, Cluster

WRONG = "Wr0ng-Pa55-RECOGNISABLE-91aa"


def _environment(state: dict[str, Any], secrets: dict[str, Any] | None = None) -> EnvironmentResource:
    return EnvironmentResource.model_validate({
        "apiVersion": "idmctl/v1", "kind": "Environment", "metadata": {"name": "prod"},
        "spec": {"state": state, "secrets": secrets or {"pg_password": {"fromEnv": PASSWORD_ENV}}}})


def _said(exc: BaseException) -> str:
    return str(exc) + repr(exc)


def test_a_missing_schema_says_to_run_init(pg_cluster: Cluster, pg_schema: str, tmp_path: Path) -> None:
    with pytest.raises(StateNotInitialized) as missing:
        open_backend(tmp_path, _environment(pg_cluster.state(pg_schema)))
    said = _said(missing.value)
    assert "idmctl init --env prod" in said and "dbname=idmctl" in said and f"schema={pg_schema}" in said
    assert f"host={pg_cluster.directory}" in said and str(pg_cluster.password) not in said


def test_a_wrong_password_is_refused_naming_host_database_and_user(
        pg_cluster: Cluster, pg_schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDMCTL_TEST_WRONG_PG_PASSWORD", WRONG)
    env = _environment(pg_cluster.state(pg_schema), {"pg_password": {"fromEnv": "IDMCTL_TEST_WRONG_PG_PASSWORD"}})
    with pytest.raises(StateAuthFailed) as refused:
        open_backend(tmp_path, env, must_exist=False).init()
    said = _said(refused.value)
    assert "refused user idmctl_test" in said and "database idmctl" in said and "spec.state.password" in said
    assert WRONG not in said and str(pg_cluster.password) not in said


def test_an_unreachable_server_says_what_to_check(tmp_path: Path) -> None:
    env = _environment({"backend": "postgres", "dsn": "host=/tmp/idmctl-no-server-here dbname=idmctl user=idmctl",
                        "password": "${secret.pg_password}", "schema": "idmctl_prod", "connectTimeoutSeconds": 2})
    with pytest.raises(StateUnreachable) as unreachable:
        open_backend(tmp_path, env)
    said = _said(unreachable.value)
    assert "cannot reach the PostgreSQL server at host /tmp/idmctl-no-server-here" in said
    assert "database idmctl" in said and "pg_isready" in said


def test_a_missing_database_says_how_to_create_it(pg_cluster: Cluster, tmp_path: Path) -> None:
    dsn = pg_cluster.dsn.replace("dbname=idmctl", "dbname=nosuchdb")
    with pytest.raises(StateError, match="database nosuchdb does not exist") as missing:
        open_backend(tmp_path, _environment({**pg_cluster.state("idmctl_prod"), "dsn": dsn}))
    assert "createdb" in str(missing.value)


def test_a_password_in_the_dsn_or_a_missing_secret_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(StateError, match="dsn carries a password") as in_dsn:
        open_backend(tmp_path, _environment({"backend": "postgres", "dsn": f"host=db dbname=x password={WRONG}"}))
    assert WRONG not in _said(in_dsn.value)
    monkeypatch.delenv("IDMCTL_TEST_UNSET_PASSWORD", raising=False)
    env = _environment({"backend": "postgres", "dsn": "host=db dbname=x", "password": "${secret.pg_password}"},
                       {"pg_password": {"fromEnv": "IDMCTL_TEST_UNSET_PASSWORD"}})
    with pytest.raises(StateError, match="environment variable IDMCTL_TEST_UNSET_PASSWORD is not set"):
        open_backend(tmp_path, env)


def test_init_twice_is_idempotent_and_concurrent_handles_share_one_schema(
        pg_cluster: Cluster, pg_schema: str, tmp_path: Path) -> None:
    env = _environment(pg_cluster.state(pg_schema), pg_cluster.secrets())
    first, second = open_backend(tmp_path, env, must_exist=False), open_backend(tmp_path, env, must_exist=False)
    try:
        assert first.init() is True and second.init() is False
        assert first.fingerprint_key == second.fingerprint_key
        assert pg_cluster.query("SELECT schema_version FROM " + f'"{pg_schema}".meta') == [(SCHEMA_VERSION,)]
    finally:
        first.close()
        second.close()


def _reopened_from(pg_cluster: Cluster, pg_schema: str, tmp_path: Path, version: int, undo: str) -> StateBackend:
    """A schema made now, taken back to ``version`` by ``undo`` (SQL, ``{s}`` the schema), opened again."""
    env = _environment(pg_cluster.state(pg_schema), pg_cluster.secrets())
    made = open_backend(tmp_path, env, must_exist=False)
    made.init()
    made.close()
    pg_cluster.execute(undo.format(s=f'"{pg_schema}"'))
    pg_cluster.execute(f'UPDATE "{pg_schema}".meta SET schema_version = {version}')
    upgraded = open_backend(tmp_path, env)
    assert pg_cluster.query(f'SELECT schema_version FROM "{pg_schema}".meta') == [(SCHEMA_VERSION,)]
    return upgraded


def test_a_version_1_schema_is_upgraded_in_place(pg_cluster: Cluster, pg_schema: str, tmp_path: Path) -> None:
    """Schema 2 adds recon_entries.label; a schema written by the release before is upgraded on open."""
    upgraded = _reopened_from(pg_cluster, pg_schema, tmp_path, 1, "ALTER TABLE {s}.recon_entries DROP COLUMN label")
    try:
        store = upgraded.store()
        store.apply("entra-users", "run-1", WriteBatch(entries=[EntryRecord(
            "source", "s1", None, "ABSENT", "CREATE", "FAILURE", "no sn", None, "Rainier@contoso.com")]), 1)
        assert [e.label for e in store.entries("run-1")] == ["Rainier@contoso.com"]
    finally:
        upgraded.close()


def test_a_version_2_schema_gains_platform_objects(pg_cluster: Cluster, pg_schema: str, tmp_path: Path) -> None:
    """Schema 3 adds platform_objects; a schema written by the release before is upgraded on open."""
    upgraded = _reopened_from(pg_cluster, pg_schema, tmp_path, 2, "DROP TABLE {s}.platform_objects")
    try:
        obj = PlatformObject("schedule/s", "schedule", "Schedule.s", "sha256:x", {"_id": "schedule/s"},
                             "2026-12-01T00:00:00Z")
        with upgraded.lock("t", 5) as lease:
            upgraded.record_platform_objects({obj.id: obj}, lease=lease)
        assert upgraded.platform_objects() == {obj.id: obj}
    finally:
        upgraded.close()
