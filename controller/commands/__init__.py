"""idmctl as a library: every command the CLI offers, as one function each, with one signature style.

Like alembic's ``command`` module: ``(root, env, ...positional operands, *, options)`` in, a typed
result out, ``IdmctlError`` for anything a person must act on. The CLI, tests and library users call
the same functions; the CLI only parses their arguments and renders their results.

The config half: ``init``, ``validate``, ``plan``, ``apply``, ``force_unlock``, ``promote``, ``env_new``,
``state_show``, ``audit_list``, ``render`` (the native objects of the aic platform), ``import_environment``
(the inverse: an AIC tenant's objects as resource files).
The run half: ``reconcile``, ``list_runs``/``show_run``/``prune_runs``,
``search_identities``/``get_identity``/``delete_identity``, ``connector_test``/``connector_preview``,
``schedule_report``/``preview_schedule``/``preview_cron``/``serve_schedules``.
"""

from __future__ import annotations

import typing

from controller import _lazy

if typing.TYPE_CHECKING:
    from controller.commands._config import (
        ApplyResult,
        InitResult,
        NewEnvironment,
        PlanResult,
        StateReport,
        apply,
        audit_list,
        env_new,
        force_unlock,
        git_commit,
        init,
        plan,
        promote,
        state_show,
        validate,
    )
    from controller.commands._import import ImportReport, import_environment
    from controller.commands._operate import (
        connector_preview,
        connector_test,
        delete_identity,
        get_identity,
        list_runs,
        pause_schedule,
        preview_cron,
        preview_schedule,
        prune_runs,
        reconcile,
        resume_schedule,
        schedule_report,
        search_identities,
        serve_schedules,
        show_run,
    )
    from controller.commands._render import RenderResult, native_json, render

__all__ = [
    "ApplyResult",
    "ImportReport",
    "InitResult",
    "NewEnvironment",
    "PlanResult",
    "RenderResult",
    "StateReport",
    "apply",
    "audit_list",
    "connector_preview",
    "connector_test",
    "delete_identity",
    "env_new",
    "force_unlock",
    "get_identity",
    "git_commit",
    "import_environment",
    "init",
    "list_runs",
    "native_json",
    "pause_schedule",
    "plan",
    "preview_cron",
    "preview_schedule",
    "promote",
    "prune_runs",
    "reconcile",
    "render",
    "resume_schedule",
    "schedule_report",
    "search_identities",
    "serve_schedules",
    "show_run",
    "state_show",
    "validate",
]

# Each name's module: a command imports only its own half (a `runs list` never loads the plan, import or render
# machinery, nor the aic platform they pull in). PEP 562: the module is imported on first attribute access.
__getattr__, __dir__ = _lazy.exports(__name__, {
    "_config": ("ApplyResult", "InitResult", "NewEnvironment", "PlanResult", "StateReport", "apply", "audit_list",
                "env_new", "force_unlock", "git_commit", "init", "plan", "promote", "state_show", "validate"),
    "_import": ("ImportReport", "import_environment"),
    "_operate": ("connector_preview", "connector_test", "delete_identity", "get_identity", "list_runs",
                 "pause_schedule", "preview_cron", "preview_schedule", "prune_runs", "reconcile", "resume_schedule",
                 "schedule_report", "search_identities", "serve_schedules", "show_run"),
    "_render": ("RenderResult", "native_json", "render"),
})
