"""Opening the state backend an ``Environment`` resource names (``spec.state``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from controller.backends._protocol import StateBackend
from controller.errors import StateError

if TYPE_CHECKING:
    from controller.config.models import EnvironmentResource

__all__ = ["default_state_path", "open_backend", "postgres_password"]


def default_state_path(env: str) -> str:
    """Where a sqlite state lives when ``spec.state.path`` is not given (relative to the repository root)."""
    return f".idmctl/{env}.db"


def postgres_password(root: Path, environment: EnvironmentResource) -> str | None:
    """The database password ``spec.state.password`` names, read now from its secret (None: none given).

    The Environment resource is not variable-resolved, so the field holds the literal ``${secret.NAME}``;
    the value comes from ``spec.secrets.NAME`` alone and is never shown.
    """
    from controller.config import describe_secret_source, read_secret_source
    from controller.config.models import PostgresStateSpec

    name, spec = environment.metadata.name, environment.spec.state
    if not isinstance(spec, PostgresStateSpec) or spec.password is None:
        return None
    secret = spec.password[len("${secret."):-1]
    source = environment.spec.secrets.get(secret)
    if source is None:
        raise StateError(f"environment {name!r}: spec.state.password names secret {secret!r}, which spec.secrets "
                         "does not declare",
                         hint=f"Declare it in environment.yaml: secrets: {{{secret}: {{fromEnv: PGPASSWORD_VAR}}}}")
    value = read_secret_source(source, root)
    if value is None:
        where = describe_secret_source(source)
        raise StateError(f"environment {name!r}: the PostgreSQL password (secret {secret!r}) is not available: "
                         f"{where} is not set, missing or empty",
                         hint=f"Provide the password in {where} (for CI: a repository secret mapped to it)")
    return value


def open_backend(root: Path, environment: EnvironmentResource, *, must_exist: bool = True) -> StateBackend:
    """The state backend of ``environment``, with paths relative to the repository ``root``.

    With ``must_exist`` (every command but ``init``), a missing state raises ``StateNotInitialized``
    and an older schema is upgraded in place.
    """
    # The models and sqlite are imported here, like postgres below: every command module imports
    # controller.backends for its records and protocols (even for `--help`), which need neither.
    from controller.config.models import PostgresStateSpec

    name, spec = environment.metadata.name, environment.spec.state
    if isinstance(spec, PostgresStateSpec):
        # Imported here: psycopg and its pool cost ~0.3 s of start-up that sqlite environments never need.
        from controller.backends.postgres import Database, PostgresBackend

        db = Database(name, spec.dsn, spec.schema_, password=postgres_password(root, environment),
                      pool_size=spec.poolSize, connect_timeout=spec.connectTimeoutSeconds)
        backend = PostgresBackend(name, db)
        if not must_exist:
            return backend
        try:
            return backend.open_existing()
        except BaseException:
            backend.close()
            raise
    from controller.backends.sqlite import SqliteBackend

    path = Path(spec.path or default_state_path(name))
    sqlite = SqliteBackend(name, path if path.is_absolute() else (Path(root) / path).resolve())
    return sqlite.open_existing() if must_exist else sqlite
