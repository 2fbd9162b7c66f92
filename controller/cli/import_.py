"""`idmctl import`: adopt an AIC tenant's connector, mappings, applications and schedules as resource files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from controller import commands
from controller.cli._catalog import summary
from controller.cli._common import EnvOpt, RootOpt, resolve_root, with_output
from controller.cli._output import Output
from controller.errors import ExitCode

__all__ = ["register"]

OutDirOpt = Annotated[Path | None, typer.Option(
    "--out", "-o", metavar="DIR", help="Write the resource files under DIR instead of environments/<env>/.",
    show_default=False)]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite resource files that exist.")]


def _shown(path: Path, root: Path) -> str:
    return os.path.relpath(path, root) if path.is_relative_to(root) else str(path)


def register(app: typer.Typer) -> None:
    """Add `import` to the app."""

    @app.command("import", short_help=summary("import"))
    @with_output
    def import_cmd(
        env: EnvOpt,
        out_dir: OutDirOpt = None,
        force: ForceOpt = False,
        root: RootOpt = None,
        *,
        out: Output,
    ) -> int:
        """Adopt what the environment's AIC tenant already has: its Microsoft Graph connector, the mappings
        from it, their schedules and the application, written as resource files. Whatever idmctl cannot
        express (scripts, foreign situations) is listed per native object and JSON pointer; a secret's
        value is never read or written."""
        base = resolve_root(root)
        report = commands.import_environment(base, env, out=out_dir, force=force)
        errors = [d for d in report.diagnostics if d.severity == "error"]
        if out.json_mode:
            out.json({
                "environment": report.environment, "realm": report.realm, "tenant": report.tenant_url,
                "folder": str(report.folder), "written": [str(p) for p in report.written],
                "resources": [{"address": a, "nativeId": n} for a, n in report.resources],
                "notes": [{"nativeId": n.native_id, "pointer": n.pointer, "reason": n.reason} for n in report.notes],
                "secrets": list(report.secrets), "declared": list(report.declared),
                "environmentFile": str(report.environment_file) if report.environment_file else None,
                "otherFiles": [str(p) for p in report.others], "adopted": list(report.adopted),
                "diagnostics": [{"severity": d.severity, "message": d.message} for d in report.diagnostics],
            })
        else:
            out.print(f"Imported {len(report.written)} resources of {report.tenant_url or 'the tenant'} "
                      f"(realm {report.realm}) into {_shown(report.folder, base)}:", markup=False)
            for (address, native), path in zip(report.resources, report.written, strict=True):
                out.print(f"  {_shown(path, base)}  ({address} <- {native})", markup=False)
            if report.environment_file is not None:
                out.print(f"  {_shown(report.environment_file, base)}  (declared secrets: "
                          f"{', '.join(report.declared)})", markup=False)
            if report.notes:
                table = Table(title=f"Not expressed as on the tenant: {len(report.notes)} (the first plan changes "
                              "these, or the object was not adopted)", title_justify="left")
                for column in ("native id", "pointer", "reason"):
                    table.add_column(column, overflow="fold")
                for note in report.notes:
                    table.add_row(note.native_id, note.pointer or "(all)", note.reason)
                out.print(table)
        for name in report.secrets:
            if name not in report.declared:
                out.info(f"secret {name!r}: its value cannot be read from AIC; declare it under spec.secrets of "
                         f"environments/{env}/environment.yaml (fromEnv or fromFile) if it is not")
        for name in report.declared:
            out.info(f"secret {name!r} reads environment variable {name.upper()}: set it to the client secret's "
                     "Value before `idmctl plan`")
        if report.adopted:
            out.info(f"state of {env!r}: {len(report.adopted)} tenant object(s) recorded as idmctl's, as they are "
                     f"now; `idmctl plan --env {env}` shows only what could not be expressed")
        for path in report.others:
            out.warn(f"{_shown(path, base)} was not written by this import: plan and apply use it too")
        for diag in report.diagnostics:
            out.warn(f"validate: {diag.severity}: {diag.message}")
        return ExitCode.ERROR if errors else ExitCode.OK
