"""`idmctl apply`: apply a saved plan exactly, or plan, show and ask; under the environment lock."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from controller import commands
from controller.backends import LockLease
from controller.cli._catalog import summary
from controller.cli._common import (
    EnvOpt,
    LockTimeoutOpt,
    RootOpt,
    resolve_root,
    with_output,
)
from controller.cli._output import Output
from controller.cli._planview import show_diagnostics, show_plan
from controller.errors import ExitCode, UsageError
from controller.plan import Plan, plan_to_json_data
from controller.platforms import DEFAULT_LOCK_TIMEOUT, ApplyReport

__all__ = ["register"]


def _approver(out: Output, env: str, auto_approve: bool) -> Callable[[Plan], bool]:
    def approve(plan: Plan) -> bool:
        asking = not auto_approve and not out.json_mode and sys.stdin.isatty()
        if not out.json_mode and (asking or not out.quiet):  # nobody approves a plan they have not seen
            show_plan(out, plan)
        if auto_approve:
            return True
        if not asking:
            raise UsageError(
                f"apply needs approval and there is no terminal to ask on (environment {env!r}); nothing "
                "was changed",
                hint=f"Review the plan and rerun with --auto-approve, or save it with `idmctl plan --env {env} "
                f"--out FILE` and run `idmctl apply --env {env} FILE`")
        out.print("\nDo you want to perform these actions? Only 'yes' will be accepted.")
        return out.console.input("  Enter a value: ").strip() == "yes"

    return approve


def _show_tenant(out: Output, report: ApplyReport) -> None:
    """What apply did on the tenant: native ids, the restart, what stays pending, the connector test."""
    if report.written or report.deleted:
        out.print(f"Tenant: wrote {len(report.written)} object(s), deleted {len(report.deleted)}"
                  + (", restarted to load the ESVs." if report.restarted else "."))
        for native_id in report.written:
            out.info(f"  written: {native_id}")
        for native_id in report.deleted:
            out.info(f"  deleted: {native_id}")
    if report.pending:
        out.print(f"Pending until the tenant restarts (--no-restart): {', '.join(report.pending)}. Run "
                  "`idmctl apply` again without --no-restart (or restart the tenant) to load them.")
    for connector, verdict in report.connector_tests:
        out.print(f"Connector {connector}: {verdict}")


def register(app: typer.Typer) -> None:
    """Add `apply` to the app."""

    @app.command("apply", short_help=summary("apply"))
    @with_output
    def apply_cmd(
        env: EnvOpt,
        plan_file: Annotated[Path | None, typer.Argument(
            metavar="[PLANFILE]", help="A plan saved by `idmctl plan --out`: applied exactly, or refused "
            "when stale.")] = None,
        root: RootOpt = None,
        auto_approve: Annotated[bool, typer.Option(
            "--auto-approve", help="Apply without asking (CI). Not needed with a PLANFILE.")] = False,
        lock_timeout: LockTimeoutOpt = DEFAULT_LOCK_TIMEOUT,
        allow_empty: Annotated[bool, typer.Option(
            "--allow-empty", help="Allow destroying every resource of the environment.")] = False,
        no_restart: Annotated[bool, typer.Option(
            "--no-restart", help="aic: write the ESVs but do not restart the tenant to load them; what stays "
            "pending is listed (and the connector test waits for the restart).")] = False,
        *,
        out: Output,
    ) -> int:
        """Apply the configuration to the environment's state: all or nothing, audited."""

        def waiting(lease: LockLease) -> None:
            out.info(f"Waiting up to {lock_timeout:g}s for the environment lock held by {lease.describe()}...")

        result = commands.apply(
            resolve_root(root), env, plan_file=plan_file, approve=_approver(out, env, auto_approve),
            lock_timeout=lock_timeout, on_wait=waiting,
            allow_empty=allow_empty, restart=not no_restart, progress=out.info)
        show_diagnostics(out, result.diagnostics)
        plan = result.plan
        if out.json_mode:
            out.json({"environment": env, "applied": result.applied, "planHash": result.plan_hash,
                      "state": {"serial": result.state.serial, "lineage": result.state.lineage},
                      "plan": plan_to_json_data(plan), "tenant": result.platform.to_dict()})
            return ExitCode.OK if result.applied or not plan.has_changes else ExitCode.ERROR
        if (plan_file is not None or not plan.has_changes) and not out.quiet:
            show_plan(out, plan)
        if result.applied:
            _show_tenant(out, result.platform)
            out.print(f"Apply complete! Resources: {plan.to_add} added, {plan.to_change} changed, "
                      f"{plan.to_destroy} destroyed. State serial {result.state.serial}.")
        elif plan.has_changes:
            out.print("Apply cancelled. Nothing was changed.")
            return ExitCode.ERROR
        return ExitCode.OK
