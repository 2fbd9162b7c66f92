"""`idmctl promote`: make one environment's resource files another's, then show the target's plan."""

from __future__ import annotations

from typing import Annotated

import typer

from controller import commands
from controller.cli._catalog import summary
from controller.cli._common import RootOpt, resolve_root, with_output
from controller.cli._output import Output
from controller.cli._planview import show_plan
from controller.errors import ExitCode
from controller.plan import plan_to_json_data

__all__ = ["register"]

_SYMBOLS = {"create": "+", "update": "~", "delete": "-"}


def register(app: typer.Typer) -> None:
    """Add `promote` to the app."""

    @app.command("promote", short_help=summary("promote"))
    @with_output
    def promote_cmd(
        source: Annotated[str, typer.Option("--from", help="The environment whose files are promoted.")],
        target: Annotated[str, typer.Option("--to", help="The environment that receives them.")],
        check: Annotated[bool, typer.Option(
            "--check", help="Only compare the files: exit 2 when they differ, 0 when identical.")] = False,
        root: RootOpt = None,
        *,
        out: Output,
    ) -> int:
        """Copy every resource file but environment.yaml from --from to --to, then plan --to."""
        result = commands.promote(resolve_root(root), source, target, check=check)
        if out.json_mode:
            out.json({
                "from": source, "to": target, "check": check, "copied": result.copied,
                "differs": bool(result.changes),
                "files": [{"path": c.path, "change": c.change} for c in result.changes],
                "plan": plan_to_json_data(result.plan) if result.plan else None,
                "note": result.plan_note,
            })
        else:
            where = f"environments/{target}"
            if not result.changes:
                out.print(f"The resource files of {where} are the same as environments/{source}'s.")
            else:
                verb = "differ from" if check else "were made the same as"
                out.print(f"{len(result.changes)} resource file(s) of {where} {verb} environments/{source}'s:")
                for c in result.changes:
                    out.print(f"  {_SYMBOLS[c.change]} {where}/{c.path} ({c.change})")
            if result.plan is not None:
                out.print(f"\nPlan for environment {target!r}:\n")
                show_plan(out, result.plan)
            elif result.plan_note:
                out.info(result.plan_note)
        return ExitCode.CHANGES if check and result.changes else ExitCode.OK
