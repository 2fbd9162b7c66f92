"""The ``sqlite`` state backend: an environment's state in one SQLite file on the controller host.

``SqliteBackend`` is the state (applied snapshot, lock, audit); its ``store()`` is the embedded
platform's data in the same file. Only ``controller.backends._factory`` (and tests) import this.
"""

from controller.backends.sqlite._backend import SqliteBackend
from controller.backends.sqlite._schedules import SqliteScheduleState
from controller.backends.sqlite._schema import IDENTITY_DDL
from controller.backends.sqlite._store import SqliteStore

__all__ = ["IDENTITY_DDL", "SqliteBackend", "SqliteScheduleState", "SqliteStore"]
