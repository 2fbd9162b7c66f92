"""Engine behaviour a review found wrong: dry runs of blocked runs, retry back-off, delta replays, scope
counts, null transforms, ambiguous candidates, store uniqueness errors and clean-up counts."""

from __future__ import annotations

import pytest

from controller.backends.sqlite import SqliteStore
from controller.errors import ManagedObjectInvalid
from tests.recon.conftest import PEOPLE, ROOM, SAM, TENANT, FakeGraph, Page, Runner, user


def obj_by_name(store: SqliteStore, name: str):
    for o in store.iter_objects():
        if o.properties["userName"].lower() == name.lower():
            return o
    return None


def test_map_default_applies_to_a_null_source_value(store: SqliteStore) -> None:
    # A guest invited but not yet redeemed: Graph returns accountEnabled and department as null.
    guest = user("5f1b2c3d-0000-4000-8000-0000000000e1", "Lee", "Gu", accountEnabled=None, department=None)
    r = Runner(store, FakeGraph([SAM, guest]))
    r.spec["properties"] = [
        *r.spec["properties"],
        {"source": "accountEnabled", "target": "accountStatus",
         "transform": {"map": {"true": "active", "false": "inactive"}, "default": "inactive"}},
        {"source": "department", "target": "description", "transform": ["trim", "upper"], "default": "(none)"},
    ]
    run = r()
    assert run.actions == {"CREATE": 2} and run.failures == 0
    lee = obj_by_name(store, f"lgu@{TENANT}")
    assert lee.properties["accountStatus"] == "inactive"  # the map's default, not the schema's "active"
    assert lee.properties["description"] == "(none)"  # lower/upper/trim pass null on; the property default applies
    assert obj_by_name(store, f"scarter@{TENANT}").properties["accountStatus"] == "active"


def test_store_duplicate_username_is_a_typed_error(store: SqliteStore) -> None:
    sam = store.create({"userName": f"scarter@{TENANT}", "givenName": "Sam", "sn": "Carter",
                        "mail": "scarter@example.com"})
    adele = store.create({"userName": f"avance@{TENANT}", "givenName": "Adele", "sn": "Vance",
                          "mail": "adele.vance@example.com"})
    with pytest.raises(ManagedObjectInvalid, match="already used by managed/alpha_user/") as caught:
        store.create({"userName": f"SCarter@{TENANT}", "givenName": "Samuel", "sn": "Carter",
                      "mail": "samuel.carter@example.com"})
    assert sam.id in str(caught.value) and "identities get" in str(caught.value)
    with pytest.raises(ManagedObjectInvalid, match=f"userName 'scarter@{TENANT}' is already used") as caught:
        store.update(adele.id, {**adele.properties, "userName": f"scarter@{TENANT}"})
    assert caught.value.object_id == adele.id
    with pytest.raises(ManagedObjectInvalid, match="already exists"):
        store.create({"userName": f"avance2@{TENANT}", "givenName": "Adele", "sn": "Vance",
                      "mail": "adele.vance@example.com"}, object_id=adele.id)
    # An object keeps its own userName (any case) on update.
    assert store.update(sam.id, {**sam.properties, "userName": f"SCARTER@{TENANT}"}).rev == 2
    assert store.count() == 2


def test_link_cleanup_unlinks_are_counted_as_actions(store: SqliteStore) -> None:
    graph = FakeGraph(PEOPLE)
    r = Runner(store, graph)
    r.spec["correlation"] = None
    r()
    # Sam leaves the company: his identity is deleted by hand and he is deleted in Entra ID.
    sam_target = store.links_for_sources("entra-users", [SAM["id"]])[SAM["id"]]
    store.delete(sam_target)
    del graph.users[SAM["id"]]
    run = r()
    assert run.state == "SUCCESS" and run.links_cleaned == 1
    assert run.actions == {"UPDATE": len(PEOPLE) - 1, "UNLINK": 1}
    assert sum(run.actions.values()) == sum(run.situations.values()) + run.links_cleaned
    assert run.to_dict()["actions"]["UNLINK"] == 1
    [entry] = store.entries(run.id)
    assert (entry.situation, entry.action, entry.source_id) == (None, "UNLINK", SAM["id"])
    assert store.links_for_sources("entra-users", [SAM["id"]]) == {}


def test_dry_run_of_a_blocked_run_lists_what_the_guard_stops(store: SqliteStore) -> None:
    staff = [user(f"5f1b2c3d-0000-4000-8000-{i:012d}", f"Given{i}", f"Staff{i}") for i in range(200, 240)]
    graph = FakeGraph(staff, page_size=10)
    r = Runner(store, graph)
    r.spec["policies"]["rules"]["SOURCE_MISSING"] = "DELETE"
    r()
    leavers = staff[:12]  # 12 of 40 linked: above maxDeletePercent 5
    for p in leavers:
        graph.delete(p["id"])
    run = r()
    assert run.state == "BLOCKED" and "--dry-run" in run.reason and store.count() == 40
    dry = r(dry_run=True)
    assert dry.state == "BLOCKED" and dry.exit_code == 3 and dry.deletes == 12
    texts = [p.text() for p in dry.plan]
    assert len(texts) == 12 and all(t.startswith("- delete ") for t in texts)
    assert all(t.endswith("[blocked by the safety guard]") for t in texts)
    assert {p.source_id for p in dry.plan} == {p["id"] for p in leavers}
    assert all(p["blocked"] for p in dry.to_dict()["plan"])
    assert store.count() == 40 and store.link_count("entra-users") == 40
    # With the override the same dry run would pass: the same lines, not marked.
    allowed = r(dry_run=True, allow_deletes=12)
    assert allowed.state == "SUCCESS" and [p.text() for p in allowed.plan] == [
        t.removesuffix(" [blocked by the safety guard]") for t in texts]


def test_async_marks_are_reread_only_when_the_policy_changes(store: SqliteStore) -> None:
    graph = FakeGraph(PEOPLE)
    r = Runner(store, graph)
    r.spec["policies"] = {"base": "read-only"}
    run = r()
    assert run.actions == {"ASYNC": len(PEOPLE)} and len(store.retry_queue("entra-users")) == len(PEOPLE)
    graph.update(SAM["id"], givenName="Samantha")
    run = r("incremental")
    assert run.actions == {"ASYNC": 1} and graph.gets == []  # nobody else re-read: the table is unchanged
    # A rule that is still ASYNC for these situations changes nothing either.
    r.spec["policies"] = {"base": "read-only", "rules": {"MISSING": "EXCEPTION"}}
    run = r("incremental")
    assert run.processed == 0 and graph.gets == []
    assert len(store.retry_queue("entra-users")) == len(PEOPLE)
    # A person takes the mapping out of read-only: every waiting ABSENT is re-read and created.
    r.spec["policies"] = {"base": "default"}
    run = r("incremental")
    assert sorted(graph.gets) == sorted(p["id"] for p in PEOPLE)
    assert run.actions == {"CREATE": len(PEOPLE)} and store.count() == len(PEOPLE)
    assert store.retry_queue("entra-users") == []


def test_failures_are_retried_with_back_off(store: SqliteStore) -> None:
    graph = FakeGraph([*PEOPLE, ROOM])
    r = Runner(store, graph)
    assert r().failures == 1
    reads = []
    for _ in range(9):
        graph.gets.clear()
        run = r("incremental")
        assert run.state == "SUCCESS"
        reads.append(len(graph.gets))
    # Every run while tried at most 3 times, then after 2, 4, ... runs.
    assert reads == [1, 1, 1, 0, 1, 0, 0, 0, 1]
    [(sid, reason, attempts)] = store.retry_queue("entra-users")
    assert (sid, reason, attempts) == (ROOM["id"], "FAILURE", 6)
    # A change in Entra ID still arrives at once, by delta.
    graph.update(ROOM["id"], givenName="Conference", surname="Rainier")
    run = r("incremental")
    assert run.actions == {"CREATE": 1} and run.failures == 0 and store.retry_queue("entra-users") == []


def test_ambiguous_candidates_are_recorded_for_every_action(store: SqliteStore) -> None:
    # Two identities match Sam's mail or surname: a stale copy and a contractor sharing his mailbox.
    stale = store.create({"userName": "sam.carter.old", "givenName": "Sam", "sn": "Carter", "mail": "old@example.com"})
    shared = store.create({"userName": "contractor7", "givenName": "Kim", "sn": "Abercrombie",
                           "mail": "scarter@example.com"})
    expected = sorted([stale.id, shared.id])
    for action in ("REPORT", "EXCEPTION", "CREATE"):  # CREATE last: it adds a third match
        r = Runner(store, FakeGraph([SAM]))
        r.spec["correlation"] = {"any": ["mail", "sn"]}
        r.spec["policies"] = {"base": "default", "rules": {"AMBIGUOUS": action}}
        run = r(name=f"entra-{action.lower()}")
        assert run.situations == {"AMBIGUOUS": 1} and run.actions == {action: 1}
        [entry] = store.entries(run.id)
        assert sorted(entry.changes["ambiguousTargetIds"]) == expected
        if action != "CREATE":
            assert f"candidates: {', '.join(expected)}" in entry.message


def test_users_dropped_by_a_local_filter_are_counted_once_and_not_reread(store: SqliteStore) -> None:
    graph = FakeGraph(PEOPLE)
    r = Runner(store, graph)
    r()
    # The team narrows the mapping to one department by display name; "co" is not pushed down to Graph.
    r.spec["sourceFilter"] = 'displayName co "Vance"'
    before = {o.id: o.properties for o in store.iter_objects()}
    run = r()
    assert graph.pushdowns[-1] is None
    assert run.state == "SUCCESS" and run.situations == {"CONFIRMED": 1}
    assert run.out_of_scope == len(PEOPLE) - 1 and run.processed == 1
    assert graph.gets == []  # listed, so proven present: no read by id
    assert {o.id: o.properties for o in store.iter_objects()} == before
    assert store.link_count("entra-users") == len(PEOPLE)


class ReplayingGraph(FakeGraph):
    """A delta round whose pages carry the events of the demo out of order, with replays."""

    def __init__(self, users: list[dict], pages: list[tuple[list[str], list[str]]]) -> None:
        super().__init__(users)
        self.pages = pages  # per page: (ids changed, ids removed)

    def read_delta(self, link: str):
        for n, (changed, removed) in enumerate(self.pages):
            yield Page([self._project(self.users[i], self.select) for i in changed],
                       [(i, "changed") for i in removed], "delta:99" if n == len(self.pages) - 1 else None)


def test_delta_round_last_event_by_id_wins(store: SqliteStore) -> None:
    sam, adele, diego = PEOPLE[0]["id"], PEOPLE[1]["id"], PEOPLE[3]["id"]
    graph = ReplayingGraph(PEOPLE, [])
    r = Runner(store, graph)
    r.spec["policies"]["rules"]["SOURCE_MISSING"] = "DELETE"
    r()
    # Sam is soft-deleted and restored from the recycle bin; Adele is edited, then deleted; Diego is
    # deleted, restored and deleted again. Graph hands the events over out of order and replays some.
    graph.update(sam, givenName="Samantha")
    graph.pages = [([adele], [sam, diego]), ([sam, diego], []), ([], [adele, diego])]
    run = r("incremental")
    assert run.state == "SUCCESS"
    assert run.situations == {"CONFIRMED": 3, "SOURCE_MISSING": 2} and run.actions == {"UPDATE": 3, "DELETE": 2}
    assert run.deletes == 2 and run.processed == 5
    names = {o.properties["userName"] for o in store.iter_objects()}
    assert obj_by_name(store, f"scarter@{TENANT}").properties["givenName"] == "Samantha"
    assert PEOPLE[1]["userPrincipalName"] not in names and PEOPLE[3]["userPrincipalName"] not in names
    assert set(store.links_for_sources("entra-users", [sam, adele, diego])) == {sam}
    deleted = store.entries(run.id, action="DELETE")
    assert sorted(e.source_id for e in deleted) == sorted([adele, diego])
