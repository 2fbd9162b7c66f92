"""Plans: desired vs applied state as data, its three renderers, plan files, and the config commands.

``compute_plan`` is pure (no I/O, no clock); ``plan_environment``/``apply_environment``/``promote``
wire it to the files (``controller.config``) and the state (``controller.targets``).
"""

from controller.plan._compute import REPLACE_ON, apply_changes, compute_plan, pointer, resolve_pointer
from controller.plan._model import AttributeDiff, ChangeAction, Plan, PlanChange, PlanWarning
from controller.plan._promote import FileChange, PromoteResult, compare_environments, promote
from controller.plan._render_json import FORMAT_VERSION, plan_to_json_data, render_json
from controller.plan._render_markdown import render_markdown
from controller.plan._render_text import render_text, summary_line
from controller.plan._workflow import (
    ApplyResult,
    InitResult,
    PlanResult,
    apply_environment,
    check_environment,
    effective_resources,
    force_unlock_environment,
    git_commit,
    init_environment,
    open_environment,
    plan_environment,
)
from controller.plan.planfile import plan_hash, read_plan_file, write_plan_file

__all__ = [
    "FORMAT_VERSION",
    "REPLACE_ON",
    "ApplyResult",
    "AttributeDiff",
    "ChangeAction",
    "FileChange",
    "InitResult",
    "Plan",
    "PlanChange",
    "PlanResult",
    "PlanWarning",
    "PromoteResult",
    "apply_changes",
    "apply_environment",
    "check_environment",
    "compare_environments",
    "compute_plan",
    "effective_resources",
    "force_unlock_environment",
    "git_commit",
    "init_environment",
    "open_environment",
    "plan_environment",
    "plan_hash",
    "plan_to_json_data",
    "pointer",
    "promote",
    "read_plan_file",
    "render_json",
    "render_markdown",
    "render_text",
    "resolve_pointer",
    "summary_line",
    "write_plan_file",
]
