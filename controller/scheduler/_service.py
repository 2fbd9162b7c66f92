"""What `idmctl schedule` does: preview fire times of any expression, list an environment's schedules
with their state, and serve the scheduler loop on the environment's *applied* configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from controller.cron import parse_cron, resolve_zone
from controller.errors import UsageError
from controller.scheduler._loop import Clock, Schedule, Scheduler, iso_utc

__all__ = ["preview_cron", "preview_schedule", "schedule_status", "serve"]

# A scheduled run waits this long for the environment lock (another mapping's run, an apply) before
# it is recorded as FAILED; its fire is already claimed, so giving up early would lose it.
SCHEDULED_LOCK_TIMEOUT = 600.0


def preview_cron(cron: str, time_zone: str = "UTC", count: int = 5,
                 after: datetime | None = None) -> dict[str, Any]:
    """The next ``count`` fire times of ``cron`` in ``time_zone``, its words and its lint warnings."""
    if count < 1:
        raise UsageError(f"--count must be at least 1, got {count}")
    expr = parse_cron(cron)
    zone = resolve_zone(time_zone)
    start = after or datetime.now(UTC)
    if start.tzinfo is None:
        start = start.replace(tzinfo=zone)
    times = expr.fire_times(start, zone, count)
    return {
        "cron": str(expr), "timeZone": zone.key, "after": start.isoformat(timespec="seconds"),
        "description": expr.describe(), "warnings": expr.lint(start),
        "fireTimes": [t.isoformat() for t in times],
    }


def _open(root: Path, env: str) -> tuple[Any, Any]:
    from controller.config import load_environment
    from controller.targets import open_target

    loaded = load_environment(root, env)
    return loaded, open_target(root, loaded)


def _applied_schedules(target: Any) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """Applied Schedule resources by name (canonical), and the names of applied mappings."""
    resources = target.read_applied().resources
    schedules = {r["name"]: r for r in resources.values() if r.get("kind") == "Schedule"}
    mappings = {r["name"] for r in resources.values() if r.get("kind") == "Mapping"}
    return schedules, mappings


def preview_schedule(root: Path, env: str, name: str, count: int = 5,
                     after: datetime | None = None) -> dict[str, Any]:
    """``preview_cron`` for the schedule ``name``: as applied, else as in the working tree (said so)."""
    loaded, target = _open(root, env)
    try:
        applied, _ = _applied_schedules(target)
        state = target.schedules.get(name)
    finally:
        target.close()
    if name in applied:
        spec, source = applied[name]["spec"], "applied"
    elif name in loaded.resources.schedules:
        spec, source = loaded.resources.schedules[name].spec.model_dump(), "working tree (not applied)"
    else:
        known = sorted(set(applied) | set(loaded.resources.schedules)) or ["none"]
        raise UsageError(f"environment {env!r} has no schedule {name!r} (schedules: {', '.join(known)})")
    report = preview_cron(spec["cron"], spec.get("timeZone", "UTC"), count, after)
    report.update({"name": name, "mapping": spec["mapping"], "mode": spec.get("mode", "incremental"),
                   "enabled": spec.get("enabled", True), "source": source,
                   "paused": bool(state and state.paused)})
    return report


def schedule_status(root: Path, env: str, now: datetime | None = None) -> dict[str, Any]:
    """Every applied schedule with its words, next fire, last run and pause, plus warnings."""
    loaded, target = _open(root, env)
    now = now or datetime.now(UTC)
    try:
        applied, mappings = _applied_schedules(target)
        states = target.schedules.all()
    finally:
        target.close()
    rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    for name in sorted(applied):
        spec = applied[name]["spec"]
        expr = parse_cron(spec["cron"])
        zone = spec.get("timeZone", "UTC")
        state = states.get(name)
        stored_next = state.next_fire if state and state.cron == str(expr) and state.time_zone == zone else None
        upcoming = stored_next or expr.next_fire(now, zone)
        rows.append({
            "name": name, "mapping": spec["mapping"], "mode": spec.get("mode", "incremental"),
            "cron": str(expr), "timeZone": zone, "description": expr.describe(),
            "enabled": spec.get("enabled", True), "misfirePolicy": spec.get("misfirePolicy", "fireAndProceed"),
            "nextFire": upcoming.astimezone(resolve_zone(zone)).isoformat() if upcoming else None,
            "lastFire": iso_utc(state.last_fire) if state else None,
            "lastRunId": state.last_run_id if state else None,
            "lastRunState": state.last_run_state if state else None,
            "lastRunEnded": iso_utc(state.last_run_ended) if state else None,
            "paused": bool(state and state.paused),
            "pausedReason": state.paused_reason if state else None,
            "warnings": expr.lint(now),
        })
        if spec["mapping"] not in mappings:
            warnings.append(f"schedule {name!r} runs mapping {spec['mapping']!r}, which is not applied")
    pending = sorted(set(loaded.resources.schedules) - set(applied))
    if pending:
        warnings.append(f"not applied yet (plan and apply to schedule them): {', '.join(pending)}")
    return {"environment": env, "schedules": rows, "warnings": warnings}


def serve(root: Path, env: str, *, once: bool = False, log: Callable[[dict[str, Any]], None] | None = None,
          clock: Clock | None = None, on_start: Callable[[Scheduler], None] | None = None,
          handle_signals: bool = True) -> list[dict[str, Any]]:
    """Run the scheduler loop on the environment's applied schedules until SIGTERM/SIGINT (or one pass).

    Returns the records of every run and skipped fire. The applied schedules are read again on every
    tick, so an apply while the loop runs takes effect without a restart.
    """
    from controller.recon import run_reconciliation

    loaded, target = _open(root, env)

    def schedules() -> list[Schedule]:
        applied, _ = _applied_schedules(target)
        return [Schedule.from_resource(r) for _, r in sorted(applied.items())]

    def runner(mapping: str, mode: str) -> dict[str, Any]:
        run = run_reconciliation(target, loaded.resources, mapping, mode=mode,
                                 holder=f"schedule run ({mapping}, {mode})",
                                 lock_timeout=SCHEDULED_LOCK_TIMEOUT)
        return run.to_dict()

    try:
        if not schedules():
            raise UsageError(f"environment {env!r} has no applied schedules",
                             hint=f"Add a Schedule resource, then `idmctl plan --env {env}` and apply")
        scheduler = Scheduler(schedules, target.schedules, runner, clock, log=log)
        if on_start is not None:
            on_start(scheduler)
        if handle_signals:
            with scheduler.signal_handlers():
                return scheduler.run(once=once)
        return scheduler.run(once=once)
    finally:
        target.close()
