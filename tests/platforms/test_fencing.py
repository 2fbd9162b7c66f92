"""Fencing: a run whose lease was taken over commits nothing more, ends FAILED, and says why.

The run reads its source in pages; between them another process force-unlocks the environment and
takes the lock (the stalled-holder case the lease exists for). The run's next write is refused inside
its transaction, so the store is exactly what it was before the run started. Both backends.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller import commands
from controller.backends import open_backend
from controller.config import ResourceSet, load_environment
from controller.config.models import ConnectorResource, RunState
from controller.platforms import ReconRequest, open_environment
from controller.recon import ReconRun, Source
from tests.recon.conftest import PEOPLE, FakeGraph


class TakenOverMidRead(FakeGraph):
    """A source that, after its first page, lets another controller take the environment lock."""

    def __init__(self, root: Path, users: list[dict[str, Any]]) -> None:
        super().__init__(users, page_size=2)
        self.root = root
        self.thief: Any = None

    def iter_users(self, select: list[str], pushdown: str | None = None) -> Iterator[list[dict[str, Any]]]:
        pages = super().iter_users(select, pushdown)
        yield next(pages)
        other = open_backend(self.root, load_environment(self.root, "prod").resources.environment)
        held = other.current_lock()
        assert held is not None and held.holder.startswith("reconcile")
        other.force_unlock(held.lock_id, force=True)
        self.thief = other.lock("a second controller", timeout=5)
        self.thief.__enter__()
        yield from pages


StoreRows = Any  # () -> (objects, links, entries) exactly as stored


@pytest.fixture(params=["sqlite", "postgres"])
def store_rows(request: pytest.FixtureRequest, state_repo: Path) -> StoreRows:
    """prod's state in SQLite or in PostgreSQL, and a reader of its store's rows."""
    if request.param == "postgres":
        cluster, schema = request.getfixturevalue("pg_cluster"), request.getfixturevalue("pg_schema")
        cluster.use_in(state_repo, "prod", schema)
        return lambda: tuple(cluster.query(f'SELECT * FROM "{schema}".{table} ORDER BY 1, 2')
                             for table in ("alpha_user", "links", "recon_entries"))

    def rows() -> tuple[list[Any], list[Any], list[Any]]:
        conn = sqlite3.connect(state_repo / ".idmctl" / "prod.db")
        try:
            return (conn.execute("SELECT * FROM alpha_user ORDER BY id").fetchall(),
                    conn.execute("SELECT * FROM links ORDER BY 1, 2").fetchall(),
                    conn.execute("SELECT * FROM recon_entries ORDER BY 1, 2").fetchall())
        finally:
            conn.close()

    return rows


def test_a_holder_whose_lease_was_taken_over_cannot_commit_a_batch(state_repo: Path, store_rows: StoreRows) -> None:
    commands.init(state_repo, "prod")
    commands.apply(state_repo, "prod", approve=lambda plan: True)
    stalled = TakenOverMidRead(state_repo, PEOPLE)
    sources: list[Source] = [stalled, FakeGraph(PEOPLE)]

    def factory(connector: ConnectorResource, resources: ResourceSet) -> Source:
        return sources.pop(0)

    def reconcile() -> ReconRun:
        opened = open_environment(state_repo, "prod", connector_factory=factory)
        try:
            return opened.platform.reconcile(ReconRequest("entra-users", lock_timeout=5))
        finally:
            opened.close()

    before = store_rows()
    run = reconcile()
    assert stalled.thief is not None, "the source never handed the lock over"
    try:
        assert run.state is RunState.FAILED and run.exit_code == 1
        assert "was lost before writing" in (run.reason or "") and "nothing was written" in (run.reason or "")
        assert store_rows() == before  # not one object, link or entry of this run
        [stored] = commands.list_runs(state_repo, "prod").items
        assert stored.id == run.id and stored.state is RunState.ACTIVE  # it could not even close its record
    finally:
        stalled.thief.__exit__(None, None, None)

    # The next holder calls the stalled run interrupted and converges.
    rerun = reconcile()
    assert rerun.state is RunState.SUCCESS, rerun.reason
    assert f"run {run.id} had been interrupted; it is now marked FAILED" in rerun.warnings
    assert rerun.actions == {"CREATE": len(PEOPLE)}
    objects, links, _ = store_rows()
    assert len(objects) == len(links) == len(PEOPLE)
