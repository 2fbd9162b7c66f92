"""`idmctl identities search|get|delete`: the managed store (the console's Identities > Manage)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from controller import commands
from controller.backends import ManagedObject
from controller.cli._catalog import summary
from controller.cli._common import (
    AllOpt,
    DryRunOpt,
    EnvOpt,
    LimitOpt,
    OffsetOpt,
    RootOpt,
    YesOpt,
    confirm,
    page_limit,
    resolve_root,
    show_page_footer,
    with_output,
)
from controller.cli._output import Output
from controller.errors import ExitCode, UsageError
from controller.platforms import DEFAULT_PAGE

__all__ = ["register"]

IdArg = Annotated[str, typer.Argument(metavar="ID", help="Managed object id (or a unique prefix of it).")]
_COLUMNS = ("userName", "givenName", "sn", "mail", "accountStatus")
_KEY_COLUMNS = frozenset({"userName", "mail"})


def _columns(chosen: str | None, wide: bool, found: list[ManagedObject]) -> list[str]:
    if chosen:
        return [c.strip() for c in chosen.split(",") if c.strip()]
    if wide:
        extra = sorted({k for o in found for k in o.properties} - set(_COLUMNS))
        return [*_COLUMNS, *extra]
    return list(_COLUMNS)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)



def register(app: typer.Typer) -> None:
    """Add `identities search`, `identities get` and `identities delete` to the app."""
    group = typer.Typer(help=summary("identities"), no_args_is_help=True)
    app.add_typer(group, name="identities")

    @group.command("search")
    @with_output
    def search_cmd(
        env: EnvOpt,
        query: Annotated[str | None, typer.Argument(metavar="FILTER", help='A filter, e.g. \'sn eq "Carter"\' '
                                                    "(default: every object).")] = None,
        limit: LimitOpt = DEFAULT_PAGE,
        all_rows: AllOpt = False,
        offset: OffsetOpt = 0,
        columns: Annotated[str | None, typer.Option(
            "--columns", metavar="A,B,...", help="Properties to show, in order (default: "
            + ", ".join(_COLUMNS) + ").")] = None,
        output: Annotated[str | None, typer.Option(
            "--output", "-o", metavar="wide", help="wide: every property the objects have.")] = None,
        root: RootOpt = None,
        *,
        out: Output,
    ) -> int:
        """Find managed objects with the filter language (case-insensitive), ordered by userName."""
        if output not in (None, "wide"):
            raise UsageError(f"-o {output!r} is not an output format", hint="Use -o wide, or --json")
        page = commands.search_identities(resolve_root(root), env, query, limit=page_limit(limit, all_rows),
                                          offset=offset)
        found = page.items
        if out.json_mode:
            out.json([o.to_dict() for o in found])
            return ExitCode.OK
        shown = _columns(columns, output == "wide", found)
        count = f"{page.total:,} found" if page.total is not None else f"{len(found)}{'+' if page.more else ''} found"
        table = Table(title=f"managed/alpha_user in {env}: {count}", title_justify="left")
        table.add_column("_id", no_wrap=True, min_width=36, overflow="fold")
        for col in shown:
            # the keys people copy are never cut (they fold onto a second line on a narrow terminal)
            table.add_column(col, overflow="fold" if col in _KEY_COLUMNS else "ellipsis")
        for o in found:
            table.add_row(o.id, *(escape(_cell(o.properties.get(c))) for c in shown))
        out.print(table)
        show_page_footer(out, "identities", len(found), offset, page.total, page.more,
                         f"idmctl identities search --env {env}" + (f" '{query}'" if query else ""))
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
        dry_run: DryRunOpt = False,
        yes: YesOpt = False,
        root: RootOpt = None,
        *,
        out: Output,
    ) -> int:
        """Delete one managed object; its links stay (a later run reports them as MISSING or LINK_ONLY).

        Asks first on a terminal; --yes does not ask, --dry-run only says which object it is.
        """
        base = resolve_root(root)
        found = commands.delete_identity(base, env, object_id, dry_run=True)
        label = f"managed/alpha_user/{found.id} ({escape(str(found.properties.get('userName')))})"
        if dry_run:
            if out.json_mode:
                out.json({"deleted": None, "wouldDelete": found.to_dict()})
            else:
                out.print(f"Would delete {label}.")
            return ExitCode.OK
        if not confirm(out, f"Delete {label} from {env!r}?", yes):
            out.print("Nothing was deleted.")
            return ExitCode.ERROR
        obj = commands.delete_identity(base, env, found.id)
        if out.json_mode:
            out.json({"deleted": obj.to_dict()})
        else:
            out.print(f"Deleted managed/alpha_user/{obj.id} ({escape(str(obj.properties.get('userName')))}).")
        return ExitCode.OK
