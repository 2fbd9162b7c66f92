"""The writer thread: a run commits batch N in the background while it assesses batch N+1.

Batches commit one at a time and in order; the batch in flight is seen by every later decision as if it
were written; a batch that fails (the lock lost) fails the run and nothing after it is written. The
writer is slowed down here so that a batch is surely still in flight while the next one is decided
(no time is asserted).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from controller.backends import LockLease
from controller.backends.sqlite import SqliteStore
from controller.config.models import MappingSpec
from controller.errors import LockLost
from controller.recon import compile_mapping, reconcile
from tests.recon.conftest import DEMO_SPEC, PEOPLE, TENANT, FakeGraph, Runner, open_store, snapshot, user


def slow_writer(store: SqliteStore, log: list[tuple[str, int, int]], pause: float = 0.02) -> None:
    """Make ``store``'s background writer record (thread, creates, first seq) and pause before each batch."""
    opener = store.background_writer

    def writer() -> SqliteStore | None:
        background = opener()
        assert background is not None, "the run's store is a WAL file: it has a background writer"
        real = background.apply

        def apply(mapping: str, run_id: str, batch: Any, seq: int) -> int:
            log.append((threading.current_thread().name, len(batch.creates), seq))
            time.sleep(pause)  # the engine goes on deciding the next batch meanwhile
            return real(mapping, run_id, batch, seq)

        background.apply = apply  # type: ignore[method-assign]  # a spy around the real write
        return background

    store.background_writer = writer  # type: ignore[method-assign]  # a spy that still opens the writer


def twins() -> list[dict[str, Any]]:
    """Sources whose userNames collide with the one just before (any case): decided in the next batch,
    they must see the object that batch creates while it is still being committed."""
    sam_twin = user("5f1b2c3d-0000-4000-8000-000000000101", "Sam", "Twin", upn=f"SCARTER@{TENANT}")
    adele_twin = user("5f1b2c3d-0000-4000-8000-000000000102", "Adele", "Twin", upn=f"avance@{TENANT}")
    return [PEOPLE[0], sam_twin, PEOPLE[1], adele_twin, *PEOPLE[2:]]


def renamed() -> list[dict[str, Any]]:
    """The next round: Adele gives up her userName and a newcomer, right after her, takes it."""
    adele = {**PEOPLE[1], "userPrincipalName": f"adele.vance@{TENANT}"}
    newcomer = user("5f1b2c3d-0000-4000-8000-000000000104", "Ada", "Newcomer", upn=f"AVance@{TENANT}")
    return [PEOPLE[0], adele, newcomer, *PEOPLE[2:]]


def outcome(store: SqliteStore, run: Any) -> tuple[Any, ...]:
    entries = [(e.situation, e.action, e.status, e.source_id, e.message) for e in store.entries(run.id)]
    return run.state, dict(run.situations), dict(run.actions), entries, snapshot(store)


def test_batches_commit_in_order_on_the_writer_and_in_flight_ones_are_seen(tmp_path: Path) -> None:
    one = open_store(tmp_path / "one.db")  # every batch committed in the background, one source each
    log: list[tuple[str, int, int]] = []
    slow_writer(one, log)
    whole = open_store(tmp_path / "whole.db")  # one batch: nothing in flight, the reference
    run = Runner(one, FakeGraph(twins(), page_size=1))(batch_size=1)
    ref = Runner(whole, FakeGraph(twins(), page_size=1))(batch_size=1000)
    assert outcome(one, run) == outcome(whole, ref)
    assert run.situations == {"ABSENT": 7, "FOUND_ALREADY_LINKED": 2}  # the twins saw the batch in flight
    assert {name for name, _, _ in log} == {"idmctl-writer"}
    # one batch after the other, entries numbered on without a gap
    seqs = [seq for _, _, seq in log]
    assert seqs == sorted(seqs) and seqs[0] == 1 and [e.seq for e in one.entries(run.id)] == list(
        range(1, run.entries + 1))
    assert not any(t.name == "idmctl-writer" for t in threading.enumerate())
    # The next round, a userName given up in one batch and taken in the next: the same as in one batch.
    again = Runner(one, FakeGraph(renamed(), page_size=1))(batch_size=1)
    ref_again = Runner(whole, FakeGraph(renamed(), page_size=1))(batch_size=1000)
    assert outcome(one, again) == outcome(whole, ref_again)
    assert again.actions["CREATE"] == 1 and again.failures == 0
    one.conn.close()
    whole.conn.close()


def test_a_batch_that_fails_in_the_background_fails_the_run_and_nothing_after_it_is_written(
        tmp_path: Path) -> None:
    calls: list[str] = []

    def fence(conn: Any, lease: LockLease) -> None:
        name = threading.current_thread().name
        calls.append(name)
        if name == "idmctl-writer" and calls.count(name) >= 2:  # the lock is lost before the second batch
            raise LockLost("the environment lock was taken over; nothing was written", lock_id="lock-1",
                           holder="thief")

    base = open_store(tmp_path / "state.db")
    store = SqliteStore(base.conn, base.schedules, fence)
    slow_writer(store, [])
    mapping = compile_mapping("entra-users", MappingSpec.model_validate(DEMO_SPEC))
    lease = LockLease("lock-1", "test", 1, "host", time.time(), time.time() + 60)
    with store.fenced(lease):
        run = reconcile(store, FakeGraph(PEOPLE, page_size=2), mapping, batch_size=2)
    assert run.state == "FAILED" and "lock was taken over" in (run.reason or "")
    # the first batch (2 sources) is written; the second failed whole; no third was attempted
    assert store.count() == store.link_count("entra-users") == 2
    assert calls.count("idmctl-writer") == 2
    assert not any(t.name == "idmctl-writer" for t in threading.enumerate())
    base.conn.close()
