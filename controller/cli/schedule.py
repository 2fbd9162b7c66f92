"""`idmctl schedule next|list|run`: check a Quartz expression in words, see an environment's schedules,
and run the scheduler loop on the applied configuration."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from controller import commands
from controller.cli import reconcile as reconcile_cli
from controller.cli._catalog import summary
from controller.cli._common import (
    EnvOpt,
    RootOpt,
    resolve_root,
    with_output,
)
from controller.cli._output import Output
from controller.config import RunState
from controller.errors import ExitCode, UsageError

__all__ = ["register"]

OptionalEnvOpt = Annotated[
    str | None, typer.Option("--env", "-e", help="Environment name (a folder under environments/).")
]
CountOpt = Annotated[int, typer.Option("--count", "-n", help="How many fire times to show.", min=1)]

# Exit codes of `schedule run --once` by the worst run state (the CLI contract's reconcile codes).
_EXIT = {RunState.BLOCKED: ExitCode.BLOCKED, RunState.FAILED: ExitCode.ERROR, RunState.CANCELED: ExitCode.ERROR}


def _parse_after(after: str | None) -> datetime | None:
    if after is None:
        return None
    try:
        return datetime.fromisoformat(after.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--after {after!r} is not an ISO 8601 time",
                         hint="Write e.g. 2026-03-29T00:00:00+01:00 (no offset: the --time-zone)") from None


def _render_next(out: Output, report: dict[str, Any]) -> None:
    if out.json_mode:
        out.json(report)
    else:
        title = f"{report.get('name', report['cron'])}"
        if "name" in report:
            title += f" ({report['cron']}, mapping {report['mapping']}, {report['mode']}, {report['source']})"
        out.print(f"[bold]{escape(title)}[/bold]: {escape(report['description'])} ({report['timeZone']})")
        if report.get("paused"):
            out.print(f"[yellow]paused[/yellow]: {escape(report.get('pausedReason') or 'paused')}")
        if not report["fireTimes"]:
            out.print("never fires again")
        for when in report["fireTimes"]:
            moment = datetime.fromisoformat(when)
            out.print(f"  {moment:%a %Y-%m-%d %H:%M:%S %z}")
    for warning in report["warnings"]:
        out.warn(escape(warning))


def _render_list(out: Output, status: dict[str, Any]) -> None:
    if out.json_mode:
        out.json(status)
    else:
        where = f"on {status['tenant']}" if status.get("tenant") else "(applied)"  # aic: the tenant's own
        table = Table(title=f"Schedules of {status['environment']} {where}", title_justify="left")
        for column in ("Name", "Mapping", "Mode", "Cron", "In words", "Next fire", "Last run", "Paused"):
            table.add_column(column, no_wrap=column in ("Name", "Cron", "Next fire"))
        for row in status["schedules"]:
            last = "never"
            if row["lastRunState"]:
                last = f"{row['lastRunState']} {row['lastRunEnded'] or ''} {row['lastRunId'] or ''}".strip()
            paused = f"[yellow]yes[/yellow]: {escape(row['pausedReason'] or '')}" if row["paused"] else "no"
            next_fire = row["nextFire"] or "never"
            if not row["enabled"]:
                next_fire = "disabled"
            table.add_row(escape(row["name"]), escape(row["mapping"]), row["mode"], escape(row["cron"]),
                          escape(f"{row['description']} ({row['timeZone']})"), next_fire, escape(last), paused)
        if status["schedules"]:
            out.print(table)
        else:
            out.print(f"Environment {status['environment']!r} has no applied schedules.")
    for row in status["schedules"]:
        for warning in row["warnings"]:
            out.warn(escape(f"{row['name']}: {warning}"))
        if row["paused"] and row["pausedReason"] and not out.interactive:  # the table shows it on a terminal
            out.warn(escape(f"{row['name']} is paused: {row['pausedReason']}"))
    for warning in status["warnings"]:
        out.warn(escape(warning))


def _run_logger(out: Output) -> Any:
    """One line per run or skipped fire: JSON Lines with --json, a readable line otherwise."""

    def log(record: dict[str, Any]) -> None:
        if out.json_mode:
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
            sys.stdout.flush()
            return
        if record["event"] == "skipped":
            out.print(f"{record['scheduled']} {escape(record['schedule'])}: skipped, "
                      f"{record['lateSeconds']} s late (misfire policy doNothing); next {record['next']}")
            return
        colour = {"SUCCESS": "green", "BLOCKED": "yellow"}.get(record["state"], "red")
        line = (f"{record['fired']} {escape(record['schedule'])}: {record['mode']} run of "
                f"{escape(record['mapping'])} [{colour}]{record['state']}[/{colour}] "
                f"{record['runId'] or ''} in {record['durationMs']} ms; next {record['next'] or 'never'}")
        if record.get("message") and record["state"] != "SUCCESS":
            line += f" ({escape(str(record['message']))})"
        if record.get("paused"):
            line += " — schedule paused"
        out.print(line)

    return log


def register(app: typer.Typer) -> None:
    """Add `schedule next|list|run` to the app."""
    group = typer.Typer(help=summary("schedule"),
                        no_args_is_help=True)
    app.add_typer(group, name="schedule")

    @group.command("next")
    @with_output
    def next_cmd(
        name: Annotated[str | None, typer.Argument(help="A schedule of the environment (with --env).")] = None,
        cron: Annotated[str | None, typer.Option("--cron", help="Any Quartz expression, no environment "
                                                 "needed, e.g. '0 0/15 * * * ?'.")] = None,
        time_zone: Annotated[str, typer.Option("--time-zone", "--tz", help="IANA zone for --cron.")] = "UTC",
        count: CountOpt = 5,
        after: Annotated[str | None, typer.Option("--after", help="Start after this ISO 8601 time "
                                                  "instead of now.")] = None,
        env: OptionalEnvOpt = None,
        root: RootOpt = None,
        *,
        out: Output,
    ) -> int:
        """The next fire times of an expression or of a schedule, in words, with warnings."""
        start = _parse_after(after)
        if cron is not None and (name is not None or env is not None):
            raise UsageError("give either --cron EXPR or --env E NAME, not both")
        if cron is not None:
            report = commands.preview_cron(cron, time_zone, count, start)
        elif name is not None and env is not None:
            report = commands.preview_schedule(resolve_root(root), env, name, count, start)
        else:
            raise UsageError("say which schedule: `schedule next --env E NAME` or `schedule next --cron EXPR`",
                             hint="For example: idmctl schedule next --cron '0 0/15 * * * ?'")
        _render_next(out, report)
        return ExitCode.OK

    @group.command("list")
    @with_output
    def list_cmd(
        env: EnvOpt,
        root: RootOpt = None,
        *,
        out: Output,
    ) -> int:
        """Applied schedules: mapping, mode, cron in words, next fire, last run and result, paused."""
        _render_list(out, commands.schedule_report(resolve_root(root), env))
        return ExitCode.OK

    @group.command("pause")
    @with_output
    def pause_cmd(
        name: Annotated[str, typer.Argument(metavar="NAME", help="An applied schedule.")],
        env: EnvOpt,
        reason: Annotated[str, typer.Option("--reason", help="Why; `schedule list` shows it.")] = "paused by a person",
        root: RootOpt = None,
        *,
        out: Output,
    ) -> int:
        """Stop a schedule from firing until `schedule resume` (the scheduler keeps running the others)."""
        result = commands.pause_schedule(resolve_root(root), env, name, reason)
        if out.json_mode:
            out.json(result)
        else:
            out.print(f"Paused schedule {escape(name)!r} of {env!r}: {escape(reason)}.")
            out.info(f"Resume it with `idmctl schedule resume --env {env} {name}`.")
        return ExitCode.OK

    @group.command("resume")
    @with_output
    def resume_cmd(
        name: Annotated[str, typer.Argument(metavar="NAME", help="An applied schedule.")],
        env: EnvOpt,
        root: RootOpt = None,
        *,
        out: Output,
    ) -> int:
        """Let a paused schedule fire again, from its next fire time (a paused BLOCKED run is not rerun)."""
        result = commands.resume_schedule(resolve_root(root), env, name)
        if out.json_mode:
            out.json(result)
        elif result["resumed"]:
            out.print(f"Resumed schedule {escape(name)!r} of {env!r}.")
        else:
            out.print(f"Schedule {escape(name)!r} of {env!r} was not paused; nothing changed.")
        return ExitCode.OK

    @group.command("run")
    @with_output
    def run_cmd(
        env: EnvOpt,
        once: Annotated[bool, typer.Option("--once", help="Run what is due now and exit (for a "
                                           "Kubernetes CronJob or CI).")] = False,
        root: RootOpt = None,
        *,
        out: Output,
    ) -> int:
        """The scheduler loop on the applied schedules; SIGTERM/SIGINT finish the run in hand and stop."""
        if not once:
            out.info(f"Scheduler for environment {env!r} started; SIGTERM or Ctrl-C stops it after the "
                     "run in hand.")
        # Scheduled runs are long runs too: a progress line every few seconds on stderr (no bar: it is a loop).
        progress = None if out.quiet or out.json_mode else (
            lambda mapping: reconcile_cli.ProgressLines(out, mapping, reconcile_cli.PROGRESS_INTERVAL))
        records = commands.serve_schedules(resolve_root(root), env, once=once, log=_run_logger(out),
                                           progress=progress)
        if once and not records:
            out.info("Nothing was due.")
        if not once:
            out.info("Scheduler stopped.")
            return ExitCode.OK
        states = [r["state"] for r in records if r["event"] == "run"]
        return max((_EXIT.get(RunState(s), ExitCode.OK) for s in states), default=ExitCode.OK)
