"""The PostgreSQL connection of one environment's state: a small pool, transactions scoped to the
environment's schema, and the typed errors a person can act on.

Every transaction starts with ``BEGIN; SET LOCAL search_path TO "<schema>"`` in one round trip, so the
schema holds for that transaction only (it survives PgBouncer's transaction pooling, which ignores
startup parameters). A transaction opened while the same thread already holds one is a savepoint in
it. The password is handed to libpq as a keyword of its own: it is in no connection string, message
or ``location``.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Literal

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool, PoolTimeout

from controller.errors import StateAuthFailed, StateError, StateUnreachable

__all__ = ["Connection", "Database", "Isolation", "is_connection_error"]

Connection = psycopg.Connection[TupleRow]
Isolation = Literal["read committed", "repeatable read"]

SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` says the server is gone (not a query's own error such as a deadlock)."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in {"57P01", "57P02", "57P03"}


class Database:
    """The pool and transactions of one environment's PostgreSQL state (opened on first use)."""

    def __init__(self, env: str, dsn: str, schema: str, *, password: str | None = None, pool_size: int = 4,
                 connect_timeout: float = 10.0) -> None:
        if not SCHEMA_NAME.match(schema):
            raise StateError(f"environment {env!r}: {schema!r} is not a schema name idmctl uses",
                             hint="Set spec.state.schema to lower-case letters, digits and _ (at most 63)")
        try:
            params = pg_conninfo.conninfo_to_dict(dsn)
        except psycopg.ProgrammingError:
            raise StateError(f"environment {env!r}: spec.state.dsn is not a libpq connection string",
                             hint='Write it as "host=db.internal dbname=idmctl user=idmctl"') from None
        if params.get("password"):
            raise StateError(f"environment {env!r}: spec.state.dsn carries a password",
                             hint="Remove it from the dsn and give it as spec.state.password: ${secret.NAME}")
        self.env = env
        self.schema = schema
        self.host = str(params.get("host") or params.get("hostaddr") or os.environ.get("PGHOST") or "localhost")
        self.port = str(params.get("port") or os.environ.get("PGPORT") or "5432")
        self.user = str(params.get("user") or os.environ.get("PGUSER") or "")
        self.dbname = str(params.get("dbname") or os.environ.get("PGDATABASE") or self.user or "postgres")
        self.location = f"postgres host={self.host} port={self.port} dbname={self.dbname} schema={schema}"
        self._conninfo = pg_conninfo.make_conninfo(dsn, connect_timeout=max(1, round(connect_timeout)),
                                                   application_name=f"idmctl {env}")
        self._password = password
        self._pool_size = pool_size
        self._timeout = connect_timeout
        self._pool: ConnectionPool[Connection] | None = None
        self._pool_lock = threading.Lock()
        self._local = threading.local()
        quoted = '"' + schema + '"'
        self._begin = {
            "read committed": f"BEGIN; SET LOCAL search_path TO {quoted}",
            "repeatable read": f"BEGIN ISOLATION LEVEL REPEATABLE READ; SET LOCAL search_path TO {quoted}",
        }

    def __repr__(self) -> str:
        return f"Database({self.location!r})"

    # --- connections -------------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        return text.replace(self._password, "***") if self._password else text

    def _where(self) -> str:
        return f"host {self.host} port {self.port}, database {self.dbname}"

    def _translate(self, exc: psycopg.OperationalError) -> StateError:
        """A connection failure as the typed error that says what to do (never the password)."""
        detail = self._scrub(str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__)
        text = str(exc).lower()
        user = self.user or "(the default user)"
        if "password authentication failed" in text or "no password supplied" in text or \
                "authentication failed" in text or ("role" in text and "does not exist" in text):
            return StateAuthFailed(
                f"environment {self.env!r}: the PostgreSQL server at {self._where()} refused user {user} "
                f"({detail})",
                hint="Check the user in spec.state.dsn and the secret spec.state.password names "
                     "(and pg_hba.conf on the server)")
        if "database" in text and "does not exist" in text:
            return StateUnreachable(
                f"environment {self.env!r}: database {self.dbname} does not exist on the PostgreSQL server at "
                f"host {self.host} port {self.port}",
                hint=f"Create it (`createdb -h {self.host} -O {user} {self.dbname}`) or fix dbname in "
                     "spec.state.dsn")
        return StateUnreachable(
            f"environment {self.env!r}: cannot reach the PostgreSQL server at {self._where()} ({detail})",
            hint="Check that the server runs and that host and port in spec.state.dsn are right "
                 f"(`pg_isready -h {self.host} -p {self.port}`)")

    def connect(self) -> Connection:
        """A connection of its own, outside the pool (the lock's renewer; the pool's first probe)."""
        try:
            if self._password:
                return psycopg.connect(self._conninfo, autocommit=True, password=self._password)
            return psycopg.connect(self._conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            raise self._translate(exc) from None

    @property
    def pool(self) -> ConnectionPool[Connection]:
        with self._pool_lock:
            if self._pool is None:
                self.connect().close()  # a clear error now, rather than a pool timeout later
                kwargs: dict[str, object] = {"autocommit": True}
                if self._password:
                    kwargs["password"] = self._password
                pool: ConnectionPool[Connection] = ConnectionPool(
                    self._conninfo, kwargs=kwargs, min_size=1, max_size=self._pool_size, open=False,
                    timeout=max(self._timeout, 30.0), name=f"idmctl-{self.env}")
                try:
                    pool.open(wait=True, timeout=self._timeout)
                except PoolTimeout:
                    pool.close()
                    raise StateUnreachable(
                        f"environment {self.env!r}: no connection to the PostgreSQL server at {self._where()} "
                        f"within {self._timeout:g}s", hint="Check the server's load and max_connections") from None
                self._pool = pool
            return self._pool

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    # --- transactions ------------------------------------------------------------------------------

    def in_transaction(self) -> bool:
        return getattr(self._local, "conn", None) is not None

    @contextmanager
    def transaction(self, isolation: Isolation = "read committed") -> Iterator[Connection]:
        """One transaction in the environment's schema: COMMIT at the end, ROLLBACK on any exception.

        Inside a transaction this thread already holds, a savepoint: the inner work is undone on error
        and the outer transaction decides.
        """
        current: Connection | None = getattr(self._local, "conn", None)
        if current is not None:
            current.execute("SAVEPOINT idmctl_nested")
            try:
                yield current
            except BaseException:
                if not current.closed:
                    current.execute("ROLLBACK TO SAVEPOINT idmctl_nested")
                raise
            current.execute("RELEASE SAVEPOINT idmctl_nested")
            return
        try:
            with self.pool.connection() as conn:
                conn.execute(self._begin[isolation])
                self._local.conn = conn
                try:
                    yield conn
                except BaseException:
                    self._local.conn = None
                    if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
                        with suppress(psycopg.Error):  # a broken connection: the server rolled back already
                            conn.execute("ROLLBACK")
                    raise
                self._local.conn = None
                conn.execute("COMMIT")
        except psycopg.OperationalError as exc:
            if is_connection_error(exc):
                raise self._translate(exc) from None
            raise
