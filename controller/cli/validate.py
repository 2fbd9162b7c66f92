"""`idmctl validate`: check an environment's files (or all of them) and list every problem."""

from __future__ import annotations

from pathlib import Path

import typer

from controller import commands
from controller.cli._catalog import summary
from controller.cli._common import (
    OptionalEnvOpt,
    RootOpt,
    resolve_root,
    with_output,
)
from controller.cli._output import Output
from controller.config import ValidationReport, environment_names
from controller.diagnostics import Diagnostic
from controller.errors import ExitCode, UsageError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("validate", short_help=summary("validate"))(validate)


@with_output
def validate(
    env: OptionalEnvOpt = None,
    root: RootOpt = None,
    *,
    out: Output,
) -> int:
    """Validate schemas, references, filters and cron of one environment (or all): exit 0 valid, 1 not.

    With the environment's state it also warns about unknown owners and unapplied schedules.
    """
    base = resolve_root(root)
    names = [env] if env else environment_names(base)
    if out.json_mode:
        reports = [_check_or_report(base, name) for name in names]
    else:
        reports = [commands.validate(base, name) for name in names]
    if out.json_mode:
        out.json({
            "valid": all(r.ok for r in reports),
            "environments": [
                {"name": r.name, "valid": r.ok, "files": [str(f.relative_to(base)) for f in r.files],
                 "diagnostics": [d.to_dict() for d in r.diagnostics]}
                for r in reports
            ],
        })
    else:
        for report in reports:
            for diag in report.diagnostics:
                if diag.severity == "error":
                    out.err.print(f"error: {diag.format()}", markup=False)
                elif diag.severity == "warning" and not out.quiet or diag.severity == "info" and not out.quiet:
                    out.err.print(diag.format(), markup=False)
            if out.quiet:
                continue  # -q: the errors above and the exit code say it all
            errors = len(report.errors)
            warnings = sum(1 for d in report.diagnostics if d.severity == "warning")
            resources = sum(1 for _ in report.resources) if report.resources else 0
            if report.ok:
                tail = f", {warnings} warning(s)" if warnings else ""
                out.print(f"[green]✓[/green] {report.name}: valid — {resources} resources in "
                          f"{len(report.files)} files{tail}")
            else:
                out.print(f"[red]✗[/red] {report.name}: {errors} error(s), {warnings} warning(s)")
    return ExitCode.OK if all(r.ok for r in reports) else ExitCode.ERROR


def _check_or_report(base: Path, name: str) -> ValidationReport:
    """`--json` prints JSON for every outcome: an environment that cannot be checked at all (an invalid
    name, a missing folder) is a report with one error, instead of a line on stderr."""
    try:
        return commands.validate(base, name)
    except UsageError as exc:
        report = ValidationReport(root=base, name=name)
        report.diagnostics.append(Diagnostic("error", exc.message, exc.hint))
        return report
