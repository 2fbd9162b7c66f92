"""The ``Store`` contract: every backend's store passes these (parametrised in ``conftest.BACKENDS``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controller.backends import (
    Create,
    Delete,
    EntryRecord,
    Link,
    Retry,
    StateBackend,
    Store,
    Update,
    WriteBatch,
    new_object_id,
)
from controller.config.models import RunMode, RunState
from controller.errors import LockLost, ManagedObjectInvalid, StateError
from tests.backends.contract.conftest import OpenBackend

MAPPING = "entra-users"


def person(user_name: str, given: str = "Sam", sn: str = "Carter", **extra: object) -> dict[str, object]:
    return {"userName": user_name, "givenName": given, "sn": sn, "mail": user_name, **extra}


def test_objects_keep_the_managed_schema(store: Store) -> None:
    sam = store.create(person("scarter@contoso.com"))
    assert store.get(sam.id) == sam and sam.rev == 1
    assert sam.properties["accountStatus"] == "active"  # alpha_user's default
    for bad, message in ((person("a/b@contoso.com"), "contains '/'"), ({"userName": "x"}, "required property")):
        with pytest.raises(ManagedObjectInvalid, match=message):
            store.create(bad)
    with pytest.raises(ManagedObjectInvalid, match="already used by managed/alpha_user/" + sam.id):
        store.create(person("SCarter@Contoso.COM"))  # unique regardless of case
    updated = store.update(sam.id, {**sam.properties, "givenName": "Samantha"})
    assert updated.rev == 2 and store.get(sam.id) == updated
    assert store.count() == 1 and store.existing([sam.id, "nope"]) == {sam.id}
    assert store.usernames_taken(["SCARTER@contoso.com", "other"]) == {"scarter@contoso.com": sam.id}
    assert store.delete(sam.id) == updated and store.delete(sam.id) is None and store.count() == 0


def test_objects_are_listed_by_user_name(store: Store) -> None:
    for name in ("zoe@contoso.com", "adele@contoso.com", "Milan@contoso.com"):
        store.create(person(name))
    assert [o.properties["userName"] for o in store.iter_objects(batch=2)] == [
        "adele@contoso.com", "Milan@contoso.com", "zoe@contoso.com"]
    assert len(list(store.iter_ids())) == 3


def test_correlation_finds_values_regardless_of_case_indexed_or_not(store: Store) -> None:
    a = store.create(person("a@contoso.com", city="Berlin"))
    b = store.create(person("b@contoso.com", city="berlin"))
    assert store.find("city", ["BERLIN"]) == {"BERLIN": sorted([a.id, b.id])}  # a scan: not indexed yet
    assert store.ensure_indexed(["city", "userName"]) == ["city"]  # userName has its own index
    c = store.create(person("c@contoso.com", city="Paris"))
    assert store.find("city", ["paris", "Rome"]) == {"paris": [c.id]}
    assert store.find("userName", ["B@CONTOSO.COM"]) == {"B@CONTOSO.COM": [b.id]}


def _batch(*people: tuple[str, str]) -> tuple[WriteBatch, list[str]]:
    batch, ids = WriteBatch(), []
    for source_id, user_name in people:
        oid = new_object_id()
        ids.append(oid)
        batch.creates.append(Create(oid, person(user_name)))
        batch.links_add.append(Link(source_id, oid))
        batch.entries.append(EntryRecord("source", source_id, oid, "ABSENT", "CREATE", "SUCCESS", None, None))
    return batch, ids


def test_a_batch_is_one_transaction(store: Store) -> None:
    store.start_run("run-1", MAPPING, RunMode.FULL, started="2026-12-01T10:00:00.000Z")
    batch, ids = _batch(("src-1", "a@contoso.com"), ("src-2", "b@contoso.com"))
    batch.retry_add.append(Retry("src-3", "FAILURE"))
    assert store.apply(MAPPING, "run-1", batch, 1) == 3
    assert store.links_for_sources(MAPPING, ["src-1", "src-2", "src-9"]) == {"src-1": ids[0], "src-2": ids[1]}
    assert store.links_for_targets(MAPPING, ids) == {ids[0]: "src-1", ids[1]: "src-2"}
    assert store.link_count(MAPPING) == 2 and store.links_of_object(ids[0]) == [(MAPPING, "src-1")]
    assert [e.seq for e in store.entries("run-1")] == [1, 2]
    assert [(m.source_id, m.reason, m.attempts) for m in store.retry_marks(MAPPING)] == [("src-3", "FAILURE", 1)]

    # A batch that breaks a rule (a second link of one source, as a concurrent writer would leave it)
    # leaves nothing of itself behind, and the error names the object.
    bad, bad_ids = _batch(("src-4", "c@contoso.com"), ("src-1", "d@contoso.com"))
    with pytest.raises(ManagedObjectInvalid, match="source src-1 of mapping 'entra-users' is already linked"):
        store.apply(MAPPING, "run-1", bad, 3)
    assert store.existing(bad_ids) == set() and store.link_count(MAPPING) == 2
    assert len(store.entries("run-1")) == 2
    taken, taken_ids = _batch(("src-5", "A@contoso.com"))  # a userName another writer took meanwhile
    with pytest.raises(ManagedObjectInvalid, match=f"already used by managed/alpha_user/{ids[0]}") as clash:
        store.apply(MAPPING, "run-1", taken, 3)
    assert clash.value.object_id == taken_ids[0] and store.existing(taken_ids) == set()


def test_updates_deletes_and_unlinks_in_a_batch(store: Store) -> None:
    batch, (a, b) = _batch(("src-1", "a@contoso.com"), ("src-2", "b@contoso.com"))
    store.apply(MAPPING, "run-1", batch, 1)
    old_a = store.get(a)
    old_b = store.get(b)
    assert old_a is not None and old_b is not None
    change = WriteBatch(updates=[Update(a, 2, {**old_a.properties, "givenName": "Alex"}, old_a.properties)],
                        deletes=[Delete(b, old_b.properties)], links_remove=["src-2"])
    store.apply(MAPPING, "run-2", change, 1)
    got = store.get(a)
    assert got is not None and got.rev == 2 and got.properties["givenName"] == "Alex"
    assert store.get(b) is None and store.links_for_sources(MAPPING, ["src-2"]) == {}
    assert [rows for rows in store.iter_links(MAPPING, batch=1)] == [[("src-1", a)]]
    assert store.links_of_mapping(MAPPING) == {"src-1": a} and store.links_of_mapping("other") == {}


def test_linked_objects_answer_as_links_and_objects_looked_up_apart(store: Store) -> None:
    batch, (a, b, c) = _batch(("src-1", "a@contoso.com"), ("src-2", "b@contoso.com"), ("src-3", "c@contoso.com"))
    store.apply(MAPPING, "run-1", batch, 1)
    old_b, old_c = store.get(b), store.get(c)
    assert old_b is not None and old_c is not None
    # src-3's object is gone while its link stays (LINK_ONLY); src-9 has no link; "other" no links at all
    store.apply(MAPPING, "run-2", WriteBatch(deletes=[Delete(c, old_c.properties)],
                                             updates=[Update(b, 2, {**old_b.properties, "sn": "Bowen"},
                                                             old_b.properties)]), 1)
    got = store.linked_objects(MAPPING, ["src-1", "src-2", "src-3", "src-9", "src-2"])
    assert set(got) == {"src-1", "src-2", "src-3"}
    for sid, (tid, found) in got.items():
        assert tid == store.links_for_sources(MAPPING, [sid])[sid]
        assert found == store.get_many([tid]).get(tid)
    assert got["src-2"][1] is not None and got["src-2"][1][0] == 2 and got["src-2"][1][1]["sn"] == "Bowen"
    assert got["src-3"] == (c, None)
    assert store.linked_objects("other", ["src-1"]) == {} and store.linked_objects(MAPPING, []) == {}


def test_runs_close_with_their_delta_link_and_are_found_by_prefix(store: Store) -> None:
    store.start_run("0195aa00-run-a", MAPPING, RunMode.FULL, started="2026-12-01T10:00:00.000Z",
                    full_because="first run", holder="reconcile")
    assert store.get_run("0195aa00-run-a").state is RunState.ACTIVE  # type: ignore[union-attr]
    store.finish_run("0195aa00-run-a", state=RunState.SUCCESS, counts={"situations": {"ABSENT": 2}},
                     processed=2, failures=0, ended="2026-12-01T10:00:05.000Z",
                     delta=(MAPPING, "https://graph/delta?token=1", "sha256:x"))
    assert store.delta_state(MAPPING) == ("https://graph/delta?token=1", "sha256:x")
    run = store.get_run("0195aa00-run")
    assert run is not None and run.state is RunState.SUCCESS and run.mode is RunMode.FULL
    assert run.to_dict()["situations"] == {"ABSENT": 2} and run.full_because == "first run"
    store.start_run("0195aa00-run-b", MAPPING, RunMode.INCREMENTAL, started="2026-12-01T11:00:00.000Z")
    with pytest.raises(StateError, match="ambiguous"):
        store.get_run("0195aa00-run")
    assert [r.id for r in store.list_runs(MAPPING)] == ["0195aa00-run-b", "0195aa00-run-a"]
    assert store.fail_interrupted_runs(MAPPING) == ["0195aa00-run-b"]  # left ACTIVE by a dead process
    failed = store.get_run("0195aa00-run-b")
    assert failed is not None and failed.state is RunState.FAILED and "interrupted" in (failed.reason or "")
    assert store.prune_runs(keep=1) == ["0195aa00-run-a"] and len(store.list_runs()) == 1


def test_entries_filter_by_situation_action_and_status(store: Store) -> None:
    batch = WriteBatch(entries=[
        EntryRecord("source", "s1", "t1", "CONFIRMED", "UPDATE", "SUCCESS", None, '{"givenName":["Sam","Samantha"]}'),
        EntryRecord("source", "s2", None, "ABSENT", "CREATE", "FAILURE", "required property 'sn' is missing", None),
        EntryRecord("cleanup", "s3", "t3", None, "UNLINK", "SUCCESS", "link clean-up", None),
    ])
    store.apply(MAPPING, "run-1", batch, 1)
    assert [e.source_id for e in store.entries("run-1", status="failure")] == ["s2"]
    assert [e.seq for e in store.entries("run-1", action="UNLINK")] == [3]
    [update] = store.entries("run-1", situation="CONFIRMED")
    assert update.changes == {"givenName": ["Sam", "Samantha"]} and update.to_dict()["sourceId"] == "s1"
    assert len(store.entries("run-1", limit=2)) == 2


def test_retry_marks_count_attempts_and_runs_since(store: Store) -> None:
    for run_id in ("r1", "r2", "r3"):
        store.start_run(run_id, MAPPING, RunMode.INCREMENTAL, started=f"2026-12-01T10:00:0{run_id[1]}.000Z")
    store.apply(MAPPING, "r1", WriteBatch(retry_add=[Retry("s1", "FAILURE")]), 1)
    store.apply(MAPPING, "r2", WriteBatch(retry_add=[Retry("s1", "FAILURE"), Retry("s2", "ASYNC ABSENT x")]), 1)
    marks = {m.source_id: m for m in store.retry_marks(MAPPING)}
    assert (marks["s1"].attempts, marks["s1"].runs_since) == (2, 1)
    assert (marks["s2"].attempts, marks["s2"].runs_since) == (1, 1)
    store.apply(MAPPING, "r3", WriteBatch(retry_remove=["s2"]), 1)
    assert [m.source_id for m in store.retry_marks(MAPPING)] == ["s1"]
    assert store.prune_retries(MAPPING, keep_run="r3") == 1 and store.retry_marks(MAPPING) == []


def test_renaming_a_mapping_carries_links_and_delta_over(store: Store) -> None:
    batch, (a,) = _batch(("src-1", "a@contoso.com"))
    store.apply("old-name", "r1", batch, 1)
    store.start_run("r1", "old-name", RunMode.FULL, started="2026-12-01T10:00:00.000Z")
    store.finish_run("r1", state=RunState.SUCCESS, counts={}, processed=1, failures=0,
                     ended="2026-12-01T10:00:01.000Z", delta=("old-name", "link", "hash"))
    assert store.rename_mapping("old-name", "new-name") == 1
    assert store.links_for_sources("new-name", ["src-1"]) == {"src-1": a}
    assert store.delta_state("new-name") == ("link", "hash") and store.delta_state("old-name") is None


def test_fenced_writes_refuse_once_the_lease_is_gone(open_state: OpenBackend, backend: StateBackend,
                                                     store: Store) -> None:
    other = open_state()
    with backend.lock("reconcile", timeout=5) as lease, store.fenced(lease):
        store.create(person("before@contoso.com"))  # still ours: written
        other.force_unlock(lease.lock_id, force=True)
        with other.lock("thief", timeout=5):
            batch, ids = _batch(("src-1", "after@contoso.com"))
            with pytest.raises(LockLost, match="nothing was written"):
                store.apply(MAPPING, "run-1", batch, 1)
            with pytest.raises(LockLost):
                store.finish_run("run-1", state=RunState.SUCCESS, counts={}, processed=1, failures=0,
                                 ended="2026-12-01T10:00:01.000Z", delta=(MAPPING, "link", "hash"))
    assert store.existing(ids) == set() and store.delta_state(MAPPING) is None
    assert [o.properties["userName"] for o in store.iter_objects()] == ["before@contoso.com"]
    store.create(person("unfenced@contoso.com"))  # outside the fence: writes again (the lock is free)


T0 = datetime(2026, 3, 2, 8, 15, tzinfo=UTC)


def test_schedule_claims_are_compare_and_set(open_state: OpenBackend, store: Store) -> None:
    replica = open_state().store().schedules
    schedules = store.schedules
    state = schedules.ensure("inc", MAPPING, "0 0/15 * * * ?", "UTC", T0, T0 - timedelta(minutes=5))
    assert state.next_fire == T0 and not state.paused
    nxt = T0 + timedelta(minutes=15)
    assert schedules.claim("inc", MAPPING, T0, nxt, "replica-a", T0, 3600) == "claimed"
    assert replica.claim("inc", MAPPING, T0, nxt, "replica-b", T0, 3600) == "taken"  # the fire is gone
    assert replica.running()[MAPPING].holder == "replica-a"
    schedules.ensure("full", MAPPING, "0 0 * * * ?", "UTC", T0, T0)
    assert replica.claim("full", MAPPING, T0, nxt, "replica-b", T0, 3600) == "busy"  # the mapping is running
    schedules.finish("inc", MAPPING, "replica-a", run_id="r1", state="BLOCKED", message="guard", now=T0,
                     pause_reason="blocked by the safety guard")
    assert replica.running() == {}
    paused = replica.get("inc")
    assert paused is not None and paused.paused and paused.last_run_state == "BLOCKED"
    assert replica.resume_mapping(MAPPING, T0) == ["inc"]
    assert not schedules.all()["inc"].paused
    assert replica.skip("full", T0, nxt, T0) is True and schedules.skip("full", T0, nxt, T0) is False


def test_a_person_pauses_and_resumes_one_schedule(store: Store) -> None:
    schedules = store.schedules
    assert schedules.pause("inc", "freeze", T0) is False  # no row yet: nothing to pause
    schedules.ensure("inc", MAPPING, "0 0/15 * * * ?", "UTC", T0, T0)
    schedules.ensure("full", MAPPING, "0 0 * * * ?", "UTC", T0, T0)
    assert schedules.pause("inc", "change freeze", T0) is True
    paused = schedules.get("inc")
    assert paused is not None and paused.paused and paused.paused_reason == "change freeze"
    assert not schedules.all()["full"].paused  # only the one named
    assert schedules.resume("inc", T0) is True and schedules.resume("inc", T0) is False
    resumed = schedules.get("inc")
    assert resumed is not None and not resumed.paused and resumed.paused_reason is None


def test_prune_can_say_what_it_would_delete(store: Store) -> None:
    for n in range(3):
        store.start_run(f"run-{n}", MAPPING, RunMode.FULL, started=f"2026-12-01T10:00:0{n}.000Z")
        store.finish_run(f"run-{n}", state=RunState.SUCCESS, counts={}, processed=0, failures=0,
                         ended=f"2026-12-01T10:00:0{n}.500Z")
    assert store.prune_runs(keep=1, dry_run=True) == ["run-1", "run-0"]
    assert len(store.list_runs()) == 3  # nothing deleted
    assert store.prune_runs(keep=1) == ["run-1", "run-0"] and [r.id for r in store.list_runs()] == ["run-2"]


def test_a_delta_round_reconciles_through_the_store(store: Store) -> None:
    """The engine on each backend: a full run, then a delta round of changes, a rename, a create and a
    delete, which reads each page's links with their objects (``linked_objects``) and deletes through
    the same lookup."""
    from tests.recon.conftest import PEOPLE, TENANT, FakeGraph, Runner, user

    graph = FakeGraph(PEOPLE, page_size=3)
    recon = Runner(store, graph)  # type: ignore[arg-type]
    recon.spec["policies"]["rules"]["SOURCE_MISSING"] = "DELETE"
    assert recon(batch_size=2).actions == {"CREATE": len(PEOPLE)}
    graph.update(PEOPLE[1]["id"], surname="Vance-Ortiz")
    graph.update(PEOPLE[2]["id"], userPrincipalName=f"awilber.new@{TENANT}")
    graph.add(user("5f1b2c3d-0000-4000-8000-000000000099", "Nestor", "Wilke"))
    graph.delete(PEOPLE[5]["id"])
    run = recon("incremental", batch_size=2)
    assert run.state == "SUCCESS" and run.actions == {"UPDATE": 2, "CREATE": 1, "DELETE": 1}
    objects = {o.properties["userName"]: o for o in store.iter_objects()}
    assert objects["avance@contoso.onmicrosoft.com"].properties["sn"] == "Vance-Ortiz"
    assert objects["avance@contoso.onmicrosoft.com"].rev == 2
    assert "awilber.new@contoso.onmicrosoft.com" in objects and "awilber@contoso.onmicrosoft.com" not in objects
    assert "ilanger@contoso.onmicrosoft.com" not in objects and len(objects) == len(PEOPLE)
    linked = store.linked_objects("entra-users", [p["id"] for p in PEOPLE])
    assert PEOPLE[5]["id"] not in linked and len(linked) == len(PEOPLE) - 1
    assert all(found is not None and found[1] == objects[found[1]["userName"]].properties
               for _, found in linked.values())
