"""`idmctl state show`, `idmctl audit list` and `idmctl env new`: what an environment's state holds, its
history, and a new environment made from an existing one."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from controller import commands
from controller.cli._catalog import summary
from controller.cli._common import EnvOpt, LimitOpt, RootOpt, resolve_root, with_output
from controller.cli._output import Output
from controller.errors import ExitCode
from controller.platforms import DEFAULT_PAGE

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add `state show`, `audit list` and `env new` to the app."""
    state = typer.Typer(help=summary("state"),
                        no_args_is_help=True)
    audit = typer.Typer(help=summary("audit"), no_args_is_help=True)
    env_group = typer.Typer(help=summary("env"), no_args_is_help=True)
    app.add_typer(state, name="state")
    app.add_typer(audit, name="audit")
    app.add_typer(env_group, name="env")

    @state.command("show")
    @with_output
    def show_cmd(env: EnvOpt, root: RootOpt = None, *, out: Output) -> int:
        """The applied resources (secrets only as fingerprints), serial, lineage, lock and last apply."""
        report = commands.state_show(resolve_root(root), env)
        if out.json_mode:
            out.json(report.to_dict())
            return ExitCode.OK
        out.print(f"Environment [bold]{env}[/bold]: {report.backend} state at {escape(report.location)}, "
                  f"platform {report.platform}")
        out.print(f"  serial {report.serial}, lineage {report.lineage}, applied {report.applied_at or 'never'}")
        if report.last_apply is not None:
            last = report.last_apply
            out.print(f"  last apply: {escape(last.summary)} by {escape(last.user)}@{escape(last.host)} "
                      f"at {last.time}" + (f", git {last.git_commit}" if last.git_commit else ""))
        out.print(f"  lock: {escape(report.lock.describe()) if report.lock else 'free'}")
        if report.platform_objects:
            out.print(f"  on the tenant, written by idmctl: {len(report.platform_objects)} object(s)")
            for obj in report.platform_objects:
                out.print(f"    {escape(obj.id)} ({escape(obj.address)}) {obj.digest[:19]}... at {obj.written_at}")
        if not report.resources:
            out.print("No resources applied yet.")
            return ExitCode.OK
        for address, resource in report.resources.items():
            out.print(f"\n[bold]# {escape(address)}[/bold]")
            out.print(escape(json.dumps(resource["spec"], indent=2, sort_keys=True)), markup=True)
        return ExitCode.OK

    @audit.command("list")
    @with_output
    def audit_cmd(env: EnvOpt, limit: LimitOpt = DEFAULT_PAGE, root: RootOpt = None, *, out: Output) -> int:
        """The audit log, newest first: applies (with what changed), force-unlocks, --allow-deletes."""
        entries = commands.audit_list(resolve_root(root), env, limit=limit)
        if out.json_mode:
            out.json([e.to_dict() for e in entries])
            return ExitCode.OK
        if not entries:
            out.print(f"The audit log of {env!r} is empty.")
            return ExitCode.OK
        table = Table(title=f"Audit log of {env}", title_justify="left")
        for col in ("#", "Time", "Who", "Action", "Serial", "Git", "Summary"):
            table.add_column(col, no_wrap=col in ("Time", "Action"))
        for e in entries:
            table.add_row(str(e.id), e.time, escape(f"{e.user}@{e.host}"), e.action, str(e.serial),
                          escape((e.git_commit or "-")[:12]), escape(e.summary))
        out.print(table)
        return ExitCode.OK

    @env_group.command("new")
    @with_output
    def new_cmd(
        name: Annotated[str, typer.Argument(metavar="NAME", help="The new environment's name.")],
        source: Annotated[str, typer.Option("--from", help="The environment to copy.")],
        root: RootOpt = None,
        *,
        out: Output,
    ) -> int:
        """Make environments/NAME from another: its files, its own state, and what to fill in listed."""
        made = commands.env_new(resolve_root(root), name, source)
        if out.json_mode:
            out.json({"environment": made.name, "from": made.source, "path": str(made.path),
                      "files": list(made.files), "variables": made.variables, "secrets": made.secrets})
            return ExitCode.OK
        out.print(f"Made environments/{made.name} from {made.source} ({len(made.files)} files; its own state "
                  f"at .idmctl/{made.name}.db).")
        if made.variables:
            out.print(f"\nCheck every variable in environments/{made.name}/environment.yaml (copied from "
                      f"{made.source}):")
            for key, value in made.variables.items():
                out.print(f"  {key}: {escape(json.dumps(value))}")
        if made.secrets:
            out.print("\nMake these secrets available where the new environment reads them:")
            for key, where in made.secrets.items():
                out.print(f"  {key}: {escape(where)}")
        out.info(f"Next: `idmctl validate --env {made.name}`, `idmctl init --env {made.name}`, "
                 f"`idmctl plan --env {made.name}`.")
        return ExitCode.OK
