"""What reconciliations leave behind, for people: runs and their entries, and the managed identities.

The core of `idmctl runs` and `idmctl identities`: each function opens the environment, does one
thing under the lock when it writes, and closes it again; the CLI only renders.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from controller.config.models import Action, Situation
from controller.errors import UsageError
from controller.filters import compile_filter, parse_filter
from controller.plan import open_environment
from controller.targets import Target

__all__ = [
    "delete_identity",
    "get_identity",
    "list_runs",
    "prune_runs",
    "search_identities",
    "show_run",
]

_LOCK_WAIT = 10.0  # seconds a person's prune or delete waits for a run to reach a batch boundary


@contextmanager
def _environment(root: Path, env: str) -> Iterator[Target]:
    target, _, _ = open_environment(root, env)
    try:
        yield target
    finally:
        target.close()


def list_runs(root: Path, env: str, mapping: str | None = None, limit: int | None = 20) -> list[Any]:
    """Runs, newest first (optionally of one mapping)."""
    with _environment(root, env) as target:
        return list(target.identities.list_runs(mapping, limit))  # type: ignore[attr-defined]


def show_run(root: Path, env: str, run_id: str, *, situation: str | None = None, action: str | None = None,
             status: str | None = None, limit: int | None = None) -> tuple[Any, list[dict[str, Any]]]:
    """One run (id or unique prefix) and its entries, filtered by situation, action and status."""
    for value, allowed, name in ((situation, [str(s) for s in Situation], "--situation"),
                                 (action, [str(a) for a in Action], "--action"),
                                 (status, ["SUCCESS", "FAILURE"], "--status")):
        if value is not None and value.upper() not in allowed:
            raise UsageError(f"{name} {value!r} is not one of {', '.join(allowed)}")
    with _environment(root, env) as target:
        store = target.identities  # type: ignore[attr-defined]
        run = store.get_run(run_id)
        if run is None:
            raise UsageError(f"no run {run_id!r} in environment {env!r}",
                             hint=f"List runs with `idmctl runs list --env {env}`")
        return run, store.entries(run.id, situation=situation, action=action, status=status, limit=limit)


def prune_runs(root: Path, env: str, *, keep: int | None = None, older_than_days: float | None = None,
               mapping: str | None = None) -> list[str]:
    """Delete old runs and their entries; returns the ids pruned."""
    if keep is None and older_than_days is None:
        raise UsageError("runs prune needs --keep N or --older-than DAYS",
                         hint=f"For example: idmctl runs prune --env {env} --keep 50")
    with _environment(root, env) as target, target.lock("runs prune", _LOCK_WAIT):
        return list(target.identities.prune_runs(  # type: ignore[attr-defined]
            keep=keep, older_than_days=older_than_days, mapping=mapping))


def search_identities(root: Path, env: str, query: str | None = None, limit: int | None = None) -> list[Any]:
    """Managed objects matching the filter (case-insensitive), ordered by userName."""
    match = compile_filter(parse_filter(query)) if query and query.strip() else None
    found = []
    with _environment(root, env) as target:
        for obj in target.identities.iter_objects():  # type: ignore[attr-defined]
            if match is None or match(obj.properties):
                found.append(obj)
                if limit and len(found) >= limit:
                    break
    return found


def _not_found(object_id: str, env: str) -> UsageError:
    return UsageError(f"managed/alpha_user/{object_id} does not exist in {env!r}",
                      hint=f"Find ids with `idmctl identities search --env {env}`")


def get_identity(root: Path, env: str, object_id: str) -> tuple[Any, list[tuple[str, str]]]:
    """One managed object and its links as (mapping, source id)."""
    with _environment(root, env) as target:
        store = target.identities  # type: ignore[attr-defined]
        obj = store.get(object_id)
        if obj is None:
            raise _not_found(object_id, env)
        return obj, store.links_of_object(object_id)


def delete_identity(root: Path, env: str, object_id: str) -> Any:
    """Delete one managed object; its links stay, for the next run to report (MISSING, LINK_ONLY)."""
    with _environment(root, env) as target, target.lock(f"identities delete {object_id}", _LOCK_WAIT):
        obj = target.identities.delete(object_id)  # type: ignore[attr-defined]
    if obj is None:
        raise _not_found(object_id, env)
    return obj
