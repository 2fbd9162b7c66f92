"""The ``postgres`` state backend: an environment's state in one schema of a shared PostgreSQL database.

``PostgresBackend`` is the state (applied snapshot, lock, audit); its ``store()`` is the embedded
platform's data in the same schema. Only ``controller.backends._factory`` (and tests) import this.
"""

from controller.backends.postgres._backend import PostgresBackend
from controller.backends.postgres._database import Database
from controller.backends.postgres._schedules import PostgresScheduleState
from controller.backends.postgres._schema import SCHEMA_VERSION
from controller.backends.postgres._store import PostgresStore

__all__ = ["SCHEMA_VERSION", "Database", "PostgresBackend", "PostgresScheduleState", "PostgresStore"]
