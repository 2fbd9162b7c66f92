"""The database password is found nowhere after a full flow: no output, log file, plan file or table.

The state is in PostgreSQL behind a role with a recognisable password (tests/postgres_cluster.py);
the flow is what a user does on the demo environment against the emulator, errors included.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from controller.backends import open_backend
from controller.cli import run
from controller.config import load_environment
from tests.postgres_cluster import Cluster

ENV = "demo"


def test_the_database_password_is_found_nowhere(tmp_path: Path, emulator: Any, demo_repo: Any, pg_cluster: Cluster,
                                                pg_schema: str, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    password = pg_cluster.password
    assert password
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("IDMCTL_ROOT", raising=False)
    root = demo_repo(tmp_path / "repo", emulator)
    pg_cluster.use_in(root, ENV, pg_schema)
    seen: list[str] = []

    def cli(*argv: str) -> int:
        capsys.readouterr()
        code = run([*argv, "--root", str(root)])
        captured = capsys.readouterr()
        seen.extend([captured.out, captured.err])
        return code

    assert cli("validate", "--env", ENV) == 0
    assert cli("init", "--env", ENV) == 0
    for fmt in ("text", "json", "markdown"):
        assert cli("plan", "--env", ENV, "--format", fmt, "-v") == 0
    assert cli("plan", "--env", ENV, "--out", str(tmp_path / "saved.plan")) == 0
    assert cli("apply", "--env", ENV, "--json", str(tmp_path / "saved.plan")) == 0
    assert cli("reconcile", "--env", ENV, "--mapping", "entra-users", "--json") == 0
    assert cli("reconcile", "--env", ENV, "--mapping", "entra-users", "--incremental", "-v") == 0
    assert cli("runs", "list", "--env", ENV, "--json") == 0
    assert cli("identities", "search", "--env", ENV, "--json") == 0
    assert cli("schedule", "status", "--env", ENV) in (0, 1)
    backend = open_backend(root, load_environment(root, ENV).resources.environment)
    try:
        with backend.lock("leak test", timeout=0):
            assert cli("apply", "--env", ENV, "--auto-approve") == 1  # the lock error names the holder
        assert cli("force-unlock", "--env", ENV, "00000000-0000-0000-0000-000000000000") == 1
    finally:
        backend.close()
    # A process of its own, verbose, and one whose secret is wrong: the refusal names no password either.
    proc = subprocess.run([sys.executable, "-m", "controller", "runs", "list", "--env", ENV, "-v", "--root",
                           str(root)], capture_output=True, text=True, timeout=120, env={**os.environ})
    seen.extend([proc.stdout, proc.stderr])
    monkeypatch.setenv("IDMCTL_TEST_PG_PASSWORD", password + "-rotated-away")
    assert cli("plan", "--env", ENV) == 1
    assert "refused user" in seen[-1]
    monkeypatch.setenv("IDMCTL_TEST_PG_PASSWORD", password)

    blobs = [s.encode() for s in seen]
    for path in sorted(tmp_path.rglob("*")):  # plan files, the repository, the emulator's files and logs
        if path.is_file():
            blobs.append(path.read_bytes())
    assert pg_cluster.directory is not None
    blobs.append((pg_cluster.directory / "log").read_bytes())  # the server's own log
    tables = [r[0] for r in pg_cluster.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (pg_schema,))]
    assert {"meta", "audit_log", "env_lock", "alpha_user", "recon_runs", "recon_entries"} <= set(tables)
    for table in tables:
        rows = pg_cluster.query(f'SELECT t::text FROM "{pg_schema}"."{table}" t')
        blobs.append("\n".join(r[0] for r in rows).encode())
    blobs.append(repr(pg_cluster.query("SELECT application_name, query FROM pg_stat_activity")).encode())
    assert any(b"entra-users" in blob for blob in blobs)  # the scan did see the flow
    for blob in blobs:
        for value in (password, password + "-rotated-away"):
            assert value.encode() not in blob
            assert value.encode("utf-16-le") not in blob
