"""GET/POST/PATCH/DELETE /v1.0/users: paging, $select, $filter rules, lookups and Graph's errors."""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.emulator import SAM_CARTER, Emulator
from tests.emulator.conftest import Graph, graph_for, pinned_session

ADVANCED = {"ConsistencyLevel": "eventual"}


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Graph]:
    """2,500 generated users and nothing else (read-only)."""
    with Emulator(tmp_path_factory.mktemp("big"), generate=2500, seed_sample=False) as emu, \
            pinned_session(emu) as session:
        yield graph_for(emu, session)


def test_pages_2500_users_with_top(big: Graph) -> None:
    pages = list(big.pages("users?$top=999&$select=id,userPrincipalName,accountEnabled"))
    users = [u for page in pages for u in page["value"]]
    assert [len(p["value"]) for p in pages] == [999, 999, 502]
    assert len({u["id"] for u in users}) == 2500
    assert len({u["userPrincipalName"].lower() for u in users}) == 2500
    assert any(u["accountEnabled"] is False for u in users)
    first_link = pages[0]["@odata.nextLink"]
    assert first_link.startswith(f"{big.emu.graph_url}/v1.0/users?$top=999&$select=")
    assert "$skiptoken=" in first_link and "@odata.nextLink" not in pages[-1]


def test_default_page_is_100_with_default_properties(big: Graph) -> None:
    body = big.get("users").json()
    assert len(body["value"]) == 100
    assert body["@odata.context"] == f"{big.emu.graph_url}/v1.0/$metadata#users"
    assert list(body["value"][0]) == ["businessPhones", "displayName", "givenName", "jobTitle", "mail",
                                      "mobilePhone", "officeLocation", "preferredLanguage", "surname",
                                      "userPrincipalName", "id"]


@pytest.mark.parametrize("top", ["1000", "0", "abc"])
def test_top_out_of_range_is_400(big: Graph, top: str) -> None:
    resp = big.get(f"users?$top={top}")
    assert resp.status_code == 400
    assert resp.json()["error"]["message"] == (
        f"Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive.")


def test_select_shapes_objects_and_context(shared_graph: Graph) -> None:
    body = shared_graph.get("users?$select=id,displayName,accountEnabled&$top=3").json()
    assert body["@odata.context"].endswith("/v1.0/$metadata#users(id,displayName,accountEnabled)")
    assert all(list(u) == ["id", "displayName", "accountEnabled"] for u in body["value"])
    no_id = shared_graph.get("users?$select=displayName&$top=1").json()["value"][0]
    assert list(no_id) == ["displayName"]


def test_select_errors(shared_graph: Graph) -> None:
    unknown = shared_graph.get("users?$select=id,favouriteColour")
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "Request_BadRequest"
    assert shared_graph.get("users?$select=id,aboutMe").status_code == 501


# Graph's user resource: "Returned only on $select", with what Graph sends for a user that never set them.
SELECT_ONLY: dict[str, object] = {
    "identities": [{"signInType": "userPrincipalName", "issuer": SAM_CARTER["userPrincipalName"].split("@")[1],
                    "issuerAssignedId": SAM_CARTER["userPrincipalName"]}],
    "assignedLicenses": [],
    "assignedPlans": [],
    "onPremisesExtensionAttributes": {f"extensionAttribute{i}": None for i in range(1, 16)},
    "employeeOrgData": None,
    "passwordProfile": None,
    "provisionedPlans": [],
    "licenseAssignmentStates": [],
    "onPremisesProvisioningErrors": [],
    "serviceProvisioningErrors": [],
    "authorizationInfo": {"certificateUserIds": []},
    "preferredDataLocation": None,
    "signInSessionsValidFromDateTime": SAM_CARTER["createdDateTime"],
}


@pytest.mark.parametrize("name", sorted(SELECT_ONLY))
def test_select_only_properties_are_served(shared_graph: Graph, name: str) -> None:
    listed = shared_graph.get("users", params={"$select": f"id,{name}",
                                               "$filter": f"id eq '{SAM_CARTER['id']}'"})
    assert listed.status_code == 200, listed.text
    assert listed.json()["value"] == [{"id": SAM_CARTER["id"], name: SELECT_ONLY[name]}]
    one = shared_graph.get(f"users/{SAM_CARTER['id']}", params={"$select": name}).json()
    assert one[name] == SELECT_ONLY[name]


def test_all_select_only_properties_at_once_and_in_delta(shared_graph: Graph) -> None:
    names = ",".join(SELECT_ONLY)
    page = shared_graph.get("users", params={"$select": f"id,{names}", "$top": "999"}).json()
    assert len(page["value"]) == 33 and all(set(u) == {"id", *SELECT_ONLY} for u in page["value"])
    delta = [u for p in shared_graph.pages("users/delta", params={"$select": names}) for u in p["value"]]
    sam = next(u for u in delta if u["id"] == SAM_CARTER["id"])
    assert sam["identities"] == SELECT_ONLY["identities"]
    assert "passwordProfile" not in sam  # delta sends only what is set


def test_get_by_id_and_by_upn(shared_graph: Graph) -> None:
    by_upn = shared_graph.get(f"users/{SAM_CARTER['userPrincipalName']}").json()
    by_id = shared_graph.get(f"users/{SAM_CARTER['id']}?$select=id,mail,accountEnabled").json()
    assert by_upn["displayName"] == "Sam Carter" and by_upn["mail"] == "scarter@example.com"
    assert by_upn["@odata.context"].endswith("$metadata#users/$entity")
    assert by_id == {"@odata.context": by_id["@odata.context"], "id": SAM_CARTER["id"],
                     "mail": "scarter@example.com", "accountEnabled": True}


def test_missing_user_is_request_resource_not_found(shared_graph: Graph) -> None:
    resp = shared_graph.get("users/00000000-0000-0000-0000-000000000000", headers={"client-request-id": "abc"})
    assert resp.status_code == 404
    error = resp.json()["error"]
    assert error["code"] == "Request_ResourceNotFound"
    assert error["message"].startswith("Resource '00000000-0000-0000-0000-000000000000' does not exist")
    assert error["innerError"]["client-request-id"] == "abc"
    assert error["innerError"]["request-id"] == resp.headers["request-id"]


@pytest.mark.parametrize(("flt", "expected"), [
    ("mail eq 'scarter@example.com'", {"Sam Carter"}),
    ("mail eq 'SCARTER@EXAMPLE.COM'", {"Sam Carter"}),
    (f"userPrincipalName eq '{SAM_CARTER['userPrincipalName']}'", {"Sam Carter"}),
    (f"id eq '{SAM_CARTER['id']}'", {"Sam Carter"}),
    ("givenName eq 'Sam' and surname eq 'Carter'", {"Sam Carter"}),
    ("displayName eq 'Adele Vance'", {"Adele Vance"}),
    ("startswith(displayName,'meg')", {"Megan Bowen"}),
    ("startswith(userPrincipalName,'AdeleV@')", {"Adele Vance"}),
    ("jobTitle eq 'President'", {"Patti Fernandez"}),
    ("userPrincipalName in ('AdeleV@M365x214355.onmicrosoft.com','MeganB@M365x214355.onmicrosoft.com')",
     {"Adele Vance", "Megan Bowen"}),
    ("id in ('87d349ed-44d7-43e1-9a83-5f2406dee5bd','40079818-3808-4585-903b-02605f061225')",
     {"Adele Vance", "Patti Fernandez"}),
    ("displayName eq 'Adele Vance' or startswith(givenName,'Patti')", {"Adele Vance", "Patti Fernandez"}),
    ("(startswith(displayName,'A') or startswith(displayName,'M')) and surname eq 'Bowen'", {"Megan Bowen"}),
    ("accountEnabled eq false", set()),
    ("mail eq 'o''brien@example.com'", set()),
])
def test_default_filters(shared_graph: Graph, flt: str, expected: set[str]) -> None:
    resp = shared_graph.get("users", params={"$filter": flt, "$select": "displayName"})
    assert resp.status_code == 200, resp.text
    assert {u["displayName"] for u in resp.json()["value"]} == expected


def test_filter_on_generated_users(big: Graph) -> None:
    disabled = [u for p in big.pages("users?$filter=accountEnabled eq false&$select=id,accountEnabled&$top=999")
                for u in p["value"]]
    assert disabled and all(u["accountEnabled"] is False for u in disabled)
    guest = big.get("users?$filter=userType eq 'Guest'&$top=1&$select=userPrincipalName,mail").json()["value"][0]
    found = big.get("users", params={"$filter": f"userPrincipalName eq '{guest['userPrincipalName']}'"}).json()
    assert [u["mail"] for u in found["value"]] == [guest["mail"]]
    assert "#EXT#" in guest["userPrincipalName"]
    by_mail = big.get("users", params={"$filter": f"mail eq '{guest['mail']}'", "$select": "id"}).json()["value"]
    assert len(by_mail) == 1


@pytest.mark.parametrize(("flt", "operator"), [
    ("mail ne 'scarter@example.com'", "ne"),
    ("endswith(mail,'@example.com')", "endsWith"),
    ("not(accountEnabled eq true)", "not"),
    ("jobTitle eq null", "eq"),
])
def test_advanced_filters_need_consistency_level_and_count(shared_graph: Graph, flt: str, operator: str) -> None:
    plain = shared_graph.get("users", params={"$filter": flt})
    assert plain.status_code == 400
    assert plain.json()["error"]["code"] == "Request_UnsupportedQuery"
    assert plain.json()["error"]["message"].startswith(f"Operator '{operator}' is not supported")
    header_only = shared_graph.get("users", params={"$filter": flt}, headers=ADVANCED)
    assert header_only.status_code == 400
    advanced = shared_graph.get("users", params={"$filter": flt, "$count": "true"}, headers=ADVANCED)
    assert advanced.status_code == 200, advanced.text
    assert advanced.json()["@odata.count"] == len(advanced.json()["value"])


def test_advanced_endswith_and_count_results(shared_graph: Graph) -> None:
    body = shared_graph.get("users", params={"$filter": "endswith(mail,'@example.com')", "$count": "true",
                                             "$select": "mail"}, headers=ADVANCED).json()
    assert body["value"] == [{"mail": "scarter@example.com"}] and body["@odata.count"] == 1
    silent = shared_graph.get("users?$count=true&$top=1").json()
    assert "@odata.count" not in silent


def test_filter_errors(shared_graph: Graph) -> None:
    syntax = shared_graph.get("users", params={"$filter": "mail eq"})
    assert syntax.status_code == 400
    unknown = shared_graph.get("users", params={"$filter": "shoeSize eq 9"})
    assert unknown.status_code == 400 and "shoeSize" in unknown.json()["error"]["message"]
    contains = shared_graph.get("users", params={"$filter": "contains(mail,'a')"})
    assert contains.status_code == 400 and contains.json()["error"]["code"] == "Request_UnsupportedQuery"


def test_search_and_orderby(shared_graph: Graph) -> None:
    assert shared_graph.get("users", params={"$search": '"displayName:sam"'}).status_code == 400
    found = shared_graph.get("users", params={"$search": '"displayName:cart"', "$select": "displayName"},
                             headers=ADVANCED).json()["value"]
    assert found == [{"displayName": "Sam Carter"}]
    ordered = [u["displayName"] for p in shared_graph.pages("users?$orderby=displayName&$select=displayName&$top=7")
               for u in p["value"]]
    assert ordered == sorted(ordered, key=str.lower) and len(ordered) == 33
    mixed = shared_graph.get("users", params={"$orderby": "displayName", "$filter": "accountEnabled eq true"})
    assert mixed.status_code == 400 and mixed.json()["error"]["message"] == "Sorting not supported for current query."


def test_count_endpoint(shared_graph: Graph) -> None:
    assert shared_graph.get("users/$count").status_code == 400
    resp = shared_graph.get("users/$count", headers=ADVANCED)
    assert resp.headers["Content-Type"].startswith("text/plain") and resp.text == "33"


def test_paging_is_stable_while_users_change(emulator: Emulator, admin_graph: Graph) -> None:
    first = admin_graph.get("users?$top=10&$select=id,displayName").json()
    seen = {u["id"] for u in first["value"]}
    rest_before = [u["id"] for p in admin_graph.pages(first["@odata.nextLink"]) for u in p["value"]]
    emulator.delete_user(rest_before[0])
    created = emulator.create_user({"userPrincipalName": f"newhire@{emulator.domain}", "displayName": "New Hire"})
    rest_after = [u["id"] for p in admin_graph.pages(first["@odata.nextLink"]) for u in p["value"]]
    assert rest_after == rest_before[1:] + [created["id"]]
    assert not seen & set(rest_after)


def test_writes_need_readwrite_permission(graph: Graph) -> None:
    resp = graph.request("PATCH", f"users/{SAM_CARTER['id']}", json={"jobTitle": "Engineer"})
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "Authorization_RequestDenied"


def test_create_update_delete_through_graph(emulator: Emulator, admin_graph: Graph) -> None:
    body = {"accountEnabled": True, "displayName": "Jordan Lee", "mailNickname": "jlee",
            "userPrincipalName": f"jlee@{emulator.domain}", "mail": "jlee@example.com",
            "passwordProfile": {"forceChangePasswordNextSignIn": True, "password": "xWwvJ]6NMw+bWH-d"}}
    created = admin_graph.request("POST", "users", json=body)
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    assert created.json()["@odata.context"].endswith("$metadata#users/$entity")
    assert "passwordProfile" not in created.json()

    duplicate = admin_graph.request("POST", "users", json=body)
    assert duplicate.status_code == 400 and "userPrincipalName" in duplicate.json()["error"]["message"]
    foreign = admin_graph.request("POST", "users", json={**body, "userPrincipalName": "x@elsewhere.example"})
    assert foreign.status_code == 400 and "verified domain" in foreign.json()["error"]["message"]
    missing = admin_graph.request("POST", "users", json={"displayName": "No UPN"})
    assert missing.status_code == 400

    patched = admin_graph.request("PATCH", f"users/{user_id}", json={"jobTitle": "Engineer", "mobilePhone": None})
    assert patched.status_code == 204 and patched.content == b""
    assert admin_graph.get(f"users/{user_id}").json()["jobTitle"] == "Engineer"
    read_only = admin_graph.request("PATCH", f"users/{user_id}", json={"id": "x"})
    assert read_only.status_code == 400

    assert admin_graph.request("DELETE", f"users/{user_id}").status_code == 204
    assert admin_graph.get(f"users/{user_id}").status_code == 404
    deleted = admin_graph.get(f"directory/deletedItems/{user_id}").json()
    assert deleted["deletedDateTime"] and deleted["@odata.type"] == "#microsoft.graph.user"
    restored = admin_graph.request("POST", f"directory/deletedItems/{user_id}/restore")
    assert restored.status_code == 200
    assert admin_graph.get(f"users/{user_id}").status_code == 200


def test_me_is_refused_for_app_tokens(shared_graph: Graph) -> None:
    resp = shared_graph.get("me")
    assert resp.status_code == 400


def test_users_file_is_loaded(tmp_path: Path) -> None:
    users = tmp_path / "users.json"
    users.write_text('{"value": [{"id": "2f4b1c9e-0d7a-4e53-b812-6a9c3e5d7f10", "displayName": "Ana Lima",'
                     ' "userPrincipalName": "alima@M365x214355.onmicrosoft.com", "mail": "ana@example.com",'
                     ' "accountEnabled": false}]}')
    with Emulator(tmp_path / "state", users=users, seed_sample=False) as emu, pinned_session(emu) as session:
        graph = graph_for(emu, session)
        body = graph.get("users?$select=id,displayName,accountEnabled").json()
    assert body["value"] == [{"id": "2f4b1c9e-0d7a-4e53-b812-6a9c3e5d7f10", "displayName": "Ana Lima",
                              "accountEnabled": False}]


def test_keep_alive_serves_many_requests_on_one_connection(shared_graph: Graph) -> None:
    emu = shared_graph.emu
    conn = http.client.HTTPSConnection("127.0.0.1", emu.port, timeout=30,
                                       context=ssl.create_default_context(cafile=str(emu.ca_path)))
    try:
        for _ in range(3):
            conn.request("GET", "/v1.0/users?$top=2", headers={"Authorization": f"Bearer {shared_graph.token}"})
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == 200 and int(resp.headers["Content-Length"]) == len(body)
            assert not resp.will_close
    finally:
        conn.close()
