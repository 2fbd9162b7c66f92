"""Options shared by every command, defined once (``--env``, ``--root``, ``--json``, ``-v``, ``-q``)."""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from controller.cli._output import Output
from controller.errors import UsageError

__all__ = ["EnvOpt", "JsonOpt", "OptionalEnvOpt", "QuietOpt", "RootOpt", "VerboseOpt", "make_output", "resolve_root",
           "with_output"]

EnvOpt = Annotated[str, typer.Option("--env", "-e", help="Environment name (a folder under environments/).")]
OptionalEnvOpt = Annotated[
    str | None, typer.Option("--env", "-e", help="Environment name (default: every environment).")
]
RootOpt = Annotated[
    Path | None,
    typer.Option(
        "--root",
        help="Repository root holding environments/ (default: IDMCTL_ROOT, else the nearest parent "
        "of the current directory that has an environments/ folder).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="More detail.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only results and errors.")]


def with_output(command: Callable[..., int]) -> Callable[..., int]:
    """Give a command the shared --json, -v and -q options, defined once: it receives ``out: Output``."""
    signature = inspect.signature(command, eval_str=True)
    kept = [p for p in signature.parameters.values() if p.name != "out"]
    shared = [
        inspect.Parameter("json_out", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=JsonOpt),
        inspect.Parameter("verbose", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=VerboseOpt),
        inspect.Parameter("quiet", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=QuietOpt),
    ]

    @functools.wraps(command)
    def wrapper(*args: Any, json_out: bool = False, verbose: bool = False, quiet: bool = False,
                **kwargs: Any) -> int:
        return command(*args, out=make_output(json_out, verbose, quiet), **kwargs)

    new_signature = signature.replace(parameters=[*kept, *shared])
    wrapper.__signature__ = new_signature  # type: ignore[attr-defined]  # typer reads options off the signature
    return wrapper


def make_output(json_mode: bool = False, verbose: bool = False, quiet: bool = False) -> Output:
    return Output(json_mode=json_mode, verbose=verbose, quiet=quiet)


def resolve_root(root: Path | None) -> Path:
    """The repository root: --root, else IDMCTL_ROOT, else the nearest parent with environments/."""
    if root is not None:
        if not (root / "environments").is_dir():
            raise UsageError(
                f"--root {root} has no environments/ folder",
                hint="Point --root at the repository that holds environments/<name>/",
            )
        return root.resolve()
    env_root = os.environ.get("IDMCTL_ROOT")
    if env_root:
        return resolve_root(Path(env_root))
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / "environments").is_dir():
            return candidate
    raise UsageError(
        f"no environments/ folder in {here} or any parent",
        hint="Run idmctl inside the configuration repository, or pass --root DIR",
    )
