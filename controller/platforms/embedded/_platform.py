"""The ``embedded`` platform: idmctl's own reconciliation engine, managed store and scheduler loop.

Its configuration is the applied snapshot in the state backend (so ``apply`` has nothing more to
push and there is no drift to read), and its data is the backend's ``Store``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from controller.backends import JsonObject, LockLease, ManagedObject, RunEntry, RunRecord, StateBackend, Store
from controller.config import ResourceSet
from controller.config.models import RunMode
from controller.errors import UsageError
from controller.filters import compile_filter, parse_filter
from controller.platforms._entries import check_entry_filters
from controller.platforms._protocol import (
    DEFAULT_PAGE,
    ApplyOptions,
    ApplyReport,
    CancelCheck,
    LivePlan,
    Page,
    ProgressFactory,
    ReconRequest,
    RunLogger,
)
from controller.scheduler import (
    SCHEDULED_LOCK_TIMEOUT,
    Clock,
    Schedule,
    Scheduler,
    schedule_preview,
    schedule_report,
)

if TYPE_CHECKING:  # the engine and connectors load with the first run or test that needs them
    from controller.connectors import ConnectionReport, SourcePreview
    from controller.plan import Plan
    from controller.recon import ConnectorFactory, Progress, ReconRun

__all__ = ["EmbeddedPlatform"]

T = TypeVar("T")

_LOCK_WAIT = 10.0  # seconds a person's prune or delete waits for a run to reach a batch boundary


def _page(rows: list[T], offset: int, limit: int | None, total: int | None = None) -> Page[T]:
    """``rows`` read up to one past the page: the page, and whether more follow."""
    end = None if limit is None else offset + limit
    items = rows[offset:end]
    more = end is not None and len(rows) > end
    return Page(items, offset, total if total is not None else (None if more else offset + len(items)), more)


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

    def apply(self, plan: Plan, applied: ResourceSet, lease: LockLease,
              options: ApplyOptions | None = None) -> ApplyReport:
        """Nothing to push: the engine and the scheduler read the applied snapshot the state records."""
        return ApplyReport()

    def plan_live(self, desired: ResourceSet, fingerprint_key: bytes) -> LivePlan | None:
        return None

    def adopt(self, resources: ResourceSet, lease: LockLease) -> list[str]:
        raise UsageError(f"environment {self.env!r} is on the embedded platform: there is nothing outside idmctl "
                         "to adopt", hint="`idmctl import` reads an AIC tenant: use it on an environment with "
                         "`platform: {type: aic, ...}`")

    # --- runs ------------------------------------------------------------------------------------

    def reconcile(self, request: ReconRequest, *, progress: Progress | None = None,
                  cancel: CancelCheck | None = None) -> ReconRun:
        from controller.recon import run_reconciliation

        return run_reconciliation(
            self.backend, self.store, self.root, self.working, request.mapping, mode=request.mode,
            dry_run=request.dry_run, allow_deletes=request.allow_deletes, reset_delta=request.reset_delta,
            connector_factory=self.connector_factory, progress=progress, cancel=cancel,
            holder=request.holder, lock_timeout=request.lock_timeout)

    def list_runs(self, mapping: str | None = None, limit: int | None = DEFAULT_PAGE,
                  offset: int = 0) -> Page[RunRecord]:
        runs = self.store.list_runs(mapping, None if limit is None else offset + limit + 1)
        return _page(runs, offset, limit)

    def show_run(self, run_id: str, *, situation: str | None = None, action: str | None = None,
                 status: str | None = None, limit: int | None = DEFAULT_PAGE,
                 offset: int = 0) -> tuple[RunRecord, Page[RunEntry]]:
        status = check_entry_filters(situation, action, status)
        run = self.store.get_run(run_id)
        if run is None:
            raise UsageError(f"no run {run_id!r} in environment {self.env!r}",
                             hint=f"List runs with `idmctl runs list --env {self.env}`")
        entries = self.store.entries(run.id, situation=situation, action=action, status=status,
                                     limit=None if limit is None else offset + limit + 1)
        unfiltered = situation is None and action is None and status is None
        total = run.counts.get("entries") if unfiltered else None
        page = _page(entries, offset, limit, total if isinstance(total, int) else None)
        targets = [e.target_id for e in page.items if e.target_id]
        labels = {oid: str(props.get("userName")) for oid, (_, props) in self.store.get_many(targets).items()}
        return run, Page(page.items, page.offset, page.total, page.more, labels)

    def prune_runs(self, *, keep: int | None = None, older_than_days: float | None = None,
                   mapping: str | None = None, dry_run: bool = False) -> list[str]:
        if keep is None and older_than_days is None:
            raise UsageError("runs prune needs --keep N or --older-than DAYS",
                             hint=f"For example: idmctl runs prune --env {self.env} --keep 50")
        if dry_run:
            return self.store.prune_runs(keep=keep, older_than_days=older_than_days, mapping=mapping, dry_run=True)
        with self.backend.lock("runs prune", _LOCK_WAIT) as lease, self.store.fenced(lease):
            return self.store.prune_runs(keep=keep, older_than_days=older_than_days, mapping=mapping)

    # --- identities ------------------------------------------------------------------------------

    def search_identities(self, query: str | None = None, limit: int | None = DEFAULT_PAGE,
                          offset: int = 0) -> Page[ManagedObject]:
        match = compile_filter(parse_filter(query)) if query and query.strip() else None
        wanted = None if limit is None else offset + limit + 1  # one more tells whether more follow
        found: list[ManagedObject] = []
        for obj in self.store.iter_objects():
            if match is None or match(obj.properties):
                found.append(obj)
                if wanted is not None and len(found) >= wanted:
                    break
        # Without a filter the total is one count; with one it would cost a scan of everything.
        return _page(found, offset, limit, self.store.count() if match is None else None)

    def _resolve_id(self, object_id: str) -> ManagedObject:
        """The object with this id, or the one whose id starts with it (a unique prefix of 4 or more)."""
        obj = self.store.get(object_id)
        if obj is not None:
            return obj
        hint = f"Find ids with `idmctl identities search --env {self.env}`"
        if len(object_id) >= 4:
            matches = [oid for oid in self.store.iter_ids() if oid.startswith(object_id)][:2]
            if len(matches) == 2:
                raise UsageError(f"id prefix {object_id!r} is ambiguous in {self.env!r}: it starts "
                                 f"{matches[0]}, {matches[1]} and maybe more", hint="Give more characters of the id")
            if matches and (found := self.store.get(matches[0])) is not None:
                return found
        raise UsageError(f"managed/alpha_user/{object_id} does not exist in {self.env!r}", hint=hint)

    def get_identity(self, object_id: str) -> tuple[ManagedObject, list[tuple[str, str]]]:
        obj = self._resolve_id(object_id)
        return obj, self.store.links_of_object(obj.id)

    def delete_identity(self, object_id: str, *, dry_run: bool = False) -> ManagedObject:
        obj = self._resolve_id(object_id)
        if dry_run:
            return obj
        with self.backend.lock(f"identities delete {obj.id}", _LOCK_WAIT) as lease, self.store.fenced(lease):
            deleted = self.store.delete(obj.id)
        if deleted is None:  # gone between the lookup and the lock
            raise UsageError(f"managed/alpha_user/{obj.id} does not exist in {self.env!r} any more")
        return deleted

    def missing_identities(self, user_names: Sequence[str]) -> list[str]:
        taken = self.store.usernames_taken(user_names)
        return [name for name in user_names if name.lower() not in taken]

    # --- connectors ------------------------------------------------------------------------------

    def connector_test(self, resources: ResourceSet, name: str | None) -> ConnectionReport:
        from controller.connectors import connector_test

        return connector_test(resources, name, base_dir=self.root)

    def connector_preview(self, resources: ResourceSet, name: str | None, limit: int) -> SourcePreview:
        from controller.connectors import connector_preview

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

    def _applied_schedule(self, name: str) -> Schedule:
        applied = self._applied()
        schedules = applied.schedules if applied else {}
        if name not in schedules:
            known = ", ".join(sorted(schedules)) or "none"
            raise UsageError(f"environment {self.env!r} has no applied schedule {name!r} (applied: {known})",
                             hint=f"See them with `idmctl schedule list --env {self.env}`")
        return Schedule.from_resource(schedules[name])

    def pause_schedule(self, name: str, reason: str) -> JsonObject:
        schedule, now = self._applied_schedule(name), datetime.now(UTC)
        states = self.store.schedules
        states.ensure(name, schedule.mapping, str(schedule.cron), schedule.time_zone,
                      schedule.cron.next_fire(now, schedule.time_zone), now)
        states.pause(name, reason, now)
        return {"name": name, "paused": True, "pausedReason": reason}

    def resume_schedule(self, name: str) -> JsonObject:
        self._applied_schedule(name)
        resumed = self.store.schedules.resume(name, datetime.now(UTC))
        return {"name": name, "paused": False, "resumed": resumed}

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
                        handle_signals: bool = True, progress: ProgressFactory | None = None,
                        clock: Clock | None = None,
                        on_start: Callable[[Scheduler], None] | None = None) -> list[JsonObject]:
        def schedules() -> list[Schedule]:
            applied = self._applied()
            return [Schedule.from_resource(r) for _, r in sorted((applied.schedules if applied else {}).items())]

        def runner(mapping: str, mode: RunMode) -> JsonObject:
            request = ReconRequest(mapping, mode, holder=f"schedule run ({mapping}, {mode})",
                                   lock_timeout=SCHEDULED_LOCK_TIMEOUT)
            return self.reconcile(request, progress=progress(mapping) if progress else None).to_dict()

        if not schedules():
            raise UsageError(f"environment {self.env!r} has no applied schedules",
                             hint=f"Add a Schedule resource, then `idmctl plan --env {self.env}` and apply")
        scheduler = Scheduler(schedules, self.store.schedules, runner, clock, log=log,
                              overridden_since=self.overridden_since, env=self.env)
        if on_start is not None:
            on_start(scheduler)
        if handle_signals:
            with scheduler.signal_handlers():
                return scheduler.run(once=once)
        return scheduler.run(once=once)

    def close(self) -> None:
        """Nothing of its own: the backend (closed by whoever opened it) holds the connection."""
