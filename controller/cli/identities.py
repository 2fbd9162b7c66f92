"""`idmctl identities search|get|delete`: the managed store (the console's Identities > Manage)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from controller import commands
from controller.cli._common import (
    EnvOpt,
    RootOpt,
    resolve_root,
    with_output,
)
from controller.cli._output import Output
from controller.errors import ExitCode

__all__ = ["register"]

IdArg = Annotated[str, typer.Argument(metavar="ID", help="Managed object id.")]
_COLUMNS = ("userName", "givenName", "sn", "mail", "accountStatus")



def register(app: typer.Typer) -> None:
    """Add `identities search`, `identities get` and `identities delete` to the app."""
    group = typer.Typer(help="Managed identities (managed/alpha_user).", no_args_is_help=True)
    app.add_typer(group, name="identities")

    @group.command("search")
    @with_output
    def search_cmd(
        env: EnvOpt,
        query: Annotated[str | None, typer.Argument(metavar="FILTER", help='A filter, e.g. \'sn eq "Carter"\' '
                                                    "(default: every object).")] = None,
        limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="At most N objects.")] = None,
        root: RootOpt = None,
        *,
        out: Output,
    ) -> int:
        """Find managed objects with the filter language (case-insensitive), ordered by userName."""
        found = commands.search_identities(resolve_root(root), env, query, limit)
        if out.json_mode:
            out.json([o.to_dict() for o in found])
            return ExitCode.OK
        table = Table(title=f"managed/alpha_user in {env}: {len(found)} found", title_justify="left")
        table.add_column("_id")
        for col in _COLUMNS:
            table.add_column(col)
        for o in found:
            table.add_row(o.id, *(escape(str(o.properties.get(c, ""))) for c in _COLUMNS))
        out.print(table)
        return ExitCode.OK

    @group.command("get")
    @with_output
    def get_cmd(
        env: EnvOpt,
        object_id: IdArg,
        root: RootOpt = None,
        *,
        out: Output,
    ) -> int:
        """Show one managed object with its links."""
        obj, links = commands.get_identity(resolve_root(root), env, object_id)
        if out.json_mode:
            out.json({**obj.to_dict(), "_links": [{"mapping": m, "sourceId": s} for m, s in links]})
            return ExitCode.OK
        out.print(f"managed/alpha_user/{obj.id} (rev {obj.rev})")
        for key, value in sorted(obj.properties.items()):
            out.print(f"  {key}: {escape(str(value))}")
        for m, s in links:
            out.print(f"  linked by mapping {m} to source {s}")
        return ExitCode.OK

    @group.command("delete")
    @with_output
    def delete_cmd(
        env: EnvOpt,
        object_id: IdArg,
        root: RootOpt = None,
        *,
        out: Output,
    ) -> int:
        """Delete one managed object; its links stay (a later run reports them as MISSING or LINK_ONLY)."""
        obj = commands.delete_identity(resolve_root(root), env, object_id)
        if out.json_mode:
            out.json({"deleted": obj.to_dict()})
        else:
            out.print(f"Deleted managed/alpha_user/{obj.id} ({escape(str(obj.properties.get('userName')))}).")
        return ExitCode.OK
