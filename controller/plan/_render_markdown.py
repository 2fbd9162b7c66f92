"""The pull-request view of a plan: a Markdown comment with a summary table, a diff per resource and
the warnings a reviewer must see. Secrets show as ``(sensitive)``.
"""

from __future__ import annotations

from controller.plan._model import ChangeAction, Plan
from controller.plan._render_text import DRIFT_HEADING, render_text, summary_line

__all__ = ["render_markdown"]

_WORDS = {
    ChangeAction.CREATE: "create",
    ChangeAction.UPDATE: "update in place",
    ChangeAction.DELETE: "destroy",
    ChangeAction.REPLACE: "replace",
}


def _diff_line(line: str) -> str:
    """Move a line's change symbol to column 0, where GitHub's ``diff`` highlighting looks for it."""
    head = line.lstrip()[:3]
    if head.startswith("-/+") or head.startswith("~"):
        return "!" + line
    if head[:1] in ("+", "-"):
        return head[0] + line
    return " " + line


def _table_cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(plan: Plan) -> str:
    """The plan as a Markdown comment for a pull request."""
    env = f" for `{plan.environment}`" if plan.environment else ""
    lines = [f"### idmctl plan{env}", "", f"**{summary_line(plan)}**", ""]
    if plan.drift:
        lines += ["> [!CAUTION]", f"> **{DRIFT_HEADING}:**  "]
        lines += [f"> `{c.id}` ({c.address}): "
                  + ("deleted" if c.action is ChangeAction.DELETE else ", ".join(f"`{d.path}`" for d in c.diffs[:5]))
                  + "  " for c in plan.drift]
        lines.append("")
    changed = [c for c in plan.changes if c.action is not ChangeAction.NOOP]
    if changed:
        lines += ["| | Resource | Action | Attributes |", "|:-:|---|---|---|"]
        for c in changed:
            attrs = ", ".join(f"`{d.path}`" for d in c.diffs[:5]) if c.action in (
                ChangeAction.UPDATE, ChangeAction.REPLACE) else ""
            if len(c.diffs) > 5 and attrs:
                attrs += f" and {len(c.diffs) - 5} more"
            lines.append(f"| `{c.action.symbol}` | `{c.address}` | {_WORDS[c.action]} | {_table_cell(attrs)} |")
        lines.append("")
    if plan.native:
        lines += ["| | Tenant object | Resource | Action | Notes |", "|:-:|---|---|---|---|"]
        for n in plan.native:
            remarks = ", ".join(x for x, on in (("restart required", n.restart_required),
                                                ("(sensitive)", n.sensitive)) if on)
            lines.append(f"| `{n.action.symbol}` | `{_table_cell(n.id)}` | `{n.address}` | "
                         f"{_WORDS[n.action]} | {remarks} |")
        lines.append("")
    warnings = [w for w in plan.warnings if w.severity == "warning"]
    notes = [w for w in plan.warnings if w.severity != "warning"]
    if warnings:
        lines += ["> [!WARNING]"] + [f"> {w.message}  " for w in warnings] + [""]
    if notes or plan.unchecked_secrets:
        lines.append("> [!NOTE]")
        lines += [f"> {w.message}  " for w in notes]
        if plan.unchecked_secrets:
            lines.append(f"> Secrets not available to this run, shown as `(sensitive, not checked)`: "
                         f"{', '.join(f'`{s}`' for s in plan.unchecked_secrets)}  ")
        lines.append("")
    if changed or plan.native or plan.drift or plan.pending_restart:
        body = [_diff_line(line) for line in render_text(plan).rstrip("\n").splitlines()]
        lines += ["<details><summary>Full plan</summary>", "", "```diff", *body, "```", "", "</details>", ""]
    return "\n".join(lines)
