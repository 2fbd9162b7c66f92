"""`idmctl connector test|preview`: check a connector's credentials and roles, look at its accounts."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from controller import commands
from controller.cli._catalog import summary
from controller.cli._common import (
    EnvOpt,
    RootOpt,
    resolve_root,
    with_output,
)
from controller.cli._output import Output
from controller.errors import ExitCode

__all__ = ["register"]


def _roles_table(report: Any) -> Table:
    table = Table(title="Microsoft Graph application permissions", title_justify="left")
    table.add_column("Permission")
    table.add_column("Granted")
    table.add_column("Needed to read users")
    granted = set(report.granted_roles)
    for role in sorted(granted | set(report.needed_roles)):
        needed = "one of these" if role in report.needed_roles else "no"
        table.add_row(role, "[green]yes[/green]" if role in granted else "no", needed)
    return table


def _render_test(out: Output, report: Any, source: str) -> int:
    if out.json_mode:
        out.json({**report.to_dict(), "configuration": source})
        return ExitCode.OK if report.connected else ExitCode.ERROR
    failure = report.failure
    if report.token_ok and not report.needed_roles:
        # The connector runs on the platform (an AIC tenant): its own test is all idmctl sees.
        out.print(f"Connector [bold]{report.connector}[/bold] ({source} configuration) on "
                  f"{escape(report.authority)}")
        out.print(f"  Application:  {report.client_id}")
    elif report.token_ok:
        out.print(f"Connector [bold]{report.connector}[/bold] ({source} configuration)")
        out.print(f"  Tenant:       {report.tenant_id or '(not in token)'}")
        out.print(f"  Application:  {escape(report.app_name or report.client_id)} ({report.client_id})")
        out.print(f"  Token:        ok, scope {report.scope}")
        out.print(_roles_table(report))
    if report.token_ok:
        read = report.read
        if read is not None:
            verdict = "[green]ok[/green]" if read.ok else "[red]failed[/red]"
            out.print(f"  Read:         {escape(read.request)} -> {verdict}")
        label = "  " if report.can_read else "  [yellow]advice:[/yellow] "
        for line in report.advice:
            out.print(label + escape(line))
    if report.connected:
        out.print("[bold green]Connected[/bold green]")
        return ExitCode.OK
    if failure is not None:
        out.err.print(f"[red]error:[/red] {escape(str(failure))}", markup=True, highlight=False)
    return ExitCode.ERROR


def _render_preview(out: Output, preview: Any, source: str) -> int:
    if out.json_mode:
        out.json({**preview.to_dict(), "configuration": source})
        return ExitCode.OK
    table = Table(title=f"Accounts of connector {preview.connector}", title_justify="left")
    table.add_column("id", no_wrap=True, min_width=36)
    for column in preview.columns:
        header = column.source + ("".join(f"\n→ {t}" for t in column.targets) if column.targets else "")
        table.add_column(header, overflow="fold")
    for row in preview.rows:
        table.add_row(*(_cell(row.get(k)) for k in ["id", *(c.source for c in preview.columns)]))
    out.print(table)
    more = " (more exist; raise --limit)" if preview.truncated else ""
    mapped = f"mapped by {', '.join(preview.mappings)}" if preview.mappings else "no mapping reads it yet"
    out.info(f"{len(preview.rows)} accounts shown{more}; {mapped}; {source} configuration")
    return ExitCode.OK


def _cell(value: Any) -> str:
    if value is None:
        return "[dim]—[/dim]"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return escape(str(value))


def register(app: typer.Typer) -> None:
    """Add `connector test` and `connector preview` to the app."""
    group = typer.Typer(help=summary("connector"), no_args_is_help=True)
    app.add_typer(group, name="connector")

    @group.command("test")
    @with_output
    def test(
        env: EnvOpt,
        name: Annotated[str | None, typer.Argument(help="Connector name (default: the only one).")] = None,
        root: RootOpt = None,
        *,
        out: Output,
    ) -> int:
        """Get a token, compare granted roles with the roles needed, read one user: "Connected" or why not."""
        report, source = commands.connector_test(resolve_root(root), env, name)
        return _render_test(out, report, source)

    @group.command("preview")
    @with_output
    def preview(
        env: EnvOpt,
        name: Annotated[str, typer.Argument(help="Connector name.")],
        limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10000,
                                           help="How many accounts to show.")] = 20,
        root: RootOpt = None,
        *,
        out: Output,
    ) -> int:
        """Show source accounts with the attributes the mappings read (the console's Data tab)."""
        found, source = commands.connector_preview(resolve_root(root), env, name, limit=limit)
        return _render_preview(out, found, source)
