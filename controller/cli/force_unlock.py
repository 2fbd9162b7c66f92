"""`idmctl force-unlock`: release the environment lock left by a process that is gone."""

from __future__ import annotations

from typing import Annotated

import typer

from controller import commands
from controller.cli._catalog import summary
from controller.cli._common import EnvOpt, RootOpt, resolve_root, with_output
from controller.cli._output import Output
from controller.errors import ExitCode

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add `force-unlock` to the app."""

    @app.command("force-unlock", short_help=summary("force-unlock"))
    @with_output
    def force_unlock_cmd(
        lock_id: Annotated[str, typer.Argument(metavar="LOCK_ID", help="The lock id the error named.")],
        env: EnvOpt,
        force: Annotated[bool, typer.Option(
            "--force", help="Unlock even when the holder still runs on this host; it then writes nothing "
            "more.")] = False,
        root: RootOpt = None,
        *,
        out: Output,
    ) -> int:
        """Release the environment lock LOCK_ID held by a dead process (audited)."""
        lease = commands.force_unlock(resolve_root(root), env, lock_id, force=force)
        if out.json_mode:
            out.json({"environment": env, "released": lease.to_dict()})
        else:
            out.print(f"Released the lock of environment {env!r} held by {lease.describe()}.")
        return ExitCode.OK
