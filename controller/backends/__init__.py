"""Where idmctl keeps an environment's own bookkeeping: the ``StateBackend`` and ``Store`` protocols.

``open_backend`` picks the implementation the Environment's ``spec.state`` names (``sqlite`` or
``postgres``). Nothing above this package writes SQL, and only the factory imports a concrete
backend (an import-linter contract says so).
"""

from controller.backends._factory import open_backend
from controller.backends._ids import new_object_id, new_object_ids
from controller.backends._protocol import (
    AppliedState,
    AuditEntry,
    Claim,
    Create,
    Delete,
    EntryRecord,
    JsonObject,
    Link,
    LockLease,
    ManagedObject,
    PlatformObject,
    Retry,
    RetryMark,
    RunClaim,
    RunEntry,
    RunRecord,
    ScheduleState,
    ScheduleStateStore,
    StateBackend,
    Store,
    Update,
    WriteBatch,
    format_time,
    iso_utc,
)

__all__ = [
    "AppliedState",
    "AuditEntry",
    "Claim",
    "Create",
    "Delete",
    "EntryRecord",
    "JsonObject",
    "Link",
    "LockLease",
    "ManagedObject",
    "PlatformObject",
    "Retry",
    "RetryMark",
    "RunClaim",
    "RunEntry",
    "RunRecord",
    "ScheduleState",
    "ScheduleStateStore",
    "StateBackend",
    "Store",
    "Update",
    "WriteBatch",
    "format_time",
    "iso_utc",
    "new_object_id",
    "new_object_ids",
    "open_backend",
]
