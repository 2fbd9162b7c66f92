"""`idmctl init`: create an environment's state (idempotent)."""

from __future__ import annotations

import typer

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


def register(app: typer.Typer) -> None:
    """Add `init` to the app."""

    @app.command("init", short_help=summary("init"))
    @with_output
    def init_cmd(
        env: EnvOpt,
        root: RootOpt = None,
        *,
        out: Output,
    ) -> int:
        """Create the environment's state (spec.state); an existing state is left as it is."""
        result = commands.init(resolve_root(root), env)
        if out.json_mode:
            out.json({"environment": result.environment, "location": result.location,
                      "created": result.created, "serial": result.serial, "lineage": result.lineage})
        elif result.created:
            out.print(f"Initialised environment {env!r}: state at {result.location} "
                      f"(lineage {result.lineage}).")
            out.info(f"Next: `idmctl plan --env {env}`.")
        else:
            out.print(f"Environment {env!r} is already initialised: state at {result.location}, "
                      f"serial {result.serial}. Nothing changed.")
        return ExitCode.OK
