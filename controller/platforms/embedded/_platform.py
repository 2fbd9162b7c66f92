"""The ``embedded`` platform: idmctl's own reconciliation engine, managed store and scheduler loop.

Its configuration is the applied snapshot in the state backend (so ``apply`` has nothing more to
push and there is no drift to read), and its data is the backend's ``Store``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from controller.backends import JsonObject, LockLease, ManagedObject, RunEntry, RunRecord, StateBackend, Store
from controller.config import ResourceSet
from controller.config.models import Action, RunMode, Situation
from controller.connectors import ConnectionReport, SourcePreview, connector_preview, connector_test
from controller.errors import UsageError
from controller.filters import compile_filter, parse_filter
from controller.plan import PlanChange
from controller.platforms._protocol import CancelCheck, ReconRequest, RunLogger
from controller.recon import ConnectorFactory, Progress, ReconRun, run_reconciliation
from controller.scheduler import (
    SCHEDULED_LOCK_TIMEOUT,
    Clock,
    Schedule,
    Scheduler,
    schedule_preview,
    schedule_report,
)

__all__ = ["EmbeddedPlatform"]

_LOCK_WAIT = 10.0  # seconds a person's prune or delete waits for a run to reach a batch boundary
_RUN_STATUSES = ("SUCCESS", "FAILURE")


class EmbeddedPlatform:
    """The embedded platform of one environment: ``backend`` keeps the state, its ``store()`` the data."""

    type = "embedded"

    def __init__(self, root: Path, backend: StateBackend, working: ResourceSet | None = None, *,
                 connector_factory: ConnectorFactory | None = None) -> None:
        self.root = root
        self.backend = backend
        self.working = working
        self.connector_factory = connector_factory
        self.env = backend.env

    @property
    def store(self) -> Store:
        return self.backend.store()

    # --- configuration ---------------------------------------------------------------------------

    def apply(self, changes: Sequence[PlanChange], applied: ResourceSet, lease: LockLease) -> None:
        """Nothing to push: the engine and the scheduler read the applied snapshot the state records."""

    def live_configuration(self) -> dict[str, JsonObject] | None:
        return None

    # --- runs ------------------------------------------------------------------------------------

    def reconcile(self, request: ReconRequest, *, progress: Progress | None = None,
                  cancel: CancelCheck | None = None) -> ReconRun:
        return run_reconciliation(
            self.backend, self.store, self.root, self.working, request.mapping, mode=request.mode,
            dry_run=request.dry_run, allow_deletes=request.allow_deletes, reset_delta=request.reset_delta,
            connector_factory=self.connector_factory, progress=progress, cancel=cancel,
            holder=request.holder, lock_timeout=request.lock_timeout)

    def list_runs(self, mapping: str | None = None, limit: int | None = 20) -> list[RunRecord]:
        return self.store.list_runs(mapping, limit)

    def show_run(self, run_id: str, *, situation: str | None = None, action: str | None = None,
                 status: str | None = None, limit: int | None = None) -> tuple[RunRecord, list[RunEntry]]:
        for value, allowed, name in ((situation, [str(s) for s in Situation], "--situation"),
                                     (action, [str(a) for a in Action], "--action"),
                                     (status, list(_RUN_STATUSES), "--status")):
            if value is not None and value.upper() not in allowed:
                raise UsageError(f"{name} {value!r} is not one of {', '.join(allowed)}")
        run = self.store.get_run(run_id)
        if run is None:
            raise UsageError(f"no run {run_id!r} in environment {self.env!r}",
                             hint=f"List runs with `idmctl runs list --env {self.env}`")
        return run, self.store.entries(run.id, situation=situation, action=action, status=status, limit=limit)

    def prune_runs(self, *, keep: int | None = None, older_than_days: float | None = None,
                   mapping: str | None = None) -> list[str]:
        if keep is None and older_than_days is None:
            raise UsageError("runs prune needs --keep N or --older-than DAYS",
                             hint=f"For example: idmctl runs prune --env {self.env} --keep 50")
        with self.backend.lock("runs prune", _LOCK_WAIT) as lease, self.store.fenced(lease):
            return self.store.prune_runs(keep=keep, older_than_days=older_than_days, mapping=mapping)

    # --- identities ------------------------------------------------------------------------------

    def search_identities(self, query: str | None = None, limit: int | None = None) -> list[ManagedObject]:
        match = compile_filter(parse_filter(query)) if query and query.strip() else None
        found: list[ManagedObject] = []
        for obj in self.store.iter_objects():
            if match is None or match(obj.properties):
                found.append(obj)
                if limit and len(found) >= limit:
                    break
        return found

    def _not_found(self, object_id: str) -> UsageError:
        return UsageError(f"managed/alpha_user/{object_id} does not exist in {self.env!r}",
                          hint=f"Find ids with `idmctl identities search --env {self.env}`")

    def get_identity(self, object_id: str) -> tuple[ManagedObject, list[tuple[str, str]]]:
        obj = self.store.get(object_id)
        if obj is None:
            raise self._not_found(object_id)
        return obj, self.store.links_of_object(object_id)

    def delete_identity(self, object_id: str) -> ManagedObject:
        with self.backend.lock(f"identities delete {object_id}", _LOCK_WAIT) as lease, self.store.fenced(lease):
            obj = self.store.delete(object_id)
        if obj is None:
            raise self._not_found(object_id)
        return obj

    def missing_identities(self, user_names: Sequence[str]) -> list[str]:
        taken = self.store.usernames_taken(user_names)
        return [name for name in user_names if name.lower() not in taken]

    # --- connectors ------------------------------------------------------------------------------

    def connector_test(self, resources: ResourceSet, name: str | None) -> ConnectionReport:
        return connector_test(resources, name, base_dir=self.root)

    def connector_preview(self, resources: ResourceSet, name: str | None, limit: int) -> SourcePreview:
        return connector_preview(resources, name, limit=limit, base_dir=self.root)

    # --- schedules -------------------------------------------------------------------------------

    def _applied(self) -> ResourceSet | None:
        state = self.backend.read_applied()
        return ResourceSet.from_canonical(state.resources, root=self.root) if state.resources else None

    def schedule_report(self, working: ResourceSet | None, now: datetime | None = None) -> JsonObject:
        applied = self._applied()
        return schedule_report(self.env, applied.schedules if applied else {},
                               applied.mappings if applied else (),
                               working.schedules if working else (), self.store.schedules.all(), now)

    def preview_schedule(self, working: ResourceSet | None, name: str, count: int,
                         after: datetime | None) -> JsonObject:
        applied = self._applied()
        return schedule_preview(self.env, name, applied.schedules if applied else {},
                                working.schedules if working else {}, self.store.schedules.get(name), count, after)

    def overridden_since(self, mapping: str, since: datetime) -> bool:
        """Whether a run of ``mapping`` went through with ``--allow-deletes`` after ``since`` (the audit log)."""
        cutoff = since.astimezone(UTC)
        for entry in self.backend.audit_log(200):
            if datetime.fromisoformat(entry.time.replace("Z", "+00:00")) <= cutoff:
                return False  # newest first: nothing later follows
            if entry.action == "allow-deletes" and entry.details.get("mapping") == mapping:
                return True
        return False

    def serve_schedules(self, *, once: bool = False, log: RunLogger | None = None,
                        handle_signals: bool = True, clock: Clock | None = None,
                        on_start: Callable[[Scheduler], None] | None = None) -> list[JsonObject]:
        def schedules() -> list[Schedule]:
            applied = self._applied()
            return [Schedule.from_resource(r) for _, r in sorted((applied.schedules if applied else {}).items())]

        def runner(mapping: str, mode: RunMode) -> JsonObject:
            request = ReconRequest(mapping, mode, holder=f"schedule run ({mapping}, {mode})",
                                   lock_timeout=SCHEDULED_LOCK_TIMEOUT)
            return self.reconcile(request).to_dict()

        if not schedules():
            raise UsageError(f"environment {self.env!r} has no applied schedules",
                             hint=f"Add a Schedule resource, then `idmctl plan --env {self.env}` and apply")
        scheduler = Scheduler(schedules, self.store.schedules, runner, clock, log=log,
                              overridden_since=self.overridden_since)
        if on_start is not None:
            on_start(scheduler)
        if handle_signals:
            with scheduler.signal_handlers():
                return scheduler.run(once=once)
        return scheduler.run(once=once)

    def close(self) -> None:
        """Nothing of its own: the backend (closed by whoever opened it) holds the connection."""
