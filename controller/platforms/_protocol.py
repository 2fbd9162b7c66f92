"""The contract every platform implements (``embedded`` now; ``aic`` next), and what crosses it.

A platform is the identity system the configuration is applied to and that runs the reconciliations.
The state backend stays idmctl's own bookkeeping (the applied snapshot, lock, audit); the platform is
what that configuration *does*: on ``embedded`` idmctl's engine and managed store, on ``aic`` a tenant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar, runtime_checkable

from controller.backends import JsonObject, LockLease, ManagedObject, RunEntry, RunRecord
from controller.config import RunMode

if TYPE_CHECKING:  # only named in signatures: a `runs list` does not load the engine, plans or connectors
    from controller.config import ResourceSet
    from controller.connectors import ConnectionReport, SourcePreview
    from controller.plan import NativeChange, Plan
    from controller.recon import Progress, ReconRun

__all__ = ["DEFAULT_LOCK_TIMEOUT", "DEFAULT_PAGE", "ApplyOptions", "ApplyReport", "CancelCheck", "LivePlan", "Page",
           "Platform", "ProgressFactory", "ReconRequest", "RunLogger"]

# Longer than the lease's 30 s life: a rerun after a killed run waits the dead lease out.
DEFAULT_LOCK_TIMEOUT = 45.0
# Lists show a page by default: 300,000 identities printed line by line took minutes and helped nobody.
DEFAULT_PAGE = 50

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a longer list: ``total`` when it is known cheaply, ``more`` when rows follow."""

    items: list[T]
    offset: int = 0
    total: int | None = None
    more: bool = False
    labels: dict[str, str] = field(default_factory=dict)  # id -> a name people know (userName), for display

CancelCheck = Callable[[], bool]
RunLogger = Callable[[JsonObject], None]
ProgressFactory = Callable[[str], "Progress"]
"""The progress callback for one run of a mapping (the scheduler starts many runs)."""


@dataclass(frozen=True, slots=True)
class ReconRequest:
    """One reconciliation a person or a schedule asks for."""

    mapping: str
    mode: RunMode = RunMode.FULL
    dry_run: bool = False
    allow_deletes: int | None = None  # let the guard pass up to N deletes/unlinks (audited)
    reset_delta: bool = False
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    holder: str | None = None  # who holds the lock, for messages ("reconcile entra-users (full)")


@dataclass(frozen=True)
class LivePlan:
    """What a platform that holds its own copy of the configuration (an AIC tenant) found live.

    ``native`` is what apply would write there (in apply order, deletes last), ``drift`` the objects
    that changed there since idmctl last wrote them, ``live_hash`` the digest of every live object read.
    """

    platform: str
    native: tuple[NativeChange, ...]
    drift: tuple[NativeChange, ...]
    live_hash: str
    pending_restart: tuple[str, ...] = ()  # ESVs written but not loaded by the tenant yet


@dataclass(frozen=True)
class ApplyOptions:
    """How an apply runs on the platform: ``restart`` False defers an ESV restart (``--no-restart``)."""

    restart: bool = True
    progress: Callable[[str], None] | None = None  # one line per step people wait for (the restart)


@dataclass(frozen=True)
class ApplyReport:
    """What an apply did on the platform: native ids only, never a value."""

    written: tuple[str, ...] = ()  # native ids written and confirmed, in order
    deleted: tuple[str, ...] = ()
    restarted: bool = False
    pending: tuple[str, ...] = ()  # ESVs the tenant has not loaded (the restart was deferred)
    connector_tests: tuple[tuple[str, str], ...] = ()  # (connector, "Connected" | "skipped: <why>")

    def to_dict(self) -> JsonObject:
        return {"written": list(self.written), "deleted": list(self.deleted), "restarted": self.restarted,
                "pending": list(self.pending),
                "connectorTests": [{"connector": c, "result": r} for c, r in self.connector_tests]}


@runtime_checkable
class Platform(Protocol):
    """What a platform offers; every command that acts on an environment goes through one."""

    type: str  # "embedded" | "aic"

    def apply(self, plan: Plan, applied: ResourceSet, lease: LockLease,
              options: ApplyOptions | None = None) -> ApplyReport:
        """Make the platform run ``applied`` (the resources after ``plan``), doing ``plan.native``.

        Called under the environment lock before the state records the apply. Each native write is
        recorded (``StateBackend.record_platform_objects``) as soon as the platform confirmed it, so a
        failure part-way leaves the state recording exactly what was applied, and a rerun converges.
        """
        ...

    def plan_live(self, desired: ResourceSet, fingerprint_key: bytes) -> LivePlan | None:
        """Read the platform's live copy of what idmctl owns or would write and compare it with
        ``desired``; None when the applied snapshot in the state *is* the configuration (embedded)."""
        ...

    def adopt(self, resources: ResourceSet, lease: LockLease) -> list[str]:
        """Record as idmctl's own the objects of ``resources`` the platform already holds (``idmctl import``),
        as they are now, writing nothing to the platform; the native ids adopted."""
        ...

    def reconcile(self, request: ReconRequest, *, progress: Progress | None = None,
                  cancel: CancelCheck | None = None) -> ReconRun:
        """Run (or, with ``dry_run``, preview) one reconciliation of an applied mapping."""
        ...

    def list_runs(self, mapping: str | None = None, limit: int | None = DEFAULT_PAGE,
                  offset: int = 0) -> Page[RunRecord]:
        """Recorded runs, newest first (``limit`` None: all)."""
        ...

    def show_run(self, run_id: str, *, situation: str | None = None, action: str | None = None,
                 status: str | None = None, limit: int | None = DEFAULT_PAGE,
                 offset: int = 0) -> tuple[RunRecord, Page[RunEntry]]:
        """One run (id or unique prefix) and a page of its entries, filtered; labels name the identities."""
        ...

    def prune_runs(self, *, keep: int | None = None, older_than_days: float | None = None,
                   mapping: str | None = None, dry_run: bool = False) -> list[str]:
        """Delete old runs and their entries (``dry_run``: only say which); the ids pruned."""
        ...

    def search_identities(self, query: str | None = None, limit: int | None = DEFAULT_PAGE,
                          offset: int = 0) -> Page[ManagedObject]:
        """A page of the managed identities matching an IDM/SCIM filter, ordered by userName."""
        ...

    def get_identity(self, object_id: str) -> tuple[ManagedObject, list[tuple[str, str]]]:
        """One managed identity (id or unique prefix) and its links as (mapping, source id)."""
        ...

    def delete_identity(self, object_id: str, *, dry_run: bool = False) -> ManagedObject:
        """Delete one managed identity (id or unique prefix); its links stay, for the next run to report."""
        ...

    def missing_identities(self, user_names: Sequence[str]) -> list[str]:
        """The userNames among ``user_names`` that no managed identity has (application owners)."""
        ...

    def connector_test(self, resources: ResourceSet, name: str | None) -> ConnectionReport:
        """Token, granted vs needed roles, one read of connector ``name`` of ``resources``."""
        ...

    def connector_preview(self, resources: ResourceSet, name: str | None, limit: int) -> SourcePreview:
        """The console's Data tab: the first accounts of a connector with the mapped attributes."""
        ...

    def schedule_report(self, working: ResourceSet | None, now: datetime | None = None) -> JsonObject:
        """Every applied schedule with its words, next fire, last run and pause, plus warnings."""
        ...

    def preview_schedule(self, working: ResourceSet | None, name: str, count: int,
                         after: datetime | None) -> JsonObject:
        """The next fire times of one schedule (applied, else as in the working tree)."""
        ...

    def serve_schedules(self, *, once: bool = False, log: RunLogger | None = None,
                        handle_signals: bool = True, progress: ProgressFactory | None = None) -> list[JsonObject]:
        """Fire the applied schedules until stopped (or one pass); the records of what ran."""
        ...

    def pause_schedule(self, name: str, reason: str) -> JsonObject:
        """Stop schedule ``name`` from firing until resumed; the reason shows in ``schedule_report``."""
        ...

    def resume_schedule(self, name: str) -> JsonObject:
        """Let a paused schedule fire again (from its next fire time on)."""
        ...

    def close(self) -> None:
        """Release what the platform holds (connections, sessions)."""
        ...
