"""How a run batches its work: pages gathered into transactions, correlation indexes, the target phase."""

from __future__ import annotations

import threading
from typing import Any

from controller.backends.sqlite import SqliteStore
from tests.recon.conftest import PEOPLE, SAM, TENANT, FakeGraph, Runner


def count_calls(store: SqliteStore, name: str) -> list[Any]:
    """Record the calls of one store method (the method still runs)."""
    calls: list[Any] = []
    real = getattr(store, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    setattr(store, name, wrapper)
    return calls


def test_pages_are_gathered_into_batches_of_whole_pages(store: SqliteStore) -> None:
    graph = FakeGraph(PEOPLE, page_size=3)  # pages of 3, 3 and 1
    applied = count_calls(store, "apply")
    run = Runner(store, graph)(batch_size=5)
    assert run.state == "SUCCESS" and run.actions == {"CREATE": len(PEOPLE)}
    # One transaction once 5 or more are assessed (after the second page), one for the rest.
    assert [len(batch.creates) for _, _, batch, _ in applied] == [6, 1]
    assert store.count() == store.link_count("entra-users") == len(PEOPLE)
    assert not any(t.name == "idmctl-read-ahead" for t in threading.enumerate())


def test_the_target_phase_reads_links_only_when_the_mapping_had_some(store: SqliteStore) -> None:
    graph = FakeGraph(PEOPLE)
    reads = count_calls(store, "iter_links")
    loads = count_calls(store, "links_of_mapping")
    recon = Runner(store, graph)
    recon.spec["policies"]["rules"]["SOURCE_MISSING"] = "DELETE"
    assert recon().actions == {"CREATE": len(PEOPLE)}
    assert reads == loads == []  # no links at the start: every link is this run's, and handled
    graph.delete(PEOPLE[2]["id"])
    run = recon(batch_size=2)
    # Read twice: all of them into memory before the source phase (LINKS_IN_MEMORY), and back by the
    # target phase, as the source phase did not reach one of them.
    assert loads == [("entra-users",)] and reads == [("entra-users",)]
    assert run.situations == {"CONFIRMED": len(PEOPLE) - 1, "SOURCE_MISSING": 1}
    reads.clear()
    loads.clear()
    again = recon(batch_size=2)
    assert loads == [("entra-users",)] and reads == []  # into memory only: the source phase reached every link
    assert again.situations == {"CONFIRMED": len(PEOPLE) - 1}
    assert run.actions == {"UPDATE": len(PEOPLE) - 1, "DELETE": 1}
    assert store.count() == store.link_count("entra-users") == len(PEOPLE) - 1


def test_a_run_indexes_its_correlation_properties_and_a_dry_run_writes_nothing(store: SqliteStore) -> None:
    existing = store.create({"userName": "sam.carter.old", "givenName": "Sam", "sn": "Carter",
                             "mail": "SCarter@example.com"})
    recon = Runner(store, FakeGraph([SAM]))
    recon.spec["correlation"] = {"any": ["mail"]}
    dry = recon(dry_run=True)
    assert dry.situations == {"FOUND": 1}  # found by a scan: the dry run adds no index
    assert store.conn.execute("SELECT count(*) FROM managed_indexed").fetchone() == (0,)
    assert store.conn.execute("SELECT count(*) FROM managed_index").fetchone() == (0,)
    run = recon()
    assert run.situations == {"FOUND": 1} and run.actions == {"UPDATE": 1}
    assert store.indexed_props() == {"mail"}
    assert store.conn.execute("SELECT prop, value_lower, object_id FROM managed_index").fetchall() == [
        ("mail", "scarter@example.com", existing.id)]
    assert store.links_for_sources("entra-users", [SAM["id"]]) == {SAM["id"]: existing.id}
    assert store.get(existing.id).properties["userName"] == f"scarter@{TENANT}"
