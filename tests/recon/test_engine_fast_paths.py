"""The engine's two fast paths decide exactly as its general path does.

A run into a store that started empty creates unseen sources without the general path's lookups
(ABSENT, CREATE), and a linked source whose object already holds its values is CONFIRMED without a
write. Each test runs the same listing twice: into an empty store (the fast paths on) and into a
store holding one unrelated object (``written`` off, so every decision takes the general path), and
compares what the two runs decided and wrote.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.backends.sqlite import SqliteStore
from controller.recon import ReconRun
from tests.recon.conftest import DEMO_SPEC, PEOPLE, TENANT, FakeGraph, Page, Runner, open_store, user

BYSTANDER = {"userName": "bystander@fabrikam.example", "givenName": "By", "sn": "Stander",
             "mail": "bystander@fabrikam.example"}


def _entries(store: SqliteStore, run: ReconRun) -> list[tuple[Any, ...]]:
    """The run's entries as people read them (object ids replaced by the object's userName)."""
    names = {o.id: o.properties["userName"] for o in store.iter_objects()}
    rows = store.conn.execute(
        "SELECT seq, phase, source_id, target_id, situation, action, status, message, label FROM recon_entries "
        "WHERE run_id = ? ORDER BY seq", (run.id,)).fetchall()
    return [(seq, phase, sid, names.get(tid, tid and "?"), situation, action, status,
             message and message.split(" by managed/")[0], label and label.split(" (")[0])
            for seq, phase, sid, tid, situation, action, status, message, label in rows]


def _objects(store: SqliteStore) -> list[tuple[Any, ...]]:
    return sorted((o.properties["userName"], o.rev, tuple(sorted(o.properties.items())))
                  for o in store.iter_objects() if o.properties["userName"] != BYSTANDER["userName"])


def _links(store: SqliteStore) -> list[tuple[str, str]]:
    names = {o.id: o.properties["userName"] for o in store.iter_objects()}
    return sorted((s, names[t]) for s, t in store.conn.execute("SELECT source_id, target_id FROM links"))


def _outcome(store: SqliteStore, run: ReconRun) -> dict[str, Any]:
    return {"state": run.state, "situations": dict(run.situations), "actions": dict(run.actions),
            "entries": run.entries, "failures": run.failures, "rows": _entries(store, run),
            "objects": _objects(store), "links": _links(store)}


def _both(tmp_path: Path, users: list[dict[str, Any]], *, batch_size: int = 2, page_size: int = 3,
          graph: type[FakeGraph] = FakeGraph, **spec: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The outcome of one full run of ``users`` (listed by ``graph``) into an empty store, and into a
    store with a bystander."""
    outcomes = []
    for n, seeded in enumerate((False, True)):
        store = open_store(tmp_path / f"state{n}.db")
        try:
            if seeded:
                store.create(BYSTANDER)
            recon = Runner(store, graph(users, page_size=page_size))
            recon.spec.update(spec)
            outcomes.append(_outcome(store, recon(batch_size=batch_size)))
        finally:
            store.conn.close()
    return outcomes[0], outcomes[1]


def _twin(uid: str, given: str, sn: str, login: str, mail: str | None = "") -> dict[str, Any]:
    return user(uid, given, sn, upn=f"{login}@{TENANT}", mail=mail)


# Sources that meet each other in one run: a userName taken again in another case (in the same page,
# the same batch, a later batch), the same source listed twice, a user the type refuses (no
# userPrincipalName), and a mail shared by two people.
MEETINGS = [
    *PEOPLE,
    _twin("aa000000-0000-4000-8000-000000000001", "Megan", "Bowen", "MeganB"),
    _twin("aa000000-0000-4000-8000-000000000002", "Megan", "Bowen", "meganb"),  # same page
    _twin("aa000000-0000-4000-8000-000000000003", "Lee", "Gu", "LeeG", mail="shared@example.com"),
    user("aa000000-0000-4000-8000-000000000004", "No", "Login", upn=None) | {"userPrincipalName": None},
    _twin("aa000000-0000-4000-8000-000000000005", "Lynne", "Robbins", "LynneR", mail="shared@example.com"),
    _twin("aa000000-0000-4000-8000-000000000006", "Miriam", "Graham", "MIRIAMG"),
    _twin("aa000000-0000-4000-8000-000000000007", "Nestor", "Wilke", "NestorW"),
    # Enough people in between that the twins below fall in a later batch than the first holders.
    *(_twin(f"cc000000-0000-4000-8000-{n:012d}", "Pat", f"Filler{n}", f"pfiller{n}") for n in range(30)),
    _twin("aa000000-0000-4000-8000-000000000008", "Lee", "Gu", "leeg"),  # a later batch
    _twin("aa000000-0000-4000-8000-000000000009", "Miriam", "Graham", "miriamg"),
    # Nestor's userName again with a mail of its own: correlation on mail finds nobody, the userName
    # is taken all the same.
    _twin("aa000000-0000-4000-8000-00000000000a", "Nestor", "Wilke", "nestorw", mail="n.wilke@example.com"),
    # Sam's mail on another account, long after Sam was written.
    _twin("aa000000-0000-4000-8000-00000000000b", "Samuel", "Carter", "samuelc", mail="SCarter@example.com"),
]


@pytest.mark.parametrize(("batch_size", "page_size"), [(1, 1), (2, 3), (5, 3), (100, 3)])
def test_creates_into_an_empty_store_decide_as_the_general_path(tmp_path: Path, batch_size: int,
                                                                page_size: int) -> None:
    fast, general = _both(tmp_path, MEETINGS, batch_size=batch_size, page_size=page_size)
    assert fast == general
    # What the general path makes of these users: one object per userName; the case twins correlate
    # to an object already linked to another source (FOUND_ALREADY_LINKED, IDM's EXCEPTION); the
    # user without a userPrincipalName fails to be created.
    assert fast["situations"] == {"ABSENT": len(PEOPLE) + 37, "FOUND_ALREADY_LINKED": 4}
    assert fast["actions"] == {"CREATE": len(PEOPLE) + 37, "EXCEPTION": 4}
    assert fast["failures"] == 1 and len(fast["objects"]) == len(PEOPLE) + 36


@pytest.mark.parametrize(("batch_size", "page_size"), [(1, 1), (2, 3)])
def test_correlation_on_another_property_decides_as_the_general_path(tmp_path: Path, batch_size: int,
                                                                     page_size: int) -> None:
    fast, general = _both(tmp_path, MEETINGS, batch_size=batch_size, page_size=page_size,
                          correlation={"any": ["mail"]})
    assert fast == general
    assert fast["situations"] == {"ABSENT": len(PEOPLE) + 37, "FOUND_ALREADY_LINKED": 4}
    # No login, and the userNames of Lee and Nestor in another case: three failed creates.
    assert fast["failures"] == 3 and any("is already used" in (r[7] or "") for r in fast["rows"])


def test_a_source_listed_twice_is_created_once(tmp_path: Path) -> None:
    class Twice(FakeGraph):
        def iter_users(self, select: list[str], pushdown: str | None = None) -> Iterator[list[dict[str, Any]]]:
            yield from super().iter_users(select, pushdown)
            yield [self._project(PEOPLE[1], select)]

    fast, general = _both(tmp_path, PEOPLE, graph=Twice)
    assert fast == general
    assert fast["situations"] == {"ABSENT": len(PEOPLE), "CONFIRMED": 1}


def test_a_source_twice_in_one_page_under_two_userNames_decides_as_the_general_path(tmp_path: Path) -> None:
    """A page that creates all its sources at once (``_page_all_new``) must not take one holding the
    same source twice (renamed between two partitions' reads, say): the second is that source's update."""
    adele = PEOPLE[1]
    renamed = adele | {"userPrincipalName": f"adele.vance@{TENANT}"}

    class Twice(FakeGraph):
        def iter_users(self, select: list[str], pushdown: str | None = None) -> Iterator[list[dict[str, Any]]]:
            yield [self._project(u, select) for u in (PEOPLE[0], adele, PEOPLE[2], renamed)]

    fast, general = _both(tmp_path, PEOPLE, graph=Twice, batch_size=10)
    assert fast == general
    assert fast["situations"] == {"ABSENT": 3, "CONFIRMED": 1}
    assert [o[0] for o in fast["objects"]].count(f"adele.vance@{TENANT}") == 1


@pytest.mark.parametrize("rules", [{"ABSENT": "REPORT"}, {"ABSENT": "ASYNC"}, {"CONFIRMED": "LINK"}])
def test_a_policy_that_changes_the_default_actions_is_followed(tmp_path: Path, rules: dict[str, str]) -> None:
    spec = {"policies": {"base": "default", "rules": {"LINK_ONLY": "UNLINK", **rules}}}
    fast, general = _both(tmp_path, PEOPLE, **spec)
    assert fast == general
    assert fast["actions"].get("CREATE", 0) == (0 if "ABSENT" in rules else len(PEOPLE))


def test_an_unchanged_second_run_writes_nothing_and_a_changed_one_updates(tmp_path: Path) -> None:
    store = open_store(tmp_path / "state.db")
    graph = FakeGraph(PEOPLE)
    recon = Runner(store, graph)
    recon()
    before = _objects(store)
    again = recon()
    assert (dict(again.situations), dict(again.actions), again.entries) == \
        ({"CONFIRMED": len(PEOPLE)}, {"UPDATE": len(PEOPLE)}, 0)
    assert _objects(store) == before
    graph.users[PEOPLE[3]["id"]]["surname"] = "Siciliani-Ortiz"
    changed = recon()
    assert changed.entries == 1 and changed.actions == {"UPDATE": len(PEOPLE)}
    assert [o for o in _objects(store) if o[0].startswith("dsiciliani")][0][1] == 2  # rev 2


def test_a_linked_source_left_out_of_a_listing_is_still_found_missing(tmp_path: Path) -> None:
    """The target phase skips reading links back only when the source phase reached every one."""
    store = open_store(tmp_path / "state.db")
    graph = FakeGraph(PEOPLE)
    recon = Runner(store, graph)
    recon.spec["policies"]["rules"]["SOURCE_MISSING"] = "DELETE"
    recon()
    # Alex's object is also the correlation hit of a new source listed first (a new account taking
    # a userName in another case): the target phase must still visit the link whose source is gone.
    alex, diego = PEOPLE[2], PEOPLE[3]
    graph.users = {"bb000000-0000-4000-8000-000000000001": user(
        "bb000000-0000-4000-8000-000000000001", "Alex", "Wilber", upn=alex["userPrincipalName"].upper()),
        **{u["id"]: u for u in graph.users.values() if u["id"] != diego["id"]}}
    run = recon(batch_size=2)
    assert run.situations == {"FOUND_ALREADY_LINKED": 1, "CONFIRMED": len(PEOPLE) - 1, "SOURCE_MISSING": 1}
    assert not any(o[0] == diego["userPrincipalName"].lower() for o in _objects(store))


@pytest.mark.parametrize("batch_size", [1, 100])
@pytest.mark.parametrize("seeded", [False, True])
def test_a_user_renamed_while_the_listing_is_read_keeps_the_new_values(tmp_path: Path, batch_size: int,
                                                                       seeded: bool) -> None:
    """A source listed twice with other values (changed while the listing is read): the object ends
    with the later values, also when both listings fall in the batch that creates it, and a new
    account may take the userName the rename gave up."""
    adele = PEOPLE[1]
    renamed = adele | {"userPrincipalName": f"adele.vance@{TENANT}", "mail": "adele.vance@fabrikam.example"}
    newcomer = user("bb000000-0000-4000-8000-000000000002", "Aaron", "Vance", upn=adele["userPrincipalName"])

    class Changing(FakeGraph):
        def iter_users(self, select: list[str], pushdown: str | None = None) -> Iterator[list[dict[str, Any]]]:
            yield from super().iter_users(select, pushdown)
            yield [self._project(renamed, select), self._project(newcomer, select)]

    store = open_store(tmp_path / "state.db")
    if seeded:
        store.create(BYSTANDER)
    run = Runner(store, Changing(PEOPLE))(batch_size=batch_size)
    assert run.state == "SUCCESS", run.reason
    objects = {o.properties["userName"]: o.properties for o in store.iter_objects()}
    assert objects[f"adele.vance@{TENANT}"]["mail"] == "adele.vance@fabrikam.example"
    assert objects[adele["userPrincipalName"]]["givenName"] == "Aaron"
    assert _links(store).count((adele["id"], f"adele.vance@{TENANT}")) == 1
    store.conn.close()


@pytest.mark.parametrize("mode", ["any", "all"])
def test_a_list_valued_correlation_property_matches_nothing_and_breaks_nothing(tmp_path: Path, mode: str) -> None:
    """A multi-valued source attribute (Graph's otherMails) mapped to a correlated property: its lists have
    no correlation key, so they match nothing, whether the store started empty or not."""
    people = [u | {"otherMails": [f"{u['givenName'].lower()}@fabrikam.example", "shared@fabrikam.example"]}
              for u in PEOPLE]
    spec: dict[str, Any] = {
        "properties": [*DEMO_SPEC["properties"], {"source": "otherMails", "target": "frIndexedMultivalued1"}],
        "correlation": {mode: ["userName", "frIndexedMultivalued1"]}}
    fast, general = _both(tmp_path, people, **spec)
    assert fast == general and fast["state"] == "SUCCESS"
    store = open_store(tmp_path / "again.db")
    graph = FakeGraph(people[:4])
    recon = Runner(store, graph)
    recon.spec.update(spec)
    assert recon().actions == {"CREATE": 4}
    graph.users.update({u["id"]: u for u in people[4:]})  # the rest, into a store that is not empty now
    run = recon()
    assert run.state == "SUCCESS", run.reason
    assert run.situations == {"CONFIRMED": 4, "ABSENT": len(PEOPLE) - 4}
    store.conn.close()


class _Relisted(FakeGraph):
    """A listing that ends with some of its users again, with other values (changed while it was read)."""

    relisted: list[dict[str, Any]]

    def iter_users(self, select: list[str], pushdown: str | None = None) -> Iterator[list[dict[str, Any]]]:
        yield from super().iter_users(select, pushdown)
        # Pages enough for what the listing created to be committed before it is listed again.
        for _ in range(25):
            yield [self._project(self.users[PEOPLE[0]["id"]], select)]
        yield [self._project(u, select) for u in self.relisted]


@pytest.mark.parametrize("batch_size", [1, 3, 100])
def test_links_read_into_memory_answer_as_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     batch_size: int) -> None:
    """A full run over a mapping with links reads them all first (LINKS_IN_MEMORY) and keeps them in step
    with each batch it commits; with the links looked up page by page instead, it decides the same."""
    import controller.recon._engine as engine

    outcomes = []
    for n, in_memory in enumerate((engine.LINKS_IN_MEMORY, 0)):
        monkeypatch.setattr(engine, "LINKS_IN_MEMORY", in_memory)
        store = open_store(tmp_path / f"links{n}.db")
        graph = FakeGraph(MEETINGS, page_size=3)
        recon = Runner(store, graph)
        recon.spec["policies"]["rules"].update({"SOURCE_MISSING": "DELETE", "UNASSIGNED": "UNLINK"})
        recon.spec["safety"] = {"maxDeletes": 100, "maxDeletePercent": 100, "allowEmptySource": False}
        recon(batch_size=batch_size)
        # Between the runs: people leave, one is renamed, newcomers arrive (one with the userName of a
        # person who left, whose object and link are still there when it is assessed), and a source
        # is listed twice with other values the second time.
        gone = [PEOPLE[1]["id"], PEOPLE[2]["id"], MEETINGS[20]["id"]]
        for uid in gone:
            graph.delete(uid)
        graph.update(PEOPLE[4]["id"], surname="Archie-Vance")
        graph.add(_twin("dd000000-0000-4000-8000-000000000001", "Adele", "Vance", "avance"))
        graph.add(_twin("dd000000-0000-4000-8000-000000000002", "Kim", "Akers", "KimA"))
        graph.__class__ = _Relisted
        graph.relisted = [graph.users[PEOPLE[5]["id"]] | {"givenName": "Zaid"},  # linked before this run
                          graph.users["dd000000-0000-4000-8000-000000000002"] | {"givenName": "Kimberly"}]
        run = recon(batch_size=batch_size)
        outcomes.append(_outcome(store, run))
        store.conn.close()
    assert outcomes[0] == outcomes[1]
    # Adele's newcomer finds her object still linked (IDM: FOUND_ALREADY_LINKED, so the target phase
    # leaves it); Alex and a filler are missing: deleted.
    assert outcomes[0]["state"] == "SUCCESS" and outcomes[0]["situations"]["SOURCE_MISSING"] == 2
    assert outcomes[0]["actions"]["DELETE"] == 2 and outcomes[0]["failures"] == 1  # the login-less user


def test_links_in_memory_confirm_only_valid_unchanged_sources_and_clear_their_retry_marks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full run with the links in memory confirms a page's unchanged linked sources ahead of the rest
    (``_confirm_linked``): a source whose update failed last time and is back to its old values loses
    its retry mark, one that is no longer a valid source is not confirmed; as with the links looked up."""
    import controller.recon._engine as engine

    outcomes, queues = [], []
    for n, in_memory in enumerate((engine.LINKS_IN_MEMORY, 0)):
        monkeypatch.setattr(engine, "LINKS_IN_MEMORY", in_memory)
        store = open_store(tmp_path / f"confirm{n}.db")
        graph = FakeGraph(PEOPLE, page_size=3)
        recon = Runner(store, graph)
        recon()
        diego, grady = PEOPLE[3]["id"], PEOPLE[4]["id"]
        graph.update(diego, surname="")  # the type refuses the update: a failed entry, a retry mark
        failed = recon()
        assert failed.failures == 1 and [s for s, _, _ in store.retry_queue("entra-users")] == [diego]
        graph.update(diego, surname=PEOPLE[3]["surname"])  # back as it was: nothing to write
        graph.update(grady, accountEnabled=False)
        recon.spec["validSource"] = "accountEnabled eq true"
        recon.spec["safety"] = {"maxDeletes": 0, "maxDeletePercent": 5, "allowEmptySource": False}
        outcomes.append(_outcome(store, recon()))
        queues.append(store.retry_queue("entra-users"))
        store.conn.close()
    assert outcomes[0] == outcomes[1] and queues == [[], []]
    # UNQUALIFIED's DELETE is more than safety.maxDeletes 0: the run is BLOCKED before the end of a full
    # run forgets the marks it did not renew, so the mark is gone only because the batch cleared it.
    assert outcomes[0]["state"] == "BLOCKED"
    assert outcomes[0]["situations"] == {"CONFIRMED": len(PEOPLE) - 1, "UNQUALIFIED": 1}


class ReplayingGraph(FakeGraph):
    """A delta round that lists its first page's users again at the end, each changed once more (Graph
    replays some events of a round, and a user may change while the round is read)."""

    def read_delta(self, link: str) -> Iterator[Page]:
        pages = list(super().read_delta(link))
        again = [{**u, "givenName": f"{u['givenName'] or ''}-again"} for u in pages[0].users]
        yield from pages[:-1]
        yield Page(pages[-1].users, pages[-1].removed)
        yield Page(again, [], pages[-1].delta_link)


_ID = re.compile(r"managed/alpha_user/[0-9a-f-]+")  # object ids differ between the two stores


def _round_outcome(store: SqliteStore, run: ReconRun) -> dict[str, Any]:
    changes = store.conn.execute("SELECT seq, changes FROM recon_entries WHERE run_id = ? ORDER BY seq",
                                 (run.id,)).fetchall()
    retries = sorted(r[0] for r in store.conn.execute("SELECT source_id FROM recon_retry"))
    plan = [(p.op, p.action, p.situation, p.source_id, p.label.split(" (")[0],
             p.message and _ID.sub("managed/alpha_user/<id>", p.message))
            for p in run.plan]
    outcome = _outcome(store, run)
    outcome["rows"] = [(*row[:7], row[7] and _ID.sub("managed/alpha_user/<id>", row[7]), row[8])
                       for row in outcome["rows"]]
    return {**outcome, "changes": changes, "retries": retries, "plan": plan}


@pytest.mark.parametrize("batch_size", [1, 3, 50])
def test_an_incremental_round_updates_linked_users_as_the_general_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_size: int) -> None:
    """Changed linked users take ``_update_linked`` (no lookups beyond the page's); everything it does not
    take (a rename, a value the type refuses, an object this batch created, a dry run) goes on to the
    general path, and the outcome is the same as with the general path alone."""
    from controller.recon._engine import _Engine

    newcomer = user("5f1b2c3d-0000-4000-8000-000000000099", "Nestor", "Wilke")
    outcomes = []
    taken: list[bool] = []
    update_linked = _Engine._update_linked

    def counted(self: _Engine, *args: Any) -> bool:
        taken.append(update_linked(self, *args))
        return taken[-1]

    for n, fast in enumerate((True, False)):
        monkeypatch.setattr(_Engine, "_update_linked", counted if fast else lambda self, *args: False)
        store = open_store(tmp_path / f"state{n}.db")
        try:
            graph = ReplayingGraph(PEOPLE, page_size=3)
            recon = Runner(store, graph)
            recon.spec["policies"]["rules"]["SOURCE_MISSING"] = "DELETE"
            assert recon(batch_size=batch_size).state == "SUCCESS"
            ids = [p["id"] for p in PEOPLE]
            graph.update(ids[0], givenName="Samantha")  # first page: replayed, changed once more
            graph.add(newcomer)                          # created, then replayed with new values
            graph.update(ids[1], surname="Vance-Ortiz", mail="adele.vo@example.com")
            graph.update(ids[2], userPrincipalName=f"awilber.new@{TENANT}")  # a rename
            graph.update(ids[3], givenName="   ")       # the type refuses a blank givenName: FAILURE
            graph.update(ids[4])                         # an event with nothing changed
            graph.update(ids[6], userPrincipalName=f"SCarter@{TENANT}")  # Sam's userName: a duplicate
            graph.delete(ids[5])
            rounds = [_round_outcome(store, recon("incremental", batch_size=batch_size, dry_run=True)),
                      _round_outcome(store, recon("incremental", batch_size=batch_size))]
            graph.update(ids[3], givenName="Diego")      # fixed: the retry mark goes
            rounds.append(_round_outcome(store, recon("incremental", batch_size=batch_size)))
            outcomes.append(rounds)
        finally:
            store.conn.close()
    fast_rounds, general_rounds = outcomes
    assert fast_rounds == general_rounds
    dry, changed, fixed = fast_rounds
    assert dry["plan"] and dry["rows"] == [] and dry["state"] == "SUCCESS"
    assert changed["actions"] == {"UPDATE": 8, "CREATE": 1, "DELETE": 1} and changed["failures"] == 2
    # Diego is fixed (confirmed, then his replay updated); Johanna's duplicate userName is re-read and fails again.
    assert fixed["retries"] == [PEOPLE[6]["id"]] and fixed["actions"] == {"UPDATE": 3}
    assert (fixed["entries"], fixed["failures"]) == (2, 1)
    assert taken.count(True) >= 3 and taken.count(False) >= 2  # both ways were taken


def test_an_incremental_round_looks_links_and_their_objects_up_together(tmp_path: Path) -> None:
    """Changes, creates, replays and deletes of a round: each page's links come with their objects
    (``linked_objects``), and the deletes' targets are answered by the links that reached them."""
    from tests.recon.test_engine_batches import count_calls

    store = open_store(tmp_path / "state.db")
    try:
        graph = ReplayingGraph(PEOPLE, page_size=3)
        recon = Runner(store, graph)
        recon.spec["policies"]["rules"]["SOURCE_MISSING"] = "DELETE"
        recon()
        graph.update(PEOPLE[0]["id"], givenName="Samantha")
        # Nestor's object is there already, unlinked and holding his values: FOUND, linked, nothing to write
        # (so the replayed Nestor's object is looked up with the page's, not on its own)
        candidate = store.create({"userName": f"nwilke@{TENANT}", "givenName": "Nestor", "sn": "Wilke",
                                  "mail": "nestor.wilke@example.com"}).id
        graph.add(user("5f1b2c3d-0000-4000-8000-000000000099", "Nestor", "Wilke"))
        graph.delete(PEOPLE[5]["id"])
        graph.delete(PEOPLE[6]["id"])
        apart = {name: count_calls(store, name) for name in ("links_for_sources", "links_for_targets", "get_many")}
        joined = count_calls(store, "linked_objects")
        run = recon("incremental", batch_size=50)
        assert run.situations == {"CONFIRMED": 3, "FOUND": 1, "SOURCE_MISSING": 2}
        assert run.actions == {"UPDATE": 4, "DELETE": 2} and run.entries == 6
        # Looked up apart: only the correlation candidate (its object and whether another source links it).
        assert apart["links_for_sources"] == []
        assert {i for call in apart["get_many"] + apart["links_for_targets"] for i in call[-1]} == {candidate}
        assert len(joined) == 4  # the changed page, the replayed page, the removed, and the deletes' batch
    finally:
        store.conn.close()
