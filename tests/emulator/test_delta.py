"""GET /v1.0/users/delta: initial round, later rounds with creates/updates/deletes, latest, expiry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.emulator import SAM_CARTER, Emulator
from tests.emulator.conftest import Graph, graph_for, pinned_session

SMALL_PAGES = {"Prefer": "odata.maxpagesize=10"}


def round_trip(graph: Graph, url: str, **kw: Any) -> tuple[list[dict[str, Any]], str]:
    """Follow a delta round to its deltaLink; returns every entry and the deltaLink."""
    entries: list[dict[str, Any]] = []
    while True:
        resp = graph.get(url, **kw)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert not ("@odata.nextLink" in body and "@odata.deltaLink" in body)
        entries += body["value"]
        if "@odata.deltaLink" in body:
            return entries, body["@odata.deltaLink"]
        url = body["@odata.nextLink"]


def test_initial_round_pages_every_user_then_gives_a_delta_link(emulator: Emulator, graph: Graph) -> None:
    first = graph.get("users/delta?$select=displayName,mail,jobTitle", headers=SMALL_PAGES)
    assert first.headers["Preference-Applied"] == "odata.maxpagesize=10"
    body = first.json()
    assert len(body["value"]) == 10 and "@odata.nextLink" in body
    assert body["@odata.context"].endswith("$metadata#users(displayName,mail,jobTitle)")
    entries, delta_link = round_trip(graph, body["@odata.nextLink"], headers=SMALL_PAGES)
    everyone = body["value"] + entries
    assert len({e["id"] for e in everyone}) == 33
    sam = next(e for e in everyone if e["id"] == SAM_CARTER["id"])
    assert sam == {"displayName": "Sam Carter", "mail": "scarter@example.com", "id": SAM_CARTER["id"]}
    assert "$deltatoken=" in delta_link and delta_link.startswith(f"{emulator.graph_url}/v1.0/users/delta?")
    assert "$select" not in delta_link  # baked into the opaque token


def test_later_round_returns_only_changes(emulator: Emulator, admin_graph: Graph) -> None:
    _, link = round_trip(admin_graph, "users/delta?$select=displayName,jobTitle,mobilePhone")
    nothing, link = round_trip(admin_graph, link)
    assert nothing == []

    created = emulator.create_user({"userPrincipalName": f"rpatel@{emulator.domain}", "displayName": "Riya Patel",
                                    "jobTitle": "Analyst"})
    emulator.update_user(SAM_CARTER["id"], {"jobTitle": "Engineer"})
    emulator.update_user("87d349ed-44d7-43e1-9a83-5f2406dee5bd", {"mobilePhone": None})  # Adele had none
    emulator.update_user("48d31887-5fad-4d73-a9f5-3c356e68a038", {"department": "Audit"})  # not selected
    emulator.delete_user("40079818-3808-4585-903b-02605f061225")  # Patti: soft delete
    emulator.delete_user("5bde3e51-d13b-4db1-9948-fe4b109d11a7")
    emulator.delete_user("5bde3e51-d13b-4db1-9948-fe4b109d11a7", permanent=True)  # MOD admin: purged

    changes, link = round_trip(admin_graph, link)
    by_id = {c["id"]: c for c in changes}
    assert by_id[created["id"]] == {"displayName": "Riya Patel", "jobTitle": "Analyst", "id": created["id"]}
    assert by_id[SAM_CARTER["id"]] == {"displayName": "Sam Carter", "jobTitle": "Engineer", "id": SAM_CARTER["id"]}
    assert "48d31887-5fad-4d73-a9f5-3c356e68a038" not in by_id
    assert by_id["40079818-3808-4585-903b-02605f061225"]["@removed"] == {"reason": "changed"}
    assert by_id["5bde3e51-d13b-4db1-9948-fe4b109d11a7"]["@removed"] == {"reason": "deleted"}
    assert len(changes) == 4  # Adele's mobilePhone was already unset: no change

    emulator.restore_user("40079818-3808-4585-903b-02605f061225")
    again, _ = round_trip(admin_graph, link)
    assert [e.get("displayName") for e in again] == ["Patti Fernandez"]


def test_changed_to_null_is_sent_as_null_and_minimal_sends_only_changes(emulator: Emulator, graph: Graph) -> None:
    _, link = round_trip(graph, "users/delta?$select=displayName,jobTitle,officeLocation")
    emulator.update_user("87d349ed-44d7-43e1-9a83-5f2406dee5bd", {"jobTitle": None})
    full, _ = round_trip(graph, link)
    assert full == [{"displayName": "Adele Vance", "jobTitle": None, "officeLocation": "18/2111",
                     "id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd"}]
    minimal, _ = round_trip(graph, link, headers={"Prefer": "return=minimal"})
    assert minimal == [{"jobTitle": None, "id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd"}]


def test_latest_starts_from_now(emulator: Emulator, graph: Graph) -> None:
    body = graph.get("users/delta?$deltatoken=latest&$select=displayName").json()
    assert body["value"] == [] and "@odata.deltaLink" in body and "@odata.nextLink" not in body
    emulator.update_user(SAM_CARTER["id"], {"displayName": "Samuel Carter"})
    changes, _ = round_trip(graph, body["@odata.deltaLink"])
    assert changes == [{"displayName": "Samuel Carter", "id": SAM_CARTER["id"]}]
    spelled = graph.get("users/delta?$deltaToken=latest").json()
    assert spelled["value"] == []


def test_delta_filter_by_ids_and_unsupported_options(emulator: Emulator, graph: Graph) -> None:
    ids = [SAM_CARTER["id"], "87d349ed-44d7-43e1-9a83-5f2406dee5bd"]
    flt = " or ".join(f"id eq '{i}'" for i in ids)
    entries, link = round_trip(graph, f"users/delta?$filter={flt}&$select=displayName")
    assert {e["id"] for e in entries} == set(ids)
    emulator.update_user(SAM_CARTER["id"], {"displayName": "S. Carter"})
    emulator.update_user("48d31887-5fad-4d73-a9f5-3c356e68a038", {"displayName": "M. Bowen"})
    changes, _ = round_trip(graph, link)
    assert [c["id"] for c in changes] == [SAM_CARTER["id"]]
    for query in ("$top=5", "$orderby=displayName", "$filter=startswith(displayName,'A')"):
        resp = graph.get(f"users/delta?{query}")
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "Request_UnsupportedQuery"


def test_sdk_spelling_of_delta(graph: Graph) -> None:
    assert graph.get("users/microsoft.graph.delta()").status_code == 200


@pytest.mark.parametrize("status", [400, 410])
def test_expired_tokens_answer_sync_state_not_found(emulator: Emulator, graph: Graph, status: int) -> None:
    first = graph.get("users/delta", headers=SMALL_PAGES).json()
    _, link = round_trip(graph, "users/delta")
    emulator.expire_delta_tokens(status)
    for url in (link, first["@odata.nextLink"]):
        resp = graph.get(url)
        assert resp.status_code == status
        if status == 400:
            assert resp.json()["error"]["code"] == "syncStateNotFound"
        else:
            assert resp.headers["Location"].endswith("/v1.0/users/delta?$deltatoken=")
    fresh, _ = round_trip(graph, "users/delta")
    assert len(fresh) == 33


def test_tampered_and_old_tokens_are_not_found(tmp_path: Path, graph: Graph) -> None:
    _, link = round_trip(graph, "users/delta")
    tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    assert graph.get(tampered).json()["error"]["code"] == "syncStateNotFound"
    with Emulator(tmp_path / "short", delta_token_ttl=-1) as emu, pinned_session(emu) as session:
        short = graph_for(emu, session)
        _, old = round_trip(short, "users/delta")
        resp = short.get(old)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "syncStateNotFound"


def test_a_later_round_pages_its_changes_once_each_without_an_empty_last_page(emulator: Emulator,
                                                                              graph: Graph) -> None:
    _, link = round_trip(graph, "users/delta?$select=displayName,jobTitle")
    made = [emulator.create_user({"userPrincipalName": f"pager{i:02d}@{emulator.domain}",
                                  "displayName": f"Pager {i:02d}"})["id"] for i in range(25)]
    emulator.update_user(made[3], {"jobTitle": "Lead"})  # changed again: listed once, where it last changed
    emulator.update_user(SAM_CARTER["id"], {"department": "Audit"})  # not selected: not listed
    emulator.delete_user(made[7])
    pages: list[list[dict[str, Any]]] = []
    url = link
    while True:
        body = graph.get(url, headers=SMALL_PAGES).json()
        pages.append(body["value"])
        if "@odata.deltaLink" in body:
            break
        url = body["@odata.nextLink"]
    ids = [e["id"] for page in pages for e in page]
    assert [len(p) for p in pages] == [10, 10, 5]  # 25 changes, exactly full pages, no empty page at the end
    assert len(ids) == len(set(ids)) == 25
    assert ids[-2:] == [made[3], made[7]]
    assert pages[-1][-1]["@removed"] == {"reason": "changed"}
    assert pages[-1][-2] == {"displayName": "Pager 03", "jobTitle": "Lead", "id": made[3]}
