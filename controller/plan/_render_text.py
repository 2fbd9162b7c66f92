"""The human view of a plan, Terraform-style (``+ ~ - -/+``), ending with ``Plan: X to add, ...``.

Colours are chosen here and only here (ANSI, when asked); secrets show as ``(sensitive)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from controller.plan._model import AttributeDiff, ChangeAction, NativeChange, Plan, PlanChange
from controller.plan._sensitive import SENSITIVE_UNCHECKED, is_sensitive, sensitive_label

__all__ = ["DRIFT_HEADING", "render_text", "summary_line"]

DRIFT_HEADING = "Objects changed on the tenant outside idmctl since the last apply"

_COLOURS = {
    ChangeAction.CREATE: "32",  # green
    ChangeAction.UPDATE: "33",  # yellow
    ChangeAction.DELETE: "31",  # red
    ChangeAction.REPLACE: "35",  # magenta
    "warning": "33;1",
    "bold": "1",
    "dim": "2",
}
_VERBS = {
    ChangeAction.CREATE: "will be created",
    ChangeAction.UPDATE: "will be updated in place",
    ChangeAction.DELETE: "will be destroyed",
    ChangeAction.REPLACE: "must be replaced",
}
_LEGEND = {
    ChangeAction.CREATE: "create",
    ChangeAction.UPDATE: "update in place",
    ChangeAction.DELETE: "destroy",
    ChangeAction.REPLACE: "destroy and then create replacement",
}
_DIFF_SYMBOL = {"added": "+", "removed": "-", "changed": "~"}


_NATIVE_VERBS = {
    ChangeAction.CREATE: "will be created",
    ChangeAction.UPDATE: "will be updated",
    ChangeAction.DELETE: "will be deleted",
}


def summary_line(plan: Plan) -> str:
    """``Plan: X to add, Y to change, Z to destroy.`` (and the tenant's counts) or the no-changes sentence."""
    if not plan.has_changes:
        env = f" Environment {plan.environment!r}" if plan.environment else " The environment"
        tenant = " and its tenant" if plan.platform != "embedded" else ""
        return (f"No changes.{env}{tenant} matches its configuration (state serial {plan.applied_serial}).")
    line = f"Plan: {plan.to_add} to add, {plan.to_change} to change, {plan.to_destroy} to destroy."
    if plan.native or plan.pending_restart:
        line += (f" Tenant: {plan.count_native(ChangeAction.CREATE)} to create, "
                 f"{plan.count_native(ChangeAction.UPDATE)} to update, "
                 f"{plan.count_native(ChangeAction.DELETE)} to delete"
                 + (", then a restart" if plan.restart_required else "") + ".")
    return line


def _value(value: Any) -> str:
    if is_sensitive(value):
        return sensitive_label(value)
    return json.dumps(_labelled(value), ensure_ascii=False, sort_keys=True)


def _labelled(value: Any) -> Any:
    if is_sensitive(value):
        return sensitive_label(value)
    if isinstance(value, dict):
        return {k: _labelled(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_labelled(v) for v in value]
    return value


def _leaves(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(JSON pointer, value) of every leaf; secrets and empty containers are leaves."""
    if isinstance(node, dict) and node and not is_sensitive(node):
        for key in sorted(node):
            yield from _leaves(node[key], f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}")
    elif isinstance(node, list) and node:
        for index, item in enumerate(node):
            yield from _leaves(item, f"{path}/{index}")
    else:
        yield path, node


class _Painter:
    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def __call__(self, text: str, style: object) -> str:
        code = _COLOURS.get(style)
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour and code else text


def _diff_line(diff: AttributeDiff, paint: _Painter) -> str:
    symbol = _DIFF_SYMBOL[diff.change]
    action = {"+": ChangeAction.CREATE, "-": ChangeAction.DELETE, "~": ChangeAction.UPDATE}[symbol]
    if diff.sensitive:
        shown = (diff.after if diff.change != "removed" else diff.before) or {}
        text = f"{diff.path}: {sensitive_label(shown)}"
    elif diff.change == "added":
        text = f"{diff.path}: {_value(diff.after)}"
    elif diff.change == "removed":
        text = f"{diff.path}: {_value(diff.before)}"
    else:
        text = f"{diff.path}: {_value(diff.before)} -> {_value(diff.after)}"
    suffix = paint("  # forces replacement", "bold") if diff.forces_replacement else ""
    return f"      {paint(symbol, action)} {text}{suffix}"


def _change_lines(change: PlanChange, paint: _Painter) -> Iterator[str]:
    yield f"  {paint('#', 'dim')} {paint(change.address, 'bold')} {_VERBS[change.action]}"
    yield f"{paint(f'{change.action.symbol:>3}', change.action)} {change.address}"
    if change.action in (ChangeAction.CREATE, ChangeAction.DELETE):
        doc = change.after if change.action is ChangeAction.CREATE else change.before
        body = {k: v for k, v in (doc or {}).items() if k not in ("kind", "name")}
        mark = "+" if change.action is ChangeAction.CREATE else "-"
        for path, value in _leaves(body):
            if value is None or value == {} or value == []:
                continue  # unset optional fields: noise in a listing of a whole resource
            yield f"      {paint(mark, change.action)} {path}: {_value(value)}"
    else:
        for diff in change.diffs:
            yield _diff_line(diff, paint)
    yield ""


def _short(value: Any) -> str:
    """A top-level value of a native object, on one line: containers by their size."""
    if is_sensitive(value):
        return sensitive_label(value)
    if isinstance(value, dict) and value:
        return f"{{{len(value)} key{'s' if len(value) != 1 else ''}}}"
    if isinstance(value, list) and value:
        return f"[{len(value)} item{'s' if len(value) != 1 else ''}]"
    return _value(value)


def _native_lines(change: NativeChange, paint: _Painter, verb: str | None = None) -> Iterator[str]:
    notes = [change.address] + (["restart required"] if change.restart_required else []) + (
        ["sensitive"] if change.sensitive else [])
    yield (f"  {paint('#', 'dim')} {paint(change.id, 'bold')} {verb or _NATIVE_VERBS[change.action]}"
           f" ({', '.join(notes)})")
    yield f"{paint(f'{change.action.symbol:>3}', change.action)} {change.id}"
    if change.action is ChangeAction.CREATE:
        for key in sorted(change.after or {}):
            yield f"      {paint('+', ChangeAction.CREATE)} /{key}: {_short((change.after or {})[key])}"
    elif change.action is ChangeAction.UPDATE:
        for diff in change.diffs:
            yield _diff_line(diff, paint)
    yield ""


def _drift_lines(plan: Plan, paint: _Painter) -> Iterator[str]:
    yield paint(DRIFT_HEADING + ":", "warning")
    yield ""
    for change in plan.drift:
        verb = "was deleted outside idmctl" if change.action is ChangeAction.DELETE else "was changed outside idmctl"
        yield from _native_lines(change, paint, verb)
    yield "The tenant changes below write them as the files say again."
    yield ""


def render_text(plan: Plan, *, colour: bool = False) -> str:
    """The plan as Terraform-like text; ``colour`` adds ANSI colours for a terminal.

    On a tenant: the drift section first, then the resource changes, then the tenant changes with
    native ids (ESVs marked "restart required", secrets "(sensitive)").
    """
    paint = _Painter(colour)
    lines: list[str] = []
    if plan.drift:
        lines.extend(_drift_lines(plan, paint))
    changed = [c for c in plan.changes if c.action is not ChangeAction.NOOP]
    if changed:
        used = [a for a in _LEGEND if any(c.action is a for c in changed)]
        lines.append("Resource actions are indicated with the following symbols:")
        lines.extend(f"{paint(f'{a.symbol:>3}', a)} {_LEGEND[a]}" for a in used)
        lines.append("")
        env = f" in environment {plan.environment!r}" if plan.environment else ""
        lines.append(f"idmctl will perform the following actions{env}:")
        lines.append("")
        for change in changed:
            lines.extend(_change_lines(change, paint))
        unchanged = len(plan.changes) - len(changed)
        if unchanged:
            lines.append(f"  ({unchanged} unchanged resource{'s' if unchanged != 1 else ''} hidden)")
            lines.append("")
    if plan.native:
        lines.append("idmctl will make the following changes on the tenant, in this order:")
        lines.append("")
        for native in plan.native:
            lines.extend(_native_lines(native, paint))
    if plan.pending_restart:
        lines.append(f"The tenant has not loaded {', '.join(plan.pending_restart)} yet (an earlier --no-restart, "
                     "or a restart that did not finish).")
        lines.append("")
    if plan.restart_required:
        lines.append("ESV changes take effect after a restart of the tenant, which apply starts and waits for "
                     "(--no-restart defers it).")
        lines.append("")
    for warning in plan.warnings:
        label = "Warning" if warning.severity == "warning" else "Note"
        lines.append(f"{paint(label + ':', 'warning' if label == 'Warning' else 'bold')} {warning.message}")
    if plan.unchecked_secrets:
        lines.append(f"Note: secrets not available here, shown as {SENSITIVE_UNCHECKED}: "
                     f"{', '.join(plan.unchecked_secrets)}")
    if plan.warnings or plan.unchecked_secrets:
        lines.append("")
    lines.append(paint(summary_line(plan), "bold"))
    return "\n".join(lines) + "\n"
