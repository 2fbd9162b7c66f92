"""`idmctl runs list|show|prune`: reconciliation history, counts, entries, retention."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from controller import commands
from controller.cli._catalog import summary
from controller.cli._common import (
    AllOpt,
    DryRunOpt,
    EnvOpt,
    LimitOpt,
    OffsetOpt,
    RootOpt,
    YesOpt,
    confirm,
    page_limit,
    resolve_root,
    show_page_footer,
    with_output,
)
from controller.cli._output import Output
from controller.errors import ExitCode
from controller.platforms import DEFAULT_PAGE

__all__ = ["register"]

MappingOpt = Annotated[str | None, typer.Option("--mapping", "-m", help="Only runs of this mapping.")]


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-"


def _with_name(object_id: str | None, name: str | None) -> str:
    cell = object_id or "-"
    return f"{cell}\n[dim]{escape(name)}[/dim]" if name else cell


def register(app: typer.Typer) -> None:
    """Add `runs list`, `runs show` and `runs prune` to the app."""
    group = typer.Typer(help=summary("runs"), no_args_is_help=True)
    app.add_typer(group, name="runs")

    @group.command("list")
    @with_output
    def list_cmd(
        env: EnvOpt,
        mapping: MappingOpt = None,
        limit: LimitOpt = DEFAULT_PAGE,
        all_rows: AllOpt = False,
        offset: OffsetOpt = 0,
        root: RootOpt = None,
        *,
        out: Output,
    ) -> int:
        """List runs, newest first."""
        page = commands.list_runs(resolve_root(root), env, mapping, limit=page_limit(limit, all_rows), offset=offset)
        # On a tenant, labels say which runs idmctl recorded and which are the tenant's own (``origin``).
        if out.json_mode:
            out.json([{**r.to_dict(), **({"origin": page.labels[r.id]} if r.id in page.labels else {})}
                      for r in page.items])
            return ExitCode.OK
        if not page.items:
            out.print("No runs yet." if offset == 0 else "No runs at that offset.")
            return ExitCode.OK
        table = Table(title=f"Runs in {env}", title_justify="left")
        for col in ("Run", "Mapping", "Mode", "State", "Started", "Processed", "Failures", "Actions"):
            table.add_column(col, no_wrap=col in ("Run", "Started"))
        for r in page.items:
            origin = page.labels.get(r.id)
            run_cell = r.id if origin in (None, "recorded") else f"{r.id}\n[dim]the tenant's {origin}[/dim]"
            table.add_row(run_cell, r.mapping, str(r.mode), str(r.state), r.started, str(r.processed), str(r.failures),
                          _counts(r.counts.get("actions", {})))
        out.print(table)
        show_page_footer(out, "runs", len(page.items), offset, page.total, page.more, f"idmctl runs list --env {env}")
        return ExitCode.OK

    @group.command("show")
    @with_output
    def show_cmd(
        env: EnvOpt,
        run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id (or a unique prefix of it).")],
        situation: Annotated[str | None, typer.Option("--situation", help="Only entries of this situation.")] = None,
        action: Annotated[str | None, typer.Option("--action", help="Only entries of this action.")] = None,
        status: Annotated[str | None, typer.Option("--status", help="SUCCESS or FAILURE (or FAILED).")] = None,
        limit: LimitOpt = DEFAULT_PAGE,
        all_rows: AllOpt = False,
        offset: OffsetOpt = 0,
        root: RootOpt = None,
        *,
        out: Output,
    ) -> int:
        """Show one run: its counts and a page of its entries (filter by situation, action, status)."""
        run, page = commands.show_run(resolve_root(root), env, run_id, situation=situation, action=action,
                                      status=status, limit=page_limit(limit, all_rows), offset=offset)
        entries = page.items
        if out.json_mode:
            out.json({**run.to_dict(), "entries": [{**e.to_dict(), "userName": page.labels.get(e.target_id or "")}
                                                   for e in entries],  # userName: the identity's now
                      "entriesShown": {"offset": offset, "count": len(entries), "total": page.total,
                                       "more": page.more}})
            return ExitCode.OK
        out.print(f"Run {run.id}: mapping {run.mapping}, {run.mode}, [bold]{run.state}[/bold], started {run.started}, "
                  f"ended {run.ended or '-'}")
        if run.full_because:
            out.print(f"Full run because {escape(run.full_because)}.")
        if run.reason:
            out.print(escape(run.reason))
        out.print(f"Processed {run.processed}, failures {run.failures}")
        out.print(f"Situations: {_counts(run.counts.get('situations', {}))}")
        out.print(f"Actions:    {_counts(run.counts.get('actions', {}))}")
        if entries:
            table = Table(title="Entries", title_justify="left")
            for col in ("#", "Phase", "Situation", "Action", "Status", "Source (name)", "Target", "Message"):
                # ids are never cut; the name people know the object by sits under the source id
                table.add_column(col, no_wrap=col == "Target", overflow="fold",
                                 min_width=36 if col.startswith("Source") else None)
            for e in entries:
                message = e.message or ""
                diffs = dict(e.changes or {})
                ambiguous = diffs.pop("ambiguousTargetIds", None)
                if diffs:
                    message = (message + " " if message else "") + ", ".join(
                        f"{k}: {v[0]} -> {v[1]}" for k, v in diffs.items())
                if ambiguous and "candidates:" not in message:
                    message += f"{'; ' if message else ''}candidates: {', '.join(ambiguous)}"
                style = "red" if e.status == "FAILURE" else None
                table.add_row(str(e.seq), e.phase, e.situation or "-", e.action, e.status,
                              _with_name(e.source_id, e.label or page.labels.get(e.target_id or "")),
                              e.target_id or "-", escape(message), style=style)
            out.print(table)
            show_page_footer(out, "entries", len(entries), offset, page.total, page.more,
                             f"idmctl runs show --env {env} {run.id}")
        else:
            out.print("No entries" + (" match." if situation or action or status else "."))
        return ExitCode.OK

    @group.command("prune")
    @with_output
    def prune_cmd(
        env: EnvOpt,
        keep: Annotated[int | None, typer.Option("--keep", min=0, help="Keep the newest N runs.")] = None,
        older_than: Annotated[float | None, typer.Option("--older-than", min=0,
                                                         help="Delete runs started more than DAYS ago.")] = None,
        mapping: MappingOpt = None,
        dry_run: DryRunOpt = False,
        yes: YesOpt = False,
        root: RootOpt = None,
        *,
        out: Output,
    ) -> int:
        """Delete old runs and their entries (--keep N and/or --older-than DAYS); asks first on a terminal."""
        base = resolve_root(root)
        doomed = commands.prune_runs(base, env, keep=keep, older_than_days=older_than, mapping=mapping, dry_run=True)
        if dry_run or not doomed:
            if out.json_mode:
                out.json({"pruned": [], "wouldPrune": doomed} if dry_run else {"pruned": []})
            else:
                out.print(f"Would prune {len(doomed)} run(s)." if dry_run else "Nothing to prune.")
            return ExitCode.OK
        if not confirm(out, f"Delete {len(doomed)} run(s) of {env!r} and their entries?", yes):
            out.print("Nothing was pruned.")
            return ExitCode.ERROR
        pruned = commands.prune_runs(base, env, keep=keep, older_than_days=older_than, mapping=mapping)
        if out.json_mode:
            out.json({"pruned": pruned})
        else:
            out.print(f"Pruned {len(pruned)} run{'s' if len(pruned) != 1 else ''}.")
        return ExitCode.OK
