"""The ``local`` target: an environment's state in one SQLite file on the controller host.

Besides ``LocalTarget`` it exposes the stores that live in the same file — the identity store the
reconciliation engine writes, and the schedule state the scheduler claims fires in — with the
managed-object rules the engine checks before it batches a write.
"""

from controller.targets.local._identities import (
    IdentityStore,
    WriteBatch,
    duplicate_username,
    index_key,
    new_object_id,
    schema_error,
    with_defaults,
)
from controller.targets.local._schedules import ScheduleStore
from controller.targets.local._schema import IDENTITY_DDL
from controller.targets.local._target import LocalTarget

__all__ = [
    "IDENTITY_DDL",
    "IdentityStore",
    "LocalTarget",
    "ScheduleStore",
    "WriteBatch",
    "duplicate_username",
    "index_key",
    "new_object_id",
    "schema_error",
    "with_defaults",
]
