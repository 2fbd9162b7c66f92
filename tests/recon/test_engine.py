"""The engine through every situation and action, with an in-memory source and a real SQLite store."""

from __future__ import annotations

import threading

from controller.backends.sqlite import SqliteStore
from controller.recon import RunRecorder
from tests.recon.conftest import PEOPLE, ROOM, SAM, TENANT, FakeGraph, Runner, snapshot, user


def obj_by_name(store: SqliteStore, name: str):
    for o in store.iter_objects():
        if o.properties["userName"].lower() == name.lower():
            return o
    return None


def rows(store: SqliteStore, table: str) -> list[tuple]:
    return store.conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()


def test_first_full_run_creates_and_links_everyone(recon: Runner, store: SqliteStore) -> None:
    run = recon()
    assert run.state == "SUCCESS" and run.mode == "full"
    assert run.situations == {"ABSENT": len(PEOPLE)} and run.actions == {"CREATE": len(PEOPLE)}
    assert run.processed == len(PEOPLE) and run.failures == 0
    sam = obj_by_name(store, f"scarter@{TENANT}")
    assert sam.rev == 1
    assert sam.properties == {"givenName": "Sam", "mail": "scarter@example.com", "sn": "Carter",
                              "userName": f"scarter@{TENANT}", "accountStatus": "active"}
    assert store.links_for_sources("entra-users", [SAM["id"]]) == {SAM["id"]: sam.id}
    assert store.delta_state("entra-users")[0] == "delta:0"
    entries = store.entries(run.id)
    assert [e.action for e in entries] == ["CREATE"] * len(PEOPLE)
    assert store.get_run(run.id).state == "SUCCESS"


def test_second_full_run_writes_no_object_and_no_link(recon: Runner, store: SqliteStore) -> None:
    recon()
    before = (rows(store, "alpha_user"), rows(store, "links"))
    run = recon()
    assert run.situations == {"CONFIRMED": len(PEOPLE)} and run.actions == {"UPDATE": len(PEOPLE)}
    assert (rows(store, "alpha_user"), rows(store, "links")) == before
    assert store.entries(run.id) == []


def test_incremental_change_updates_only_what_changed(recon: Runner, store: SqliteStore, graph: FakeGraph) -> None:
    recon()
    graph.update(SAM["id"], givenName="Samantha")
    run = recon("incremental")
    assert run.mode == "incremental" and run.full_because is None
    assert run.situations == {"CONFIRMED": 1} and run.actions == {"UPDATE": 1}
    sam = obj_by_name(store, f"scarter@{TENANT}")
    assert sam.rev == 2 and sam.properties["givenName"] == "Samantha"
    [entry] = store.entries(run.id)
    assert entry.changes == {"givenName": ["Sam", "Samantha"]}
    assert store.delta_state("entra-users")[0] == f"delta:{len(graph.log)}"


def test_update_keeps_unmapped_properties(recon: Runner, store: SqliteStore, graph: FakeGraph) -> None:
    recon()
    sam = obj_by_name(store, f"scarter@{TENANT}")
    store.update(sam.id, {**sam.properties, "telephoneNumber": "+1 555 0100"})
    graph.update(SAM["id"], surname="Carter-Jones")
    recon("incremental")
    after = obj_by_name(store, f"scarter@{TENANT}")
    assert after.properties["telephoneNumber"] == "+1 555 0100" and after.properties["sn"] == "Carter-Jones"


def test_found_links_an_existing_object_case_insensitively(recon: Runner, store: SqliteStore) -> None:
    existing = store.create({"userName": f"SCARTER@{TENANT.upper()}", "givenName": "S", "sn": "Carter",
                             "mail": "old@example.com"})
    run = recon()
    assert run.situations["FOUND"] == 1 and run.situations["ABSENT"] == len(PEOPLE) - 1
    assert store.links_for_sources("entra-users", [SAM["id"]]) == {SAM["id"]: existing.id}
    got = store.get(existing.id)
    assert got.rev == 2 and got.properties["mail"] == "scarter@example.com"
    assert store.count() == len(PEOPLE)


def test_found_already_linked_is_an_exception(store: SqliteStore) -> None:
    twin = user("5f1b2c3d-0000-4000-8000-0000000000aa", "Sam", "Carter", mail="scarter@example.com",
                upn=f"sam.carter@{TENANT}")
    graph = FakeGraph([SAM])
    r = Runner(store, graph)
    r.spec["correlation"] = {"any": ["mail"]}
    r()
    graph.add(twin)
    run = r()
    assert run.situations["FOUND_ALREADY_LINKED"] == 1 and run.actions["EXCEPTION"] == 1
    [entry] = store.entries(run.id)
    assert entry.status == "SUCCESS" and "marked as EXCEPTION" in entry.message
    assert run.failures == 0


def test_ambiguous_correlation_records_candidates(store: SqliteStore) -> None:
    a = store.create({"userName": f"scarter@{TENANT}", "givenName": "S", "sn": "C", "mail": "x@example.com"})
    b = store.create({"userName": "other", "givenName": "S", "sn": "C", "mail": "SCARTER@example.com"})
    r = Runner(store, FakeGraph([SAM]))
    r.spec["correlation"] = {"any": ["userName", "mail"]}
    run = r()
    assert run.situations == {"AMBIGUOUS": 1} and run.actions == {"EXCEPTION": 1}
    [entry] = store.entries(run.id)
    assert a.id in entry.message and b.id in entry.message
    assert store.link_count("entra-users") == 0


def test_correlation_all_needs_every_property(store: SqliteStore) -> None:
    store.create({"userName": f"scarter@{TENANT}", "givenName": "S", "sn": "C", "mail": "different@example.com"})
    r = Runner(store, FakeGraph([SAM]))
    r.spec["correlation"] = {"all": ["userName", "mail"]}
    run = r()
    # no hit, so ABSENT -> CREATE, which fails on the unique userName (a FAILURE entry, the run goes on)
    assert run.situations == {"ABSENT": 1} and run.failures == 1
    [entry] = store.entries(run.id, status="FAILURE")
    assert "already used" in entry.message


def test_no_correlation_makes_every_unlinked_source_absent(store: SqliteStore) -> None:
    store.create({"userName": f"scarter@{TENANT}", "givenName": "S", "sn": "C", "mail": "s@example.com"})
    r = Runner(store, FakeGraph([SAM]))
    r.spec["correlation"] = None
    run = r()
    assert run.situations == {"ABSENT": 1} and run.actions == {"CREATE": 1} and run.failures == 1


def test_missing_when_linked_object_was_deleted(recon: Runner, store: SqliteStore) -> None:
    recon()
    store.delete(obj_by_name(store, f"scarter@{TENANT}").id)
    run = recon()
    assert run.situations["MISSING"] == 1 and run.actions["EXCEPTION"] == 1


def test_unqualified_deletes_by_default(recon: Runner, store: SqliteStore, graph: FakeGraph) -> None:
    recon.spec["validSource"] = "accountEnabled eq true"
    recon()
    graph.update(SAM["id"], accountEnabled=False)
    run = recon("incremental")
    assert run.situations == {"UNQUALIFIED": 1} and run.actions == {"DELETE": 1}
    assert obj_by_name(store, f"scarter@{TENANT}") is None
    assert store.links_for_sources("entra-users", [SAM["id"]]) == {}


def test_source_ignored_is_reported(store: SqliteStore) -> None:
    graph = FakeGraph([*PEOPLE, ROOM])
    r = Runner(store, graph)
    r.spec["validSource"] = "accountEnabled eq true"
    run = r()
    assert run.situations["SOURCE_IGNORED"] == 1 and run.actions["REPORT"] == 1
    assert [e.situation for e in store.entries(run.id, action="REPORT")] == ["SOURCE_IGNORED"]


def test_source_missing_in_full_run_kept_by_default_deleted_by_rule(recon: Runner, store: SqliteStore,
                                                                  graph: FakeGraph) -> None:
    recon()
    graph.delete(SAM["id"])
    run = recon()
    assert run.situations["SOURCE_MISSING"] == 1 and run.actions["EXCEPTION"] == 1
    assert obj_by_name(store, f"scarter@{TENANT}") is not None
    recon.spec["policies"]["rules"]["SOURCE_MISSING"] = "DELETE"
    run = recon()
    assert run.actions["DELETE"] == 1 and obj_by_name(store, f"scarter@{TENANT}") is None
    assert store.link_count("entra-users") == len(PEOPLE) - 1


def test_filtered_full_run_proves_absence_by_id(store: SqliteStore) -> None:
    graph = FakeGraph(PEOPLE)
    r = Runner(store, graph)
    r.spec["sourceFilter"] = 'mail eq "scarter@example.com" or surname eq "Vance"'
    run = r()
    assert run.situations == {"ABSENT": 2}
    assert graph.pushdowns[-1] == "mail eq 'scarter@example.com' or surname eq 'Vance'"
    # Sam leaves the filter's scope: untouched, not SOURCE_MISSING, not UNQUALIFIED
    graph.update(SAM["id"], mail="sam@example.com")
    run = r()
    assert run.situations == {"CONFIRMED": 1} and run.out_of_scope == 1 and graph.gets == [SAM["id"]]
    assert obj_by_name(store, f"scarter@{TENANT}").properties["mail"] == "scarter@example.com"
    graph.update(SAM["id"], givenName="Samuel")
    run = r("incremental")
    assert run.situations == {} and run.out_of_scope == 1
    assert obj_by_name(store, f"scarter@{TENANT}").properties["givenName"] == "Sam"
    # deleted: 404 by id proves it
    graph.delete(SAM["id"])
    run = r()
    assert run.situations == {"CONFIRMED": 1, "SOURCE_MISSING": 1}


def test_incremental_removed_soft_and_hard(recon: Runner, store: SqliteStore, graph: FakeGraph) -> None:
    recon()
    graph.delete(PEOPLE[1]["id"], reason="changed")
    graph.delete(PEOPLE[2]["id"], reason="deleted")
    run = recon("incremental")
    assert run.situations == {"SOURCE_MISSING": 2} and run.actions == {"EXCEPTION": 2}
    messages = sorted(e.message for e in store.entries(run.id))
    assert "soft-deleted" in messages[1] and "permanently deleted" in messages[0]


def test_link_only_unlinks_and_all_gone_is_silent(recon: Runner, store: SqliteStore, graph: FakeGraph) -> None:
    recon()
    store.delete(obj_by_name(store, f"scarter@{TENANT}").id)
    graph.delete(SAM["id"])
    stranger = user("5f1b2c3d-0000-4000-8000-0000000000bb", "Tmp", "User")
    graph.add(stranger)
    graph.delete(stranger["id"], reason="deleted")
    recon.graph.expired.clear()
    run = recon("incremental")
    assert run.situations == {"LINK_ONLY": 1, "ALL_GONE": 1}
    assert run.actions == {"UNLINK": 1, "NOREPORT": 1}
    assert store.links_for_sources("entra-users", [SAM["id"]]) == {}
    assert [e.action for e in store.entries(run.id)] == ["UNLINK"]
    assert run.deletes == 0  # LINK_ONLY does not count against the guard


def test_link_only_default_is_exception(recon: Runner, store: SqliteStore, graph: FakeGraph) -> None:
    recon.spec["policies"] = {"base": "default"}
    recon()
    store.delete(obj_by_name(store, f"scarter@{TENANT}").id)
    graph.delete(SAM["id"])
    run = recon("incremental")
    assert run.actions == {"EXCEPTION": 1} and store.link_count("entra-users") == len(PEOPLE)


def test_unassigned_with_target_scope_all(recon: Runner, store: SqliteStore) -> None:
    recon.spec["targetScope"] = "all"
    store.create({"userName": "admin", "givenName": "Ad", "sn": "Min", "mail": "admin@example.com"})
    run = recon()
    assert run.situations["UNASSIGNED"] == 1 and run.actions["EXCEPTION"] == len(["admin"])
    recon.spec["targetScope"] = "linked"
    run = recon()
    assert "UNASSIGNED" not in run.situations


def test_link_action_links_without_updating(store: SqliteStore) -> None:
    existing = store.create({"userName": f"scarter@{TENANT}", "givenName": "S", "sn": "C", "mail": "s@x.com"})
    r = Runner(store, FakeGraph([SAM]))
    r.spec["policies"]["rules"]["FOUND"] = "LINK"
    run = r()
    assert run.actions == {"LINK": 1}
    assert store.get(existing.id).rev == 1
    assert store.links_for_sources("entra-users", [SAM["id"]]) == {SAM["id"]: existing.id}


def test_unlink_rule_keeps_the_object(recon: Runner, store: SqliteStore, graph: FakeGraph) -> None:
    recon()
    recon.spec["policies"]["rules"]["SOURCE_MISSING"] = "UNLINK"
    graph.delete(SAM["id"])
    run = recon()
    assert run.actions["UNLINK"] == 1
    assert obj_by_name(store, f"scarter@{TENANT}") is not None
    assert store.links_for_sources("entra-users", [SAM["id"]]) == {}


def test_ignore_and_async_change_nothing(recon: Runner, store: SqliteStore, graph: FakeGraph) -> None:
    recon.spec["policies"] = {"base": "read-only"}
    run = recon()
    assert run.actions == {"ASYNC": len(PEOPLE)} and store.count() == 0
    assert len(store.retry_queue("entra-users")) == len(PEOPLE)
    recon.spec["policies"] = {"base": "default", "rules": {"ABSENT": "IGNORE"}}
    run = recon()
    assert run.actions == {"IGNORE": len(PEOPLE)} and store.count() == 0
    assert store.retry_queue("entra-users") == []


def test_create_fails_when_a_target_is_bound(recon: Runner, store: SqliteStore) -> None:
    recon()
    recon.spec["policies"]["rules"]["CONFIRMED"] = "CREATE"
    run = recon()
    assert run.failures == len(PEOPLE)
    assert "already exists" in store.entries(run.id)[0].message


def test_required_fields_fail_the_entry_not_the_run(store: SqliteStore, graph: FakeGraph) -> None:
    graph.add(ROOM)
    r = Runner(store, graph)
    run = r()
    assert run.state == "SUCCESS" and run.failures == 1 and run.exit_code == 4
    [entry] = store.entries(run.id, status="FAILURE")
    assert entry.source_id == ROOM["id"] and "givenName" in entry.message
    assert store.count() == len(PEOPLE)
    assert [s for s, _, _ in store.retry_queue("entra-users")] == [ROOM["id"]]


def test_failed_entries_read_back_out_of_scope_or_gone_are_told_apart(store: SqliteStore, graph: FakeGraph) -> None:
    """The retries of an incremental run are read by id in one batch: one now out of the filter's scope
    is left alone (counted out of scope, its mark cleared), one gone is ALL_GONE, one fixed is made."""
    rooms = [dict(ROOM, id=f"7a3c2e10-0000-4000-8000-00000000000{n}", userPrincipalName=f"room{n}@{TENANT}",
                  mail=f"room{n}@example.com") for n in range(3)]
    for room in rooms:
        graph.add(room)
    r = Runner(store, graph)
    r.spec["sourceFilter"] = 'not (mail eq "left@example.com")'
    r()
    assert sorted(s for s, _, _ in store.retry_queue("entra-users")) == sorted(u["id"] for u in rooms)
    graph.users[rooms[0]["id"]].update(mail="left@example.com")  # leaves the scope, unseen by delta
    del graph.users[rooms[1]["id"]]  # deleted, unseen by delta
    graph.users[rooms[2]["id"]].update(givenName="Rainier", surname="Room")  # fixed, unseen by delta
    graph.batches.clear()
    run = r("incremental", batch_size=50)
    assert [sorted(b) for b in graph.batches] == [sorted(u["id"] for u in rooms)]
    assert run.out_of_scope == 1 and run.situations == {"ABSENT": 1, "ALL_GONE": 1}  # gone, never linked
    assert run.actions == {"CREATE": 1, "NOREPORT": 1}
    assert store.retry_queue("entra-users") == []  # none left: each was settled
    assert obj_by_name(store, f"room2@{TENANT}").properties["sn"] == "Room"


def test_an_orphaned_link_whose_source_left_the_scope_is_kept(store: SqliteStore) -> None:
    """A link whose identity was deleted by hand is cleaned up only when its source is gone: read back by
    id, a source that exists (here out of the filter's scope) keeps it."""
    graph = FakeGraph(PEOPLE)
    r = Runner(store, graph)
    r.spec["correlation"] = None
    r.spec["sourceFilter"] = 'mail eq "scarter@example.com" or surname eq "Vance"'  # pushed down to Graph
    r()
    sam_target = store.links_for_sources("entra-users", [SAM["id"]])[SAM["id"]]
    store.delete(sam_target)
    graph.update(SAM["id"], mail="sam@example.com")  # out of scope now (not listed), and still in Entra ID
    graph.gets.clear()
    run = r()
    assert run.state == "SUCCESS" and run.links_cleaned == 0 and graph.gets == [SAM["id"]]
    assert store.links_for_sources("entra-users", [SAM["id"]]) == {SAM["id"]: sam_target}
    del graph.users[SAM["id"]]
    run = r()
    assert run.links_cleaned == 1 and store.links_for_sources("entra-users", [SAM["id"]]) == {}


def test_failed_entries_are_retried_by_id(store: SqliteStore, graph: FakeGraph) -> None:
    graph.add(ROOM)
    r = Runner(store, graph)
    r()
    # fixed in Entra ID without the delta round showing it (e.g. a change made before the stored link)
    graph.users[ROOM["id"]].update(givenName="Rainier", surname="Room")
    run = r("incremental")
    assert run.situations == {"ABSENT": 1} and run.actions == {"CREATE": 1} and run.failures == 0
    assert graph.gets == [ROOM["id"]]
    assert store.retry_queue("entra-users") == []
    assert obj_by_name(store, f"Rainier@{TENANT}").properties["sn"] == "Room"


def test_duplicate_username_in_one_run_fails_the_second(store: SqliteStore) -> None:
    twin = user("5f1b2c3d-0000-4000-8000-0000000000cc", "Sam", "Carter", upn=f"SCARTER@{TENANT}")
    r = Runner(store, FakeGraph([SAM, twin]))
    r.spec["correlation"] = None
    run = r(batch_size=1)
    assert run.actions == {"CREATE": 2} and run.failures == 1 and store.count() == 1


def test_transforms_and_defaults(store: SqliteStore) -> None:
    r = Runner(store, FakeGraph([{**SAM, "displayName": "  Sam Carter  "},
                                 {**PEOPLE[1], "accountEnabled": False, "displayName": None}]))
    r.spec["properties"] = [
        *r.spec["properties"][:3],
        {"source": "userPrincipalName", "target": "userName", "transform": ["trim", "lower"]},
        {"source": "accountEnabled", "target": "accountStatus",
         "transform": {"map": {"true": "active", "false": "inactive"}}},
        {"source": "displayName", "target": "cn", "default": "(no name)", "transform": ["trim", "upper"]},
    ]
    r()
    sam = obj_by_name(store, f"scarter@{TENANT}")
    assert sam.properties["accountStatus"] == "active" and sam.properties["cn"] == "SAM CARTER"
    adele = obj_by_name(store, PEOPLE[1]["userPrincipalName"])
    assert adele.properties["accountStatus"] == "inactive" and adele.properties["cn"] == "(no name)"


def test_guard_max_deletes_blocks_before_any_destructive_write(recon: Runner, store: SqliteStore,
                                                               graph: FakeGraph) -> None:
    recon.spec["policies"]["rules"]["SOURCE_MISSING"] = "DELETE"
    recon.spec["safety"] = {"maxDeletes": 1, "maxDeletePercent": 100, "allowEmptySource": False}
    recon()
    link_before = store.delta_state("entra-users")
    graph.delete(PEOPLE[1]["id"])
    graph.delete(PEOPLE[2]["id"])
    before = rows(store, "alpha_user"), rows(store, "links")
    run = recon("incremental")
    assert run.state == "BLOCKED" and run.exit_code == 3 and run.deletes == 2
    assert "maxDeletes" in run.reason and "--allow-deletes 2" in run.reason
    assert (rows(store, "alpha_user"), rows(store, "links")) == before
    assert store.delta_state("entra-users") == link_before
    run = recon("incremental", allow_deletes=1)
    assert run.state == "BLOCKED"
    audited: list[tuple[str, int, int]] = []
    recorder = RunRecorder(store, holder="alice", audit_override=lambda r, n: audited.append((r.id, n, r.deletes)))
    run = recon("incremental", allow_deletes=2, holder="alice", recorder=recorder)
    assert run.state == "SUCCESS" and store.count() == len(PEOPLE) - 2
    assert audited == [(run.id, 2, 2)]  # recorded once, by the run's recorder


def test_guard_percent_applies_from_ten_affected(store: SqliteStore) -> None:
    people = [user(f"5f1b2c3d-0000-4000-8000-{i:012d}", f"P{i}", f"Person{i}") for i in range(100, 130)]
    graph = FakeGraph(people, page_size=7)
    r = Runner(store, graph)
    r.spec["policies"]["rules"]["SOURCE_MISSING"] = "DELETE"
    r.spec["safety"] = {"maxDeletes": 1000, "maxDeletePercent": 10, "allowEmptySource": False}
    r()
    for p in people[:9]:  # 9 of 30 = 30%, but under 10 affected: allowed
        graph.delete(p["id"])
    assert r().state == "SUCCESS"
    for p in people[9:19]:  # 10 of 21
        graph.delete(p["id"])
    run = r()
    assert run.state == "BLOCKED" and "maxDeletePercent" in run.reason and run.linked == 21


def test_guard_empty_source(recon: Runner, store: SqliteStore, graph: FakeGraph) -> None:
    recon()
    for p in PEOPLE:
        graph.delete(p["id"])
    run = recon()
    assert run.state == "BLOCKED" and "no objects in scope" in run.reason
    assert store.link_count("entra-users") == len(PEOPLE)
    recon.spec["safety"] = {"maxDeletes": 500, "maxDeletePercent": 5, "allowEmptySource": True}
    run = recon()
    assert run.state == "SUCCESS" and run.situations == {"SOURCE_MISSING": len(PEOPLE)}


def test_dry_run_writes_nothing_and_shows_the_plan(recon: Runner, store: SqliteStore, graph: FakeGraph,
                                                  tmp_path) -> None:
    recon()
    graph.update(SAM["id"], givenName="Samantha")
    graph.add(user("5f1b2c3d-0000-4000-8000-0000000000dd", "Megan", "Bowen"))
    recon.spec["policies"]["rules"]["SOURCE_MISSING"] = "DELETE"
    graph.delete(PEOPLE[3]["id"])
    path = tmp_path / "state.db"
    before = path.read_bytes()
    tables = {t: rows(store, t) for t in ("alpha_user", "links", "recon_runs", "recon_entries", "sync_tokens")}
    run = recon(dry_run=True)
    assert path.read_bytes() == before
    assert {t: rows(store, t) for t in tables} == tables
    texts = [p.text() for p in run.plan]
    assert "+ create mbowen@contoso.onmicrosoft.com [ABSENT]" in texts
    assert any(t.startswith("~ update scarter@") and "givenName: Sam -> Samantha" in t for t in texts)
    assert any(t.startswith("- delete dsiciliani@") for t in texts)
    assert run.to_dict()["plan"][0]["op"] in "+~-"


def test_mapping_change_reset_and_expiry_force_a_full_run(recon: Runner, store: SqliteStore,
                                                          graph: FakeGraph) -> None:
    assert recon("incremental").full_because.startswith("no delta link")
    run = recon("incremental", reset_delta=True)
    assert run.mode == "full" and run.full_because == "--reset-delta was given"
    recon.spec["properties"].append({"source": "displayName", "target": "cn"})
    run = recon("incremental")
    assert run.mode == "full" and "selected attributes or source filter changed" in run.full_because
    assert store.get_run(run.id).full_because == run.full_because
    graph.expired.add(store.delta_state("entra-users")[0])
    run = recon("incremental")
    assert run.mode == "full" and "expired" in run.full_because and run.state == "SUCCESS"
    graph.expired.clear()  # the fake hands out the same link text again
    assert recon("incremental").mode == "incremental"


def test_a_read_that_does_not_complete_fails_the_run(recon: Runner, store: SqliteStore,
                                                     graph: FakeGraph) -> None:
    recon.spec["policies"]["rules"]["SOURCE_MISSING"] = "DELETE"
    recon()
    link = store.delta_state("entra-users")
    graph.fail_after = 1
    run = recon()
    assert run.state == "FAILED" and "503" in run.reason and run.exit_code == 1
    assert store.count() == len(PEOPLE) and store.delta_state("entra-users") == link


def test_cancel_between_batches(recon: Runner, store: SqliteStore) -> None:
    stop = threading.Event()
    calls = []

    def progress(phase: str, done: int, total: int | None) -> None:
        calls.append(done)
        stop.set()

    run = recon(cancel=stop, progress=progress)
    assert run.state == "CANCELED" and store.delta_state("entra-users") is None
    assert store.get_run(run.id).state == "CANCELED"
    assert store.count() == 3  # the first page was committed whole; nothing half-written
    assert store.link_count("entra-users") == 3
    assert recon().state == "SUCCESS" and store.count() == len(PEOPLE)


def test_interrupted_run_is_closed_and_rerun_converges(tmp_path, graph: FakeGraph) -> None:
    from tests.recon.conftest import open_store
    clean = open_store(tmp_path / "clean.db")
    Runner(clean, FakeGraph(PEOPLE))()
    crashed = open_store(tmp_path / "crashed.db")
    r = Runner(crashed, graph)
    graph.fail_after = 1
    r()
    crashed.conn.execute("UPDATE recon_runs SET state = 'ACTIVE'")  # as if killed mid-run
    graph.fail_after = None
    run = r()
    assert any("interrupted" in w for w in run.warnings)
    assert snapshot(crashed) == snapshot(clean)
