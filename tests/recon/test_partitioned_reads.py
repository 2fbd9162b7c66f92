"""A partitioned full read (readConcurrency > 1) is not a snapshot: absence is proven only by id.

The fake source below lists like a partitioned read: every partition completed, but a user whose UPN
moved between partitions during the read may be missing from the listing, and a user deleted during
the read is listed or not depending on when its partition was read.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from controller.backends.sqlite import SqliteStore
from controller.errors import GraphError
from controller.recon import _engine
from tests.recon.conftest import PEOPLE, FakeGraph, Runner, snapshot


class PartitionedGraph(FakeGraph):
    """Lists every user but ``hidden`` (moved between partitions during the read); ``during_read`` runs
    after the first page is handed on (a change made while the other partitions are being read)."""

    partitioned = True

    def __init__(self, users: list[dict[str, Any]]) -> None:
        super().__init__(users, page_size=2)
        self.hidden: set[str] = set()
        self.during_read: list[Any] = []

    def iter_users(self, select: list[str], pushdown: str | None = None) -> Iterator[list[dict[str, Any]]]:
        ids = [uid for uid in self.users if uid not in self.hidden]
        for n, start in enumerate(range(0, len(ids), self.page_size)):
            # a page lists the users that exist when it is read
            yield [self._project(self.users[uid], select) for uid in ids[start:start + self.page_size]
                   if uid in self.users]
            if n == 0:
                for change in self.during_read:
                    change()


def _runner(store: SqliteStore) -> tuple[Runner, PartitionedGraph]:
    graph = PartitionedGraph(PEOPLE)
    return Runner(store, graph), graph


def test_a_linked_user_the_partitions_missed_is_read_by_id_not_deleted(store: SqliteStore) -> None:
    recon, graph = _runner(store)
    assert recon().state == "SUCCESS"
    moved = PEOPLE[3]["id"]
    graph.hidden.add(moved)
    graph.gets.clear()
    run = recon()
    assert run.state == "SUCCESS"
    assert graph.gets == [moved]
    assert "SOURCE_MISSING" not in run.situations and run.deletes == 0
    assert run.situations["CONFIRMED"] == len(PEOPLE)
    assert store.links_for_sources("entra-users", [moved])


def test_a_user_deleted_before_its_partition_is_read_is_missing_once_read_by_id(store: SqliteStore) -> None:
    recon, graph = _runner(store)
    recon.spec["policies"]["rules"]["SOURCE_MISSING"] = "DELETE"
    recon.spec["safety"] = {"maxDeletes": 10, "maxDeletePercent": 100, "allowEmptySource": False}
    assert recon().state == "SUCCESS"
    gone = PEOPLE[-1]["id"]  # on the last page: deleted while the first partitions are read
    graph.during_read.append(lambda: graph.delete(gone))
    graph.gets.clear()
    run = recon()
    assert run.state == "SUCCESS", run.reason
    assert graph.gets == [gone]  # proven absent by id (404), not from the listing
    assert run.situations["SOURCE_MISSING"] == 1 and run.actions["DELETE"] == 1
    assert not store.links_for_sources("entra-users", [gone])


def test_a_user_deleted_after_its_partition_was_read_goes_with_the_next_delta(store: SqliteStore) -> None:
    recon, graph = _runner(store)
    recon.spec["policies"]["rules"]["SOURCE_MISSING"] = "DELETE"
    recon.spec["safety"] = {"maxDeletes": 10, "maxDeletePercent": 100, "allowEmptySource": False}
    early = PEOPLE[0]["id"]  # on the first page, already handed on when it is deleted
    graph.during_read.append(lambda: graph.delete(early))
    first = recon()
    assert first.state == "SUCCESS" and first.actions == {"CREATE": len(PEOPLE)}
    # The delta link was taken before the read, so the next incremental sees the deletion.
    run = recon("incremental")
    assert run.mode == "incremental"
    assert run.situations == {"SOURCE_MISSING": 1} and run.actions == {"DELETE": 1}
    assert not store.links_for_sources("entra-users", [early])


def test_a_partitioned_read_converges_to_the_sequential_one(store: SqliteStore, tmp_path: Any) -> None:
    from tests.recon.conftest import open_store

    recon, graph = _runner(store)
    assert recon().state == "SUCCESS"
    other = open_store(tmp_path / "sequential.db")
    assert Runner(other, FakeGraph(PEOPLE)).__call__().state == "SUCCESS"
    assert snapshot(store) == snapshot(other)


def _hide_and_delete(store: SqliteStore) -> tuple[Runner, PartitionedGraph, list[str], list[str]]:
    """A linked store whose next partitioned read misses five sources: three moved between partitions
    during the read, two deleted (SOURCE_MISSING deletes, the guard open for them)."""
    recon, graph = _runner(store)
    recon.spec["policies"]["rules"]["SOURCE_MISSING"] = "DELETE"
    recon.spec["safety"] = {"maxDeletes": 10, "maxDeletePercent": 100, "allowEmptySource": False}
    assert recon().state == "SUCCESS"
    moved, gone = [p["id"] for p in PEOPLE[:3]], [p["id"] for p in PEOPLE[3:5]]
    graph.hidden.update(moved + gone)
    for uid in gone:
        graph.delete(uid)
    graph.batches.clear()
    return recon, graph, moved, gone


def test_unseen_linked_sources_are_confirmed_a_batch_at_a_time(store: SqliteStore) -> None:
    """One read by id per target-phase batch (the connector sends it as JSON batches of 20), not one per
    source: what the partitions missed and what was deleted meanwhile are told apart in the same read."""
    recon, graph, moved, gone = _hide_and_delete(store)
    run = recon(batch_size=50)
    assert run.state == "SUCCESS", run.reason
    assert [sorted(b) for b in graph.batches] == [sorted(moved + gone)]
    assert run.actions["DELETE"] == len(gone) and run.situations["CONFIRMED"] == len(PEOPLE) - len(gone)
    assert not store.links_for_sources("entra-users", gone)
    assert set(store.links_for_sources("entra-users", moved)) == set(moved)


def test_a_long_confirmation_is_read_in_chunks_and_can_be_canceled_between_them(
        store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cancel (Ctrl-C, SIGTERM) during the reads by id stops the run before the next chunk of them:
    nothing is decided from a confirmation that did not finish, and the next run converges."""
    monkeypatch.setattr(_engine, "PROBE_CHUNK", 2)  # five reads by id: chunks of 2, 2 and 1
    recon, graph, moved, gone = _hide_and_delete(store)
    stop = threading.Event()
    read_by_id = graph.get_users

    def get_users_then_cancel(uids: Any, select: list[str]) -> dict[str, dict[str, Any]]:
        found = read_by_id(uids, select)
        stop.set()  # the cancel arrives while the first chunk is being read
        return found

    before = snapshot(store)
    with monkeypatch.context() as patch:
        patch.setattr(graph, "get_users", get_users_then_cancel)
        run = recon(batch_size=50, cancel=stop)
    assert run.state == "CANCELED"
    assert [len(b) for b in graph.batches] == [2]  # the chunk in flight finished; no other was sent
    assert run.deletes == 0 and snapshot(store) == before

    graph.batches.clear()
    run = recon(batch_size=50)
    assert run.state == "SUCCESS", run.reason
    assert [len(b) for b in graph.batches] == [2, 2, 1]  # PROBE_CHUNK at a time
    assert sorted(uid for b in graph.batches for uid in b) == sorted(moved + gone)
    assert run.actions["DELETE"] == len(gone)
    assert set(store.links_for_sources("entra-users", moved)) == set(moved)


def test_a_confirmation_that_fails_part_way_deletes_nothing(store: SqliteStore,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The second chunk of reads by id fails (Graph answered 503 past its retries): the run fails, and
    the sources the first chunk proved gone are not deleted either, nor the unread ones."""
    monkeypatch.setattr(_engine, "PROBE_CHUNK", 2)
    recon, graph, _moved, _gone = _hide_and_delete(store)
    read_by_id = graph.get_users

    def fail_second_chunk(uids: Any, select: list[str]) -> dict[str, dict[str, Any]]:
        if graph.batches:
            graph.batches.append(list(uids))
            raise GraphError("Graph answered 503 Service Unavailable after retries", status=503)
        return read_by_id(uids, select)

    before = snapshot(store)
    with monkeypatch.context() as patch:
        patch.setattr(graph, "get_users", fail_second_chunk)
        run = recon(batch_size=50)
    assert run.state == "FAILED" and "503" in (run.reason or "")
    assert [len(b) for b in graph.batches] == [2, 2]
    assert run.deletes == 0 and snapshot(store) == before
    assert recon(batch_size=50).state == "SUCCESS"
