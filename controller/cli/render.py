"""`idmctl render`: the environment's resources as AIC's native objects (JSON files, or printed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from controller import commands
from controller.cli._catalog import summary
from controller.cli._common import EnvOpt, RootOpt, resolve_root, with_output
from controller.cli._output import Output
from controller.errors import ExitCode

__all__ = ["register"]

OutDirOpt = Annotated[Path | None, typer.Option(
    "--out", "-o", metavar="DIR", help="Write one JSON file per object id under DIR (created if needed).",
    show_default=False)]
RealmOpt = Annotated[str | None, typer.Option(
    "--realm", help="Realm for an environment not on the aic platform (default alpha); an aic "
    "environment uses its platform.realm.", show_default=False)]


def register(app: typer.Typer) -> None:
    """Add `render` to the app."""

    @app.command("render", short_help=summary("render"))
    @with_output
    def render_cmd(
        env: EnvOpt,
        out_dir: OutDirOpt = None,
        realm: RealmOpt = None,
        root: RootOpt = None,
        *,
        out: Output,
    ) -> int:
        """Render the resources as PingOne Advanced Identity Cloud objects: ESVs, connector, mapping,
        application, schedule. Secrets appear only as &{esv...} placeholders; diff DIR against a frodo
        or fr-config-manager export."""
        result = commands.render(resolve_root(root), env, out=out_dir, realm=realm)
        for note in result.notes:
            out.warn(note)
        for path in result.stale:
            out.warn(f"{path} is not part of this rendering (left from an earlier one?)")
        if out.json_mode:
            out.json({
                "environment": result.environment, "realm": result.realm, "notes": list(result.notes),
                "objects": [{"id": o.id, "kind": o.kind, "address": o.address, "path": o.path, "file": o.file,
                             **({"written": str(out_dir / o.file)} if out_dir is not None else {}),
                             "body": o.body} for o in result.objects],
            })
        elif out_dir is not None:
            out.print(f"Rendered {len(result.objects)} objects of environment {env!r} (realm {result.realm}) "
                      f"to {out_dir}:", markup=False)
            for obj in result.objects:
                out.print(f"  {obj.file}  ({obj.address})", markup=False)
        else:
            for obj in result.objects:
                out.print(f"# {obj.file}  ({obj.address} -> {obj.path})", markup=False)
                out.print(commands.native_json(obj), end="", markup=False)
        return ExitCode.OK
