"""A throwaway PostgreSQL cluster for the tests, from the server binaries installed on this machine.

``initdb`` + ``pg_ctl`` into a short directory under /tmp, a unix socket only (no port clashes between
xdist workers), test-only settings (fsync off), through ``runuser -u postgres`` when running as root
(initdb refuses root). The cluster has a role with a password (``scram-sha-256`` on the socket), so
the tests go through the same password path as production. ``IDMCTL_TEST_PG_DSN`` (with
``IDMCTL_TEST_PG_PASSWORD``) points the tests at an existing server instead.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import psycopg

# A recognisable password: the leak test greps every output, log, plan and table for it.
PG_PASSWORD = "Pg-Pa55-idmctl-RECOGNISABLE-4e1b"
PASSWORD_ENV = "IDMCTL_TEST_PG_PASSWORD"
ROLE = "idmctl_test"
DATABASE = "idmctl"


def server_bin() -> Path | None:
    """The newest installed server's bin directory (Debian's layout first), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class Cluster:
    """A running server: ``dsn`` for the role idmctl uses (password in ``password``), ``admin`` for set-up."""

    def __init__(self, dsn: str, password: str | None, admin_dsn: str, directory: Path | None = None,
                 bindir: Path | None = None) -> None:
        self.dsn = dsn
        self.password = password
        self.admin_dsn = admin_dsn
        self.directory = directory
        self.bindir = bindir
        self._names = itertools.count(1)

    # --- lifecycle ---------------------------------------------------------------------------------

    @classmethod
    def start(cls, bindir: Path) -> Cluster:
        directory = Path(tempfile.mkdtemp(prefix="pg-", dir="/tmp"))  # socket paths are limited to ~107 bytes
        as_root = os.geteuid() == 0
        if as_root:
            shutil.chown(directory, "postgres", "postgres")
        cls._run(as_root, [str(bindir / "initdb"), "-D", str(directory / "data"), "-A", "trust", "-U", "postgres",
                           "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        hba = directory / "data" / "pg_hba.conf"
        hba.write_text("local all postgres trust\nlocal all all scram-sha-256\n")
        options = (f"-k {directory} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off -c max_connections=100")
        cls._run(as_root, [str(bindir / "pg_ctl"), "-D", str(directory / "data"), "-l", str(directory / "log"),
                           "-w", "-o", options, "start"])
        admin = f"host={directory} user=postgres dbname=postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PG_PASSWORD}'")
            conn.execute(f"CREATE DATABASE {DATABASE} OWNER {ROLE}")
        return cls(f"host={directory} dbname={DATABASE} user={ROLE}", PG_PASSWORD,
                   f"host={directory} user=postgres dbname={DATABASE}", directory, bindir)

    @staticmethod
    def _run(as_root: bool, argv: list[str]) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
        proc = subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=120, cwd="/tmp")
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:1])} failed ({proc.returncode}): {proc.stderr[-2000:]}")

    def stop(self) -> None:
        if self.directory is None or self.bindir is None:
            return
        self._run(os.geteuid() == 0, [str(self.bindir / "pg_ctl"), "-D", str(self.directory / "data"),
                                      "-m", "immediate", "-w", "stop"])
        shutil.rmtree(self.directory, ignore_errors=True)

    # --- per test ----------------------------------------------------------------------------------

    def new_schema(self, tag: str = "t") -> str:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
        return f"{tag}_{worker}_{os.getpid()}_{next(self._names)}"

    def drop_schema(self, schema: str) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` as the superuser (tests looking at what a schema holds)."""
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def execute(self, sql: str, params: Any = None) -> None:
        """Run ``sql`` as the superuser (tests that age a schema, e.g. to a previous version)."""
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(sql, params)

    def state(self, schema: str) -> dict[str, Any]:
        """``spec.state`` of an environment whose state is ``schema`` here (the password from a secret)."""
        state: dict[str, Any] = {"backend": "postgres", "dsn": self.dsn, "schema": schema}
        if self.password:
            state["password"] = "${secret.pg_password}"
        return state

    def secrets(self) -> dict[str, Any]:
        return {"pg_password": {"fromEnv": PASSWORD_ENV}} if self.password else {}

    def use_in(self, root: Path, env: str, schema: str) -> None:
        """Point ``environments/<env>/environment.yaml`` under ``root`` at ``schema`` (comments kept)."""
        from ruamel.yaml import YAML

        path = root / "environments" / env / "environment.yaml"
        yaml = YAML()
        doc = yaml.load(path.read_text())
        doc["spec"]["state"] = self.state(schema)
        doc["spec"].setdefault("secrets", {}).update(self.secrets())
        with path.open("w") as fh:
            yaml.dump(doc, fh)


def from_environment() -> Cluster | None:
    """The server ``IDMCTL_TEST_PG_DSN`` names, if set."""
    dsn = os.environ.get("IDMCTL_TEST_PG_DSN")
    if not dsn:
        return None
    return Cluster(dsn, os.environ.get(PASSWORD_ENV), dsn)
