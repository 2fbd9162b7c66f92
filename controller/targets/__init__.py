"""Where environments live: the ``Target`` protocol, applied state, the environment lock, the audit log.

``open_target`` picks the implementation the Environment names (``local`` SQLite now; ``postgres`` and
``aic`` later). Nothing above this package writes SQL.
"""

from controller.targets._base import AppliedState, AuditEntry, LockLease, Target
from controller.targets._open import open_target
from controller.targets.local import LocalTarget

__all__ = ["AppliedState", "AuditEntry", "LocalTarget", "LockLease", "Target", "open_target"]
