"""What `idmctl schedule` shows, from typed inputs: the fire times of any expression, and the report of
an environment's applied schedules with their state. Platforms feed these; they read no state themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from controller.backends import ScheduleState, iso_utc
from controller.config.models import ScheduleResource
from controller.cron import parse_cron, resolve_zone
from controller.errors import UsageError

__all__ = ["SCHEDULED_LOCK_TIMEOUT", "preview_cron", "schedule_preview", "schedule_report"]

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


def schedule_preview(env: str, name: str, applied: Mapping[str, ScheduleResource],
                     working: Mapping[str, ScheduleResource], state: ScheduleState | None, count: int = 5,
                     after: datetime | None = None) -> dict[str, Any]:
    """``preview_cron`` for the schedule ``name``: as applied, else as in the working tree (said so)."""
    if name in applied:
        resource, source = applied[name], "applied"
    elif name in working:
        resource, source = working[name], "working tree (not applied)"
    else:
        known = sorted(set(applied) | set(working)) or ["none"]
        raise UsageError(f"environment {env!r} has no schedule {name!r} (schedules: {', '.join(known)})")
    spec = resource.spec
    report = preview_cron(spec.cron, spec.timeZone, count, after)
    report.update({"name": name, "mapping": spec.mapping, "mode": spec.mode, "enabled": spec.enabled,
                   "source": source, "paused": bool(state and state.paused)})
    return report


def schedule_report(env: str, applied: Mapping[str, ScheduleResource], applied_mappings: Iterable[str],
                    working: Iterable[str], states: Mapping[str, ScheduleState],
                    now: datetime | None = None) -> dict[str, Any]:
    """Every applied schedule with its words, next fire, last run and pause, plus warnings."""
    now = now or datetime.now(UTC)
    mappings = set(applied_mappings)
    rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    for name in sorted(applied):
        spec = applied[name].spec
        expr = parse_cron(spec.cron)
        state = states.get(name)
        stored_next = state.next_fire if state and state.cron == str(expr) and state.time_zone == spec.timeZone \
            else None
        upcoming = stored_next or expr.next_fire(now, spec.timeZone)
        rows.append({
            "name": name, "mapping": spec.mapping, "mode": spec.mode,
            "cron": str(expr), "timeZone": spec.timeZone, "description": expr.describe(),
            "enabled": spec.enabled, "misfirePolicy": spec.misfirePolicy,
            "nextFire": upcoming.astimezone(resolve_zone(spec.timeZone)).isoformat() if upcoming else None,
            "lastFire": iso_utc(state.last_fire) if state else None,
            "lastRunId": state.last_run_id if state else None,
            "lastRunState": state.last_run_state if state else None,
            "lastRunEnded": iso_utc(state.last_run_ended) if state else None,
            "paused": bool(state and state.paused),
            "pausedReason": state.paused_reason if state else None,
            "warnings": expr.lint(now),
        })
        if spec.mapping not in mappings:
            warnings.append(f"schedule {name!r} runs mapping {spec.mapping!r}, which is not applied")
    pending = sorted(set(working) - set(applied))
    if pending:
        warnings.append(f"not applied yet (plan and apply to schedule them): {', '.join(pending)}")
    return {"environment": env, "schedules": rows, "warnings": warnings}
