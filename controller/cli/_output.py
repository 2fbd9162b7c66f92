"""How the CLI speaks: rich for people, stable JSON for machines, one line per error on stderr."""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

from controller.errors import ConfigError, IdmctlError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["Output", "print_error", "print_json_error", "route_logs"]


class _StderrLines(logging.Handler):
    """The product's log lines (retries, and requests with -v) as plain lines on the current stderr.

    It looks ``sys.stderr`` up per line, so one handler serves every command of a process (tests run
    many), and it writes with or without a terminal: a CI log shows why a run waits.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # a closed stderr must not break a run
            self.handleError(record)


_HANDLER = _StderrLines()
_HANDLER.setFormatter(logging.Formatter("%(message)s"))


def route_logs(*, verbose: bool, quiet: bool) -> None:
    """Show the ``controller`` loggers on stderr: INFO (retries) by default, DEBUG with -v, none with -q."""
    logger = logging.getLogger("controller")
    if _HANDLER not in logger.handlers:
        logger.addHandler(_HANDLER)
        logger.propagate = False
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)


def _width(stream: Any) -> int | None:
    # Piped output (CI logs, files) has no terminal: rich would assume 80 columns and squeeze tables
    # until columns vanish. Use COLUMNS when set, else a width that fits our widest table.
    if stream.isatty():
        return None
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else 160


def print_error(exc: IdmctlError) -> None:
    """Print an error as readable lines on stderr: one per diagnostic for config errors."""
    if isinstance(exc, ConfigError) and len(exc.diagnostics) > 1:
        for diag in exc.diagnostics:
            print(f"error: {diag.format()}" if diag.severity == "error" else diag.format(), file=sys.stderr)
        return
    print(f"error: {exc}", file=sys.stderr)


def print_json_error(exc: IdmctlError) -> None:
    """The error as JSON on stdout, for scripts that asked for --json (the text still goes to stderr)."""
    body: dict[str, Any] = {"type": type(exc).__name__, "message": exc.message, "hint": exc.hint,
                            "exitCode": int(exc.exit_code)}
    if isinstance(exc, ConfigError):
        body["diagnostics"] = [d.to_dict() for d in exc.diagnostics]
    sys.stdout.write(json.dumps({"error": body}, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


class _LazyConsole:
    """A rich console on ``stream`` (as it is now, with its width now), made on first use."""

    def __init__(self, stream: Any) -> None:
        self._stream, self._width = stream, _width(stream)
        self._console: Console | None = None

    def get(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self._stream, highlight=False, soft_wrap=True, width=self._width)
        return self._console


class Output:
    """The printer a command gets: ``json`` mode for machines, rich console for people.

    ``quiet`` drops informational lines (not results or errors); ``verbose`` adds detail.
    Consoles are made per command so that tests capturing stdout see the output: on the streams (and
    widths) of the moment the command starts, but built on first use, so that a ``--json`` run that
    prints no warning never imports rich (about 20 ms of CPU, a twentieth of an idle reconcile).
    """

    def __init__(self, *, json_mode: bool = False, verbose: bool = False, quiet: bool = False) -> None:
        self.json_mode = json_mode
        self.verbose = verbose
        self.quiet = quiet
        self._out = _LazyConsole(sys.stdout)
        self._err = _LazyConsole(sys.stderr)
        route_logs(verbose=verbose, quiet=quiet)

    @property
    def console(self) -> Console:
        """The rich console on stdout: results for people."""
        return self._out.get()

    @property
    def err(self) -> Console:
        """The rich console on stderr: information, warnings, progress."""
        return self._err.get()

    @property
    def interactive(self) -> bool:
        return not self.json_mode and self.console.is_terminal

    def json(self, data: Any) -> None:
        """Print ``data`` as JSON on stdout (stable key order as given, ISO dates)."""
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
        sys.stdout.flush()

    def print(self, *objects: Any, **kw: Any) -> None:
        """Print a result for people (tables, text); suppressed in JSON mode."""
        if not self.json_mode:
            self.console.print(*objects, **kw)

    def info(self, message: str) -> None:
        """Print an informational line on stderr unless quiet or JSON."""
        if not self.quiet and not self.json_mode:
            self.err.print(message)

    def detail(self, message: str) -> None:
        """Print a line only with --verbose."""
        if self.verbose and not self.json_mode:
            self.err.print(message)

    def warn(self, message: str) -> None:
        """Warnings go to stderr, even in JSON mode (stdout stays parseable)."""
        if not self.quiet:
            self.err.print(f"[yellow]warning:[/yellow] {message}", markup=True)
