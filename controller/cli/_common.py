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

__all__ = ["AllOpt", "DryRunOpt", "EnvOpt", "JsonOpt", "LimitOpt", "LockTimeoutOpt", "OffsetOpt", "OptionalEnvOpt",
           "QuietOpt", "RootOpt", "VerboseOpt", "YesOpt", "confirm", "hide_flag_types", "make_output", "page_limit",
           "resolve_root", "show_page_footer", "with_output"]

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
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout (errors too).")]
# One lock wait for every command that writes: longer than the lease's 30 s life, so a rerun after a
# killed writer waits the dead lease out instead of failing.
LockTimeoutOpt = Annotated[float, typer.Option(
    "--lock-timeout", metavar="SECONDS", min=0, help="How long to wait for the environment lock.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Say what would be deleted; delete nothing.")]
# The paging options of every list command, defined once.
LimitOpt = Annotated[int, typer.Option("--limit", "-n", min=1, help="Show at most N rows (default 50).")]
AllOpt = Annotated[bool, typer.Option("--all", help="Show every row.")]
OffsetOpt = Annotated[int, typer.Option("--offset", min=0, help="Skip the first N rows.")]
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


def hide_flag_types() -> None:
    """Show no ``<bool>`` type beside flags in --help: a flag takes no value (typer 0.29 prints one)."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]  # typer has no hook for it


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


def page_limit(limit: int, all_rows: bool) -> int | None:
    """The rows a list command reads: ``--limit`` (default 50), or all with ``--all``."""
    return None if all_rows else limit


def show_page_footer(out: Output, what: str, shown: int, offset: int, total: int | None, more: bool,
                     command: str) -> None:
    """``showing 50 of 299,426 identities; --limit N, --all`` (on stderr) when the page is not everything."""
    if not more and offset == 0:
        return
    of = f" of {total:,}" if total is not None else ""
    start = f" from {offset + 1:,}" if offset else ""
    nxt = f", --offset {offset + shown}" if more else ""
    out.info(f"showing {shown:,}{of} {what}{start}; `{command} --limit N{nxt}` or `--all` for more")


def confirm(out: Output, question: str, yes: bool) -> bool:
    """Ask ``question`` on a terminal; ``--yes`` answers it. Without a terminal, refuse rather than guess."""
    if yes:
        return True
    import sys

    if out.json_mode or not sys.stdin.isatty():
        raise UsageError(f"{question} needs confirmation and there is no terminal to ask on; nothing was changed",
                         hint="Pass --yes (after checking with --dry-run)")
    return out.console.input(f"{question} Only 'yes' will be accepted: ").strip() == "yes"
