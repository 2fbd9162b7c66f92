"""idmctl as a library: every command the CLI offers, as one function each, with one signature style.

Like alembic's ``command`` module: ``(root, env, ...positional operands, *, options)`` in, a typed
result out, ``IdmctlError`` for anything a person must act on. The CLI, tests and library users call
the same functions; the CLI only parses their arguments and renders their results.

The config half: ``init``, ``validate``, ``plan``, ``apply``, ``force_unlock``, ``promote``.
The run half: ``reconcile``, ``list_runs``/``show_run``/``prune_runs``,
``search_identities``/``get_identity``/``delete_identity``, ``connector_test``/``connector_preview``,
``schedule_report``/``preview_schedule``/``preview_cron``/``serve_schedules``.
"""

from controller.commands._config import (
    ApplyResult,
    InitResult,
    PlanResult,
    apply,
    force_unlock,
    git_commit,
    init,
    plan,
    promote,
    validate,
)
from controller.commands._operate import (
    connector_preview,
    connector_test,
    delete_identity,
    get_identity,
    list_runs,
    preview_cron,
    preview_schedule,
    prune_runs,
    reconcile,
    schedule_report,
    search_identities,
    serve_schedules,
    show_run,
)

__all__ = [
    "ApplyResult",
    "InitResult",
    "PlanResult",
    "apply",
    "connector_preview",
    "connector_test",
    "delete_identity",
    "force_unlock",
    "get_identity",
    "git_commit",
    "init",
    "list_runs",
    "plan",
    "preview_cron",
    "preview_schedule",
    "promote",
    "prune_runs",
    "reconcile",
    "schedule_report",
    "search_identities",
    "serve_schedules",
    "show_run",
    "validate",
]
