"""The `idmctl` command line: parse, call one core function, render, pick the exit code.

Each verb lives in its own module with a ``register(app)`` function. This module builds the app and
owns the only mapping from outcomes to exit codes: a command returns its code (0 by default),
an ``IdmctlError`` exits with its ``exit_code`` as one readable line, a usage error exits 1 (2 is
reserved for `plan --detailed-exitcode`), and no traceback reaches the user unless IDMCTL_DEBUG=1.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import sys
import threading
from collections.abc import Sequence
from typing import Any

import typer

from controller import __version__
from controller._startup import held_collector
from controller.cli import _catalog
from controller.cli._common import hide_flag_types as _hide_flag_types
from controller.cli._output import print_error as _print_error
from controller.cli._output import print_json_error as _print_json_error
from controller.errors import ExitCode, IdmctlError

__all__ = ["main", "run"]  # `app` (every command) is built on first access: see __getattr__

def _version(value: bool) -> None:
    if value:
        typer.echo(f"idmctl {__version__}")
        raise typer.Exit(0)


def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """GitOps for identity provisioning: validate, plan, apply, promote and reconcile."""


def _shell() -> typer.Typer:
    """The top-level app with no command yet: its options and help settings."""
    built = typer.Typer(
        name="idmctl",
        help="GitOps for identity provisioning: validate, plan, apply, promote and reconcile.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    built.callback()(_root)
    return built


def _build(modules: Sequence[str] = _catalog.MODULES) -> typer.Typer:
    """The app with the commands of ``modules`` (every command by default)."""
    built = _shell()
    for module in modules:
        importlib.import_module(f"controller.cli.{module}").register(built)
    return built


def _listing() -> typer.Typer:
    """The app as `idmctl --help` shows it: every command's name and summary, no command module imported.

    Only a command line that names no command gets it (help, no arguments, an unknown name or option),
    so no command here is ever invoked: click prints the help or the usage error first.
    """
    built = _shell()
    for entry in _catalog.COMMANDS:
        built.command(entry.name, help=entry.summary, short_help=entry.summary, add_help_option=False)(_unlisted)
    return built


def _unlisted() -> None:  # pragma: no cover - see _listing
    raise AssertionError("a listed command ran without its module")


def _app_for(args: Sequence[str]) -> typer.Typer:
    """The app a command line needs: the named command's module only, or the listing (help, unknown names)."""
    for arg in args:
        if not arg.startswith("-"):
            module = _catalog.module_of(arg)
            return _listing() if module is None else _build((module,))
        if arg in ("-h", "--help"):
            break
    else:
        if "--version" in args:
            return _build(())
    return _listing()


_hide_flag_types()
_app: typer.Typer | None = None


def __getattr__(name: str) -> Any:
    """``app``: the whole command line, built on first use (``run`` builds only what it needs)."""
    global _app
    if name == "app":
        if _app is None:
            _app = _build()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` and return the exit code (tests call this directly)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("IDMCTL_DEBUG") == "1"
    try:
        with held_collector():  # start-up makes no garbage worth a collection: see controller._startup
            rv = _app_for(args)(args=args, prog_name="idmctl", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("Aborted.", file=sys.stderr)
        return ExitCode.ERROR
    except IdmctlError as exc:
        if debug:
            raise
        _print_error(exc)
        if _wants_json(args):
            _print_json_error(exc)
        return exc.exit_code
    except typer.TyperException as exc:  # click's usage errors, vendored by typer
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # type: ignore[attr-defined]  # typer's vendored click error class is untyped here
            return ExitCode.OK
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            print(f"Error: {exc}", file=sys.stderr)
        return ExitCode.ERROR
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception as exc:  # a bug: say so in one line, keep the traceback for IDMCTL_DEBUG=1
        if debug:
            raise
        print(
            f"error: internal error ({type(exc).__name__}: {exc}). "
            "Rerun with IDMCTL_DEBUG=1 for the traceback and report it.",
            file=sys.stderr,
        )
        return ExitCode.ERROR
    return rv if isinstance(rv, int) else ExitCode.OK


def _wants_json(args: Sequence[str]) -> bool:
    """Whether the command line asked for JSON (`--json`, or `plan --format json`)."""
    return "--json" in args or "--format=json" in args or any(
        a == "--format" and b == "json" for a, b in zip(args, args[1:], strict=False))


def main() -> None:
    """Console-script entry point."""
    _exit(run())


def _exit(code: int) -> None:
    """End the process with ``code``, without the interpreter's teardown when that is safe.

    Tearing down frees and collects everything start-up built (modules, models, the typer app), which
    changes nothing outside this process: 0.12-0.15 of the ~0.55 CPU s an idle `reconcile --incremental`
    cost. What does matter outside runs first: the exit handlers (logging's flush, temporary directories,
    coverage) and the standard streams. Any other thread left running (none of ours is) gets the
    ordinary exit, which waits for it.
    """
    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()  # what a normal exit would run now (CPython's own hook for it)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`idmctl ... | head`): nothing to do
            stream.flush()
    os._exit(code)
