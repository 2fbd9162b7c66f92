"""Plans as data: desired vs applied state, the plan model, its three renderers, plan files, promotion.

``compute_plan`` is pure (no I/O, no clock); ``controller.commands`` wires it to the files
(``controller.config``), the state (``controller.backends``) and the platform.
"""

from controller.plan._compute import REPLACE_ON, apply_changes, compute_plan, native_change, pointer, resolve_pointer
from controller.plan._model import AttributeDiff, ChangeAction, NativeChange, Plan, PlanChange, PlanWarning
from controller.plan._promote import FileChange, PromoteResult, compare_environments, promote
from controller.plan._render_json import FORMAT_VERSION, plan_to_json_data, render_json
from controller.plan._render_markdown import render_markdown
from controller.plan._render_text import DRIFT_HEADING, render_text, summary_line
from controller.plan.planfile import SavedPlan, plan_hash, read_plan_file, sign_plan, write_plan_file

__all__ = [
    "DRIFT_HEADING",
    "FORMAT_VERSION",
    "REPLACE_ON",
    "AttributeDiff",
    "ChangeAction",
    "FileChange",
    "NativeChange",
    "Plan",
    "PlanChange",
    "PlanWarning",
    "PromoteResult",
    "SavedPlan",
    "apply_changes",
    "compare_environments",
    "compute_plan",
    "native_change",
    "plan_hash",
    "plan_to_json_data",
    "pointer",
    "promote",
    "read_plan_file",
    "render_json",
    "render_markdown",
    "render_text",
    "resolve_pointer",
    "sign_plan",
    "summary_line",
    "write_plan_file",
]
