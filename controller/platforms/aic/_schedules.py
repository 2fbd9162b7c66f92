"""A tenant's schedule (``config/schedule/<name>`` or a ``scheduler/job``) as a row of ``schedule list``.

The row has the keys of an embedded schedule's (``controller.scheduler.schedule_report``), so the CLI
renders both alike, plus where it lives (``source``) and who wrote it (``managedBy``). ``unguarded``
is the warning for a schedule that runs a full recon whose policies can delete or unlink: the tenant
fires it, so the safety guard never sees it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from controller.backends import JsonObject
from controller.config import ResourceSet
from controller.cron import parse_cron, resolve_zone
from controller.errors import CronSyntaxError
from controller.platforms.aic._render import connector_name
from controller.platforms.aic._runs import destructive
from controller.recon import SituationPolicy

__all__ = ["schedule_row", "unguarded"]


def unguarded(name: str, mapping: str) -> str:
    return (f"schedule {name!r} runs a full reconciliation of {mapping!r} on the tenant, and its policies can "
            "delete or unlink: the tenant fires it, so idmctl's safety guard (maxDeletes, maxDeletePercent, "
            "allowEmptySource) never checks it. Make it incremental, or run full reconciliations with "
            "`idmctl reconcile`")


def _mapping_of(context: Mapping[str, Any], names: Mapping[str, str], applied: ResourceSet | None) -> str:
    if context.get("action") == "liveSync" and applied is not None:
        source = str(context.get("source", ""))
        readers = [n for n, m in sorted(applied.mappings.items())
                   if (c := applied.connectors.get(m.spec.source.connector)) is not None
                   and f"system/{connector_name(c)}/{m.spec.source.objectType}" == source]
        return ", ".join(readers) or source
    native = str(context.get("mapping") or context.get("source") or "-")
    return names.get(native, native)


def schedule_row(body: Mapping[str, Any], name: str, job: Mapping[str, Any] | None, names: Mapping[str, str],
                 applied: ResourceSet | None, now: datetime, *, managed: bool, dynamic: bool = False) -> JsonObject:
    """One schedule of the tenant; ``job`` is its ``scheduler/job`` (its ``nextRunDate``), when listed."""
    raw = body.get("invokeContext")
    context: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    action = str(context.get("action", ""))
    mode = {"liveSync": "incremental", "reconcile": "full"}.get(action, action or str(body.get("invokeService")))
    mapping = _mapping_of(context, names, applied)
    cron = str(body.get("schedule") or "")
    zone = str(body.get("timeZone") or "UTC")
    enabled = body.get("enabled") is not False
    warnings: list[str] = []
    next_fire = (job or {}).get("nextRunDate")
    try:
        expr = parse_cron(cron)
        description = expr.describe()
        warnings += expr.lint(now)
        if next_fire is None and enabled:
            upcoming = expr.next_fire(now, zone)
            next_fire = upcoming.astimezone(resolve_zone(zone)).isoformat() if upcoming else None
    except (CronSyntaxError, ValueError, KeyError):
        description = (f"every {body.get('repeatInterval')} ms" if body.get("type") == "simple"
                       else f"{cron!r} (not a Quartz expression idmctl reads)")
    if mode == "full" and applied is not None:
        resource = applied.mappings.get(mapping)
        if resource is not None and destructive(SituationPolicy.from_spec(resource.spec.policies)) and enabled:
            warnings.append(unguarded(name, mapping))
    return {"name": name, "mapping": mapping, "mode": mode, "cron": cron, "timeZone": zone,
            "description": description, "enabled": enabled, "misfirePolicy": body.get("misfirePolicy"),
            "nextFire": next_fire if enabled else None, "lastFire": (job or {}).get("previousRunDate"),
            "lastRunId": None, "lastRunState": None, "lastRunEnded": None, "paused": False, "pausedReason": None,
            "warnings": warnings, "source": "scheduler/job" if dynamic else "config/schedule",
            "managedBy": "idmctl" if managed else "tenant"}

