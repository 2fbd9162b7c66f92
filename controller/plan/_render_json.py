"""The machine view of a plan: stable, documented JSON (``format_version`` "1.1") for CI and PR bots.

Shape (keys never removed within a major version; new keys may appear)::

    {"format_version": "1.0", "environment": "dev",
     "state": {"serial": 3, "lineage": "<uuid>"}, "desired_hash": "sha256:...",
     "has_changes": true, "summary": {"add": 1, "change": 1, "destroy": 0},
     "changes": [{"address": "Mapping.entra-users", "kind": "Mapping", "name": "entra-users",
                  "action": "update", "actions": ["update"], "before": {...}, "after": {...},
                  "diffs": [{"path": "/spec/properties/1/target", "change": "changed",
                             "before": "mail", "after": "email", "sensitive": false,
                             "checked": true, "forces_replacement": false}]}],
     "unchanged": ["Connector.entra"],
     "warnings": [{"address": "...", "code": "full-run", "severity": "warning", "message": "..."}],
     "secrets": {"checked": false, "unchecked": ["entra_client_secret"]},
     "platform": "aic", "live_hash": "sha256:...",
     "native": [{"id": "esv-idmctl-entra-client-id", "kind": "variable", "address": "Connector.entra",
                 "action": "update", "restart_required": true, "sensitive": false,
                 "before": {...}, "after": {...}, "diffs": [...]}],
     "drift": [... the same shape: before is what idmctl last wrote, after the live object ...]}

``native`` lists what apply writes on the tenant in apply order, ``drift`` the objects changed there
outside idmctl, ``pending_restart`` the ESVs it has not loaded yet (apply restarts it); all are empty
on the embedded platform. ``summary.tenant`` counts ``native``.

Secret references appear as ``{"sensitive": true, "secret": NAME, "checked": BOOL}``: no value and
no fingerprint. ``actions`` follows Terraform (``["delete", "create"]`` for a replacement).
"""

from __future__ import annotations

import json
from typing import Any

from controller.plan._model import AttributeDiff, ChangeAction, NativeChange, Plan, PlanChange
from controller.plan._sensitive import mask

__all__ = ["FORMAT_VERSION", "plan_to_json_data", "render_json"]

FORMAT_VERSION = "1.1"  # 1.1: platform, live_hash, native, drift, summary.tenant

_ACTION_NAMES = {
    ChangeAction.CREATE: "create",
    ChangeAction.UPDATE: "update",
    ChangeAction.DELETE: "delete",
    ChangeAction.REPLACE: "replace",
    ChangeAction.NOOP: "no-op",
}


def _diffs(diffs: tuple[AttributeDiff, ...]) -> list[dict[str, Any]]:
    return [
        {
            "path": d.path,
            "change": d.change,
            "before": mask(d.before),
            "after": mask(d.after),
            "sensitive": d.sensitive,
            "checked": d.checked,
            "forces_replacement": d.forces_replacement,
        }
        for d in diffs
    ]


def _change(change: PlanChange) -> dict[str, Any]:
    return {
        "address": change.address,
        "kind": change.kind,
        "name": change.name,
        "action": _ACTION_NAMES[change.action],
        "actions": list(change.action.actions),
        "before": mask(change.before),
        "after": mask(change.after),
        "diffs": _diffs(change.diffs),
    }


def _native(change: NativeChange) -> dict[str, Any]:
    return {
        "id": change.id,
        "kind": change.kind,
        "address": change.address,
        "action": _ACTION_NAMES[change.action],
        "restart_required": change.restart_required,
        "sensitive": change.sensitive,
        "before": mask(change.before),
        "after": mask(change.after),
        "diffs": _diffs(change.diffs),
    }


def plan_to_json_data(plan: Plan) -> dict[str, Any]:
    """The documented JSON form as Python data (``render_json`` dumps it)."""
    return {
        "format_version": FORMAT_VERSION,
        "environment": plan.environment,
        "state": {"serial": plan.applied_serial, "lineage": plan.applied_lineage},
        "desired_hash": plan.desired_hash,
        "has_changes": plan.has_changes,
        "summary": {"add": plan.to_add, "change": plan.to_change, "destroy": plan.to_destroy,
                    "tenant": {"create": plan.count_native(ChangeAction.CREATE),
                               "update": plan.count_native(ChangeAction.UPDATE),
                               "delete": plan.count_native(ChangeAction.DELETE),
                               "restart": plan.restart_required}},
        "changes": [_change(c) for c in plan.changes if c.action is not ChangeAction.NOOP],
        "unchanged": [c.address for c in plan.changes if c.action is ChangeAction.NOOP],
        "warnings": [
            {"address": w.address, "code": w.code, "severity": w.severity, "message": w.message}
            for w in plan.warnings
        ],
        "secrets": {"checked": plan.secrets_checked, "unchecked": list(plan.unchecked_secrets)},
        "platform": plan.platform,
        "live_hash": plan.live_hash,
        "native": [_native(c) for c in plan.native],
        "drift": [_native(c) for c in plan.drift],
        "pending_restart": list(plan.pending_restart),
    }


def render_json(plan: Plan) -> str:
    """The plan as stable JSON text (see the module docstring for the shape)."""
    return json.dumps(plan_to_json_data(plan), indent=2, ensure_ascii=False) + "\n"
