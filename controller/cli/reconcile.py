"""`idmctl reconcile`: run (or preview with --dry-run) a full or incremental reconciliation of a mapping."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from controller import commands
from controller.cli._catalog import summary
from controller.cli._common import (
    EnvOpt,
    LockTimeoutOpt,
    RootOpt,
    resolve_root,
    with_output,
)
from controller.cli._output import Output
from controller.config import RunMode, RunState
from controller.platforms import DEFAULT_LOCK_TIMEOUT

if TYPE_CHECKING:
    from rich.table import Table

    from controller.recon import ReconRun

__all__ = ["register"]

_OP_STYLE = {"+": "green", "~": "yellow", "-": "red", "!": "red bold", "?": "cyan"}


@contextmanager
def _stop_signals() -> Iterator[threading.Event]:
    """An Event set by Ctrl-C or SIGTERM, so the run stops at the next batch boundary."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now (the open batch rolls back)
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _escape(text: str) -> str:
    """rich's markup escape, imported when a line for people is printed: a ``--json`` run without
    warnings loads no rich at all."""
    from rich.markup import escape

    return escape(text)


def _table(title: str, counts: dict[str, int]) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column(title.rstrip("s"))
    table.add_column("Count", justify="right")
    for name, count in sorted(counts.items()):
        table.add_row(name, str(count))
    return table


def render_run(out: Output, run: ReconRun, env: str) -> None:
    """The summary people see after a run: state, why it was full, counts, plan or entries hint."""
    for warning in run.warnings:
        out.warn(_escape(warning))
    if out.json_mode:
        out.json(run.to_dict())
        return
    if run.dry_run:
        out.print(f"[bold]Dry run[/bold] of mapping [bold]{run.mapping}[/bold] ({run.mode}): nothing was written.")
        for item in run.plan:
            out.print(f"[{_OP_STYLE.get(item.op, 'white')}]{_escape(item.text())}[/]")
        if not run.plan:
            out.print("No changes.")
    if run.full_because:
        out.print(f"Full run because {_escape(run.full_because)}.")
    state_style = {RunState.SUCCESS: "green", RunState.BLOCKED: "yellow"}.get(run.state, "red")
    title = "Would end" if run.dry_run else "Run"
    out.print(f"{title} {'' if run.dry_run else run.id + ' '}[{state_style}]{run.state}[/]: mapping {run.mapping}, "
              f"{run.mode}, {run.processed} processed, {run.failures} failed, {run.duration_ms} ms")
    if run.situations or run.actions:
        from rich.table import Table

        grid = Table.grid(padding=(0, 4))
        grid.add_row(_table("Situations", dict(run.situations)), _table("Actions", dict(run.actions)))
        out.print(grid)
    if run.out_of_scope:
        out.print(f"{run.out_of_scope} source objects out of scope (untouched).")
    if run.links_cleaned:
        out.print(f"{run.links_cleaned} links cleaned up (source and target both gone).")
    if run.reason:
        out.print(f"[{state_style}]{_escape(run.reason)}[/]")
    if run.state == RunState.BLOCKED:
        out.info(f"Preview: `idmctl reconcile --env {env} --mapping {run.mapping} --dry-run`")
    if run.failures and not run.dry_run:
        out.info(f"Failures: `idmctl runs show --env {env} {run.id} --status FAILURE`")


def register(app: typer.Typer) -> None:
    """Add `reconcile` to the app."""

    @app.command("reconcile", short_help=summary("reconcile"))
    @with_output
    def reconcile_cmd(
        env: EnvOpt,
        mapping: Annotated[str, typer.Option("--mapping", "-m", help="Name of the applied Mapping to run.")],
        incremental: Annotated[bool, typer.Option("--incremental", help="Only changes since the last run "
                                                  "(Graph delta); full when there is no usable delta link.")] = False,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Write nothing; print the per-account plan.")] = False,
        allow_deletes: Annotated[int | None, typer.Option(
            "--allow-deletes", min=0, help="Let the safety guard pass up to N deletes/unlinks (audited).")] = None,
        reset_delta: Annotated[bool, typer.Option("--reset-delta", help="Ignore the stored delta link: "
                                                  "run full and store a new one.")] = False,
        lock_timeout: LockTimeoutOpt = DEFAULT_LOCK_TIMEOUT,
        root: RootOpt = None,
        *,
        out: Output,
    ) -> int:
        """Reconcile a mapping: situations, actions, a safety guard for deletes; Ctrl-C cancels cleanly.

        Exit 0 success, 4 success with failed entries, 3 blocked by the guard, 1 failed or canceled.
        """
        mode = RunMode.INCREMENTAL if incremental else RunMode.FULL
        with _stop_signals() as stop, _progress(out, mapping) as progress:
            run = commands.reconcile(resolve_root(root), env, mapping, mode=mode, dry_run=dry_run,
                                     allow_deletes=allow_deletes, reset_delta=reset_delta,
                                     lock_timeout=lock_timeout, progress=progress, cancel=stop.is_set,
                                     on_warning=lambda warning: out.warn(_escape(warning)))
        render_run(out, run, env)
        return run.exit_code


# Without a terminal (CI, systemd, a pipe) a run says how far it got this often, on stderr.
PROGRESS_INTERVAL = 5.0
_LABELS = {"source": "source phase", "target": "target phase", "delta": "delta"}


class ProgressLines:
    """``reconcile entra-users: source phase, 12,000 objects (of 300,000), 10 s`` every ``interval`` seconds."""

    def __init__(self, out: Output, mapping: str, interval: float = PROGRESS_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._out, self._mapping, self._interval, self._clock = out, mapping, interval, clock
        self._started = self._last = clock()

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        now = self._clock()
        if now - self._last < self._interval:
            return
        self._last = now
        of = f" (of {total:,})" if total is not None else ""
        self._out.err.print(f"reconcile {self._mapping}: {_LABELS.get(phase, phase)}, {done:,} objects{of}, "
                            f"{now - self._started:.0f} s", markup=False, highlight=False)


@contextmanager
def _progress(out: Output, mapping: str) -> Iterator[Any]:
    if out.quiet:
        yield None
        return
    if not out.interactive:
        yield ProgressLines(out, mapping, PROGRESS_INTERVAL)
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn  # a terminal's bar only

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed} objects"),
                  TimeElapsedColumn(), console=out.err, transient=True) as bar:
        task = bar.add_task("reading the source", total=None)

        def update(phase: str, done: int, total: int | None) -> None:
            bar.update(task, description=_LABELS.get(phase, phase), completed=done, total=total)

        yield update
