"""The run half's commands: reconcile, runs, identities, connectors and schedules of one environment.

Each opens the environment (its state backend and platform, ``controller.platforms``), asks the
platform for one thing, and closes it again; the CLI renders what comes back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from controller._startup import start_work
from controller.backends import JsonObject, ManagedObject, RunEntry, RunRecord, open_backend
from controller.config import ResourceSet, load_environment
from controller.config.graph_user import did_you_mean
from controller.config.managed import ALPHA_USER
from controller.config.models import RunMode
from controller.errors import UsageError
from controller.filters import filter_attributes, parse_filter
from controller.platforms import (
    DEFAULT_LOCK_TIMEOUT,
    DEFAULT_PAGE,
    CancelCheck,
    OpenEnvironment,
    Page,
    Platform,
    ProgressFactory,
    ReconRequest,
    RunLogger,
    open_environment,
    open_platform,
)
from controller.scheduler import preview_cron

if TYPE_CHECKING:  # a `runs list` does not load the engine or the connectors
    from controller.connectors import ConnectionReport, SourcePreview
    from controller.recon import Progress, ReconRun

__all__ = [
    "connector_preview",
    "connector_test",
    "delete_identity",
    "get_identity",
    "list_runs",
    "pause_schedule",
    "preview_cron",
    "preview_schedule",
    "prune_runs",
    "reconcile",
    "resume_schedule",
    "schedule_report",
    "search_identities",
    "serve_schedules",
    "show_run",
]


@contextmanager
def _opened(root: Path, env: str) -> Iterator[OpenEnvironment]:
    opened = open_environment(root, env)
    try:
        yield opened
    finally:
        opened.close()


def reconcile(root: Path, env: str, mapping: str, *, mode: RunMode = RunMode.FULL, dry_run: bool = False,
              allow_deletes: int | None = None, reset_delta: bool = False,
              lock_timeout: float = DEFAULT_LOCK_TIMEOUT, progress: Progress | None = None,
              cancel: CancelCheck | None = None,
              on_warning: Callable[[str], None] | None = None) -> ReconRun:
    """Run (or preview with ``dry_run``) one reconciliation of the applied mapping ``mapping``."""
    with _opened(root, env) as opened:
        for warning in opened.warnings:
            if on_warning is not None:
                on_warning(warning)
        request = ReconRequest(mapping, mode, dry_run=dry_run, allow_deletes=allow_deletes,
                               reset_delta=reset_delta, lock_timeout=lock_timeout)
        return opened.platform.reconcile(request, progress=progress, cancel=cancel)


def list_runs(root: Path, env: str, mapping: str | None = None, *, limit: int | None = DEFAULT_PAGE,
              offset: int = 0) -> Page[RunRecord]:
    """A page of runs, newest first (optionally of one mapping; ``limit`` None: all)."""
    with _opened(root, env) as opened:
        return opened.platform.list_runs(mapping, limit, offset)


def show_run(root: Path, env: str, run_id: str, *, situation: str | None = None, action: str | None = None,
             status: str | None = None, limit: int | None = DEFAULT_PAGE,
             offset: int = 0) -> tuple[RunRecord, Page[RunEntry]]:
    """One run (id or unique prefix) and a page of its entries, filtered by situation, action and status."""
    with _opened(root, env) as opened:
        return opened.platform.show_run(run_id, situation=situation, action=action, status=status, limit=limit,
                                        offset=offset)


def prune_runs(root: Path, env: str, *, keep: int | None = None, older_than_days: float | None = None,
               mapping: str | None = None, dry_run: bool = False) -> list[str]:
    """Delete old runs and their entries (``dry_run``: only say which); returns the ids."""
    with _opened(root, env) as opened:
        return opened.platform.prune_runs(keep=keep, older_than_days=older_than_days, mapping=mapping,
                                          dry_run=dry_run)


def check_identity_filter(query: str | None, env: str) -> None:
    """Refuse a filter that names a property managed identities cannot have (it would find nothing, silently)."""
    if not query or not query.strip():
        return
    known = set(ALPHA_USER.properties)
    for attr in sorted(filter_attributes(parse_filter(query))):
        name = attr.split("/", 1)[0]
        if name in known:
            continue
        guess = did_you_mean(name, known)
        raise UsageError(
            f"identities search: managed/alpha_user has no property {name!r}, so the filter {query!r} can match "
            "nothing", hint=(f"Did you mean {guess!r}? " if guess else "")
            + f"Properties: {', '.join(sorted(p for p in known if not p.startswith('fr')))} "
            f"(and frIndexedString1 ... frUnindexedInteger5); find one identity with "
            f"`idmctl identities get --env {env} ID`")


def search_identities(root: Path, env: str, query: str | None = None, *, limit: int | None = DEFAULT_PAGE,
                      offset: int = 0) -> Page[ManagedObject]:
    """A page of the managed identities matching the filter (case-insensitive), ordered by userName.

    A filter on a property alpha_user does not have is refused (with did-you-mean), not "0 found"."""
    check_identity_filter(query, env)
    with _opened(root, env) as opened:
        return opened.platform.search_identities(query, limit, offset)


def get_identity(root: Path, env: str, object_id: str) -> tuple[ManagedObject, list[tuple[str, str]]]:
    """One managed identity and its links as (mapping, source id)."""
    with _opened(root, env) as opened:
        return opened.platform.get_identity(object_id)


def delete_identity(root: Path, env: str, object_id: str, *, dry_run: bool = False) -> ManagedObject:
    """Delete one managed identity (id or unique prefix); its links stay, for the next run to report
    (MISSING, LINK_ONLY). ``dry_run``: only find it."""
    with _opened(root, env) as opened:
        return opened.platform.delete_identity(object_id, dry_run=dry_run)


@contextmanager
def _for_connectors(root: Path, env: str) -> Iterator[tuple[Platform, ResourceSet, str]]:
    """The platform, and the configuration a connector command uses: applied when there is one, else the
    files (so `connector test` works before `init` and the first apply); and which of the two."""
    loaded = load_environment(root, env)
    environment = loaded.resources.environment
    backend = open_backend(root, environment, must_exist=False)
    try:
        resources, source = loaded.resources, "files"
        if backend.exists():
            state = backend.read_applied()
            if state.resources:
                resources, source = ResourceSet.from_canonical(state.resources, root=root), "applied"
        platform = open_platform(root, environment, backend, loaded.resources)
        try:
            yield platform, resources, source
        finally:
            platform.close()
    finally:
        backend.close()


def connector_test(root: Path, env: str, name: str | None = None) -> tuple[ConnectionReport, str]:
    """Token, granted vs needed roles and one read; and which configuration was used (applied|files)."""
    with _for_connectors(root, env) as (platform, resources, source):
        return platform.connector_test(resources, name), source


def connector_preview(root: Path, env: str, name: str | None = None, *, limit: int = 20) -> tuple[SourcePreview, str]:
    """The console's Data tab for connector ``name``; and which configuration was used (applied|files)."""
    with _for_connectors(root, env) as (platform, resources, source):
        return platform.connector_preview(resources, name, limit), source


def schedule_report(root: Path, env: str, now: datetime | None = None) -> JsonObject:
    """Every applied schedule with its words, next fire, last run and pause, plus warnings."""
    with _opened(root, env) as opened:
        return opened.platform.schedule_report(opened.working, now)


def preview_schedule(root: Path, env: str, name: str, count: int = 5, after: datetime | None = None) -> JsonObject:
    """The next fire times of schedule ``name`` (as applied, else as in the working tree)."""
    with _opened(root, env) as opened:
        return opened.platform.preview_schedule(opened.working, name, count, after)


def pause_schedule(root: Path, env: str, name: str, reason: str = "paused by a person") -> JsonObject:
    """Stop schedule ``name`` from firing until resumed; the reason shows in `schedule list`."""
    with _opened(root, env) as opened:
        return opened.platform.pause_schedule(name, reason)


def resume_schedule(root: Path, env: str, name: str) -> JsonObject:
    """Let a paused schedule fire again."""
    with _opened(root, env) as opened:
        return opened.platform.resume_schedule(name)


def serve_schedules(root: Path, env: str, *, once: bool = False, log: RunLogger | None = None,
                    handle_signals: bool = True, progress: ProgressFactory | None = None) -> list[JsonObject]:
    """The scheduler loop on the environment's applied schedules until SIGTERM/SIGINT (or one pass)."""
    with _opened(root, env) as opened:
        start_work()  # a daemon collects garbage as any long-running process does
        return opened.platform.serve_schedules(once=once, log=log, handle_signals=handle_signals,
                                               progress=progress)
