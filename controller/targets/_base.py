"""The contract every target implements (local SQLite now; postgres and aic later) and its value types.

Nothing above ``controller.targets`` knows how a target stores things: commands and the engine talk
to this protocol and receive these frozen values.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

__all__ = ["AppliedState", "AuditEntry", "LockLease", "Target", "format_time"]


def format_time(ts: float) -> str:
    """A Unix time as ISO 8601 UTC with seconds (what state, audit and messages show)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class AppliedState:
    """What the last apply wrote: the canonical resources, and where that sits in the state's history."""

    serial: int  # 0 before the first apply; +1 for every apply that changed something
    lineage: str  # uuid fixed when the state was created: a plan from another state never applies
    resources: dict[str, dict[str, Any]]  # address -> canonical resource (secrets as fingerprints)
    applied_at: str | None  # ISO time of the last apply, None before the first


@dataclass(frozen=True)
class AuditEntry:
    """One line of the environment's audit log."""

    id: int
    time: str  # ISO 8601 UTC
    user: str
    host: str
    action: str  # "apply", "force-unlock", "allow-deletes", ...
    serial: int  # the state serial after the action
    git_commit: str | None  # HEAD of the repository when it is one ("<sha>+dirty" with local edits)
    plan_hash: str | None  # hash of the applied plan, when the action applied one
    summary: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "time": self.time, "user": self.user, "host": self.host, "action": self.action,
            "serial": self.serial, "gitCommit": self.git_commit, "planHash": self.plan_hash,
            "summary": self.summary, "details": self.details,
        }


@dataclass(frozen=True)
class LockLease:
    """A holder's lease on the environment lock; ``lost`` is set if renewal finds it gone."""

    lock_id: str
    holder: str
    pid: int
    host: str
    acquired: float  # Unix time
    expires: float  # Unix time; renewed while held
    lost: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)

    def describe(self) -> str:
        return (f"{self.holder} (pid {self.pid} on {self.host}) since {format_time(self.acquired)}, "
                f"lock id {self.lock_id}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "lockId": self.lock_id, "holder": self.holder, "pid": self.pid, "host": self.host,
            "acquired": format_time(self.acquired), "expires": format_time(self.expires),
        }


@runtime_checkable
class Target(Protocol):
    """Where one environment's state lives. Implementations: ``LocalTarget`` (SQLite)."""

    env: str  # the environment's name
    location: str  # where the state is, for messages ("/repo/.idmctl/dev.db")

    def exists(self) -> bool:
        """Whether the state has been initialised."""
        ...

    def init(self) -> bool:
        """Create the state; False (and nothing changed) when it already exists."""
        ...

    @property
    def fingerprint_key(self) -> bytes:
        """The HMAC key for secret fingerprints, created at init; never leaves the state."""
        ...

    def read_applied(self) -> AppliedState:
        """The applied resources with serial and lineage, read in one snapshot."""
        ...

    def write_applied(
        self,
        changes: Mapping[str, Mapping[str, Any] | None],
        *,
        expected_serial: int,
        expected_lineage: str,
        lease: LockLease,
        summary: str,
        plan_hash: str | None = None,
        git_commit: str | None = None,
    ) -> AppliedState:
        """Write ``changes`` (address -> canonical, None deletes) all or nothing, bump the serial, audit.

        Raises ``StalePlanError`` when serial or lineage moved, ``LockHeldError`` when ``lease`` is no
        longer the environment's lock.
        """
        ...

    def lock(
        self,
        holder: str,
        timeout: float,
        ttl: float = 30.0,
        *,
        on_wait: Callable[[LockLease], None] | None = None,
    ) -> AbstractContextManager[LockLease]:
        """Hold the environment lock (one writer: apply, runs, the scheduler) for a ``with`` block."""
        ...

    def current_lock(self) -> LockLease | None:
        """The live lease, if any (an expired one is reported as None)."""
        ...

    def force_unlock(self, lock_id: str) -> LockLease:
        """Remove the lease ``lock_id`` left by a dead process; audited."""
        ...

    def audit(
        self,
        action: str,
        summary: str,
        *,
        plan_hash: str | None = None,
        git_commit: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """Append one entry to the audit log."""
        ...

    def audit_log(self, limit: int | None = None) -> list[AuditEntry]:
        """The audit log, newest first."""
        ...

    def close(self) -> None:
        """Release connections; the target is not used afterwards."""
        ...
