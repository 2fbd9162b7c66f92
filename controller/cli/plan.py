"""`idmctl plan`: what apply would change, Terraform-style; exit 2 with --detailed-exitcode on changes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from controller import commands
from controller.cli._catalog import summary
from controller.cli._common import EnvOpt, JsonOpt, QuietOpt, RootOpt, VerboseOpt, make_output, resolve_root
from controller.cli._planview import PlanFormat, show_diagnostics, show_plan
from controller.errors import ExitCode, UsageError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add `plan` to the app."""

    @app.command("plan", short_help=summary("plan"))
    def plan_cmd(
        env: EnvOpt,
        root: RootOpt = None,
        out_file: Annotated[Path | None, typer.Option(
            "--out", help="Save the plan to FILE; `idmctl apply --env E FILE` applies exactly it.")] = None,
        fmt: Annotated[PlanFormat, typer.Option(
            "--format", help="text (Terraform-style), json (stable, documented) or markdown (PR comment).",
            case_sensitive=False)] = PlanFormat.TEXT,
        json_out: JsonOpt = False,
        detailed_exitcode: Annotated[bool, typer.Option(
            "--detailed-exitcode", help="Exit 0 with no changes, 2 with changes, 1 on error.")] = False,
        allow_empty: Annotated[bool, typer.Option(
            "--allow-empty", help="Allow a plan that destroys every resource of the environment.")] = False,
        verbose: VerboseOpt = False,
        quiet: QuietOpt = False,
    ) -> int:
        """Show what `apply` would change: the files (desired) vs the environment's state (applied)."""
        if json_out and fmt is PlanFormat.MARKDOWN:
            raise UsageError("--json and --format markdown ask for two outputs", hint="Give one of them")
        if json_out:
            fmt = PlanFormat.JSON
        out = make_output(fmt is PlanFormat.JSON, verbose, quiet)
        result = commands.plan(resolve_root(root), env, allow_empty=allow_empty, out=out_file)
        show_diagnostics(out, result.diagnostics)
        show_plan(out, result.plan, fmt)
        if out_file is not None:
            out.info(f"Saved the plan to {out_file}: `idmctl apply --env {env} {out_file}` applies exactly it.")
        return ExitCode.CHANGES if detailed_exitcode and result.plan.has_changes else ExitCode.OK
