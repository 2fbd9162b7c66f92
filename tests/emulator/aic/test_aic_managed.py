"""Managed objects: _rev on every write, If-Match / If-None-Match, relationships, query filters, cookie paging."""

from __future__ import annotations

from typing import Any

import pytest

from controller.emulator.aic import APP_OWNER, AicEmulator
from tests.emulator.aic.conftest import Tenant

APP = "/openidm/managed/alpha_application/0f357b7e-6c54-4351-a094-43916877d7e5"


def application(**changes: Any) -> dict[str, Any]:
    return {"name": "Microsoft Entra ID", "authoritative": True, "connectorId": "Entra", "templateName": "azure.ad",
            "mappingNames": ["systemEntraUser_managedAlpha_user"],
            "owners": [{"_ref": f"managed/alpha_user/{APP_OWNER['_id']}", "_refProperties": {}}], **changes}


def test_app_owner_is_seeded(tenant: Tenant) -> None:
    found = tenant.get('/openidm/managed/alpha_user?_queryFilter=userName eq "app-owner"').json()
    assert [u["_id"] for u in found["result"]] == [APP_OWNER["_id"]]
    assert found["result"][0]["_rev"]


def test_put_upserts_with_a_new_rev_every_write(tenant: Tenant) -> None:
    created = tenant.put(APP, application())
    assert created.status_code == 201 and created.headers["ETag"] == f'"{created.json()["_rev"]}"'
    replaced = tenant.put(APP, application(authoritative=False))
    assert replaced.status_code == 200 and replaced.json()["_rev"] != created.json()["_rev"]
    assert tenant.get(APP).json()["_rev"] == replaced.json()["_rev"]


def test_if_none_match_star_is_create_only(tenant: Tenant) -> None:
    assert tenant.put(APP, application(), headers={"If-None-Match": "*"}).status_code == 201
    again = tenant.put(APP, application(), headers={"If-None-Match": "*"})
    assert again.status_code == 412 and again.json()["reason"] == "Precondition Failed"


def test_if_match_checks_the_rev(tenant: Tenant) -> None:
    rev = tenant.put(APP, application()).json()["_rev"]
    stale = tenant.put(APP, application(name="x"), headers={"If-Match": '"not-the-rev"'})
    assert stale.status_code == 412
    ok = tenant.put(APP, application(name="x"), headers={"If-Match": f'"{rev}"'})
    assert ok.status_code == 200 and ok.json()["name"] == "x"
    assert tenant.delete(APP, headers={"If-Match": rev}).status_code == 412  # rev changed with the write
    assert tenant.delete(APP, headers={"If-Match": ok.json()["_rev"]}).status_code == 200
    assert tenant.get(APP).status_code == 404


def test_relationships_are_stored_as_given_and_returned_when_asked(tenant: Tenant) -> None:
    tenant.put(APP, application())
    default = tenant.get(APP).json()
    assert "owners" not in default and default["connectorId"] == "Entra"
    asked = tenant.get(APP + "?_fields=name,owners").json()
    assert asked["owners"] == application()["owners"] and set(asked) == {"_id", "_rev", "name", "owners"}
    assert tenant.get(APP + "?_fields=*,*_ref").json()["owners"] == application()["owners"]


def test_action_create_assigns_an_id(tenant: Tenant) -> None:
    created = tenant.post("/openidm/managed/alpha_user?_action=create",
                          {"userName": "alex", "givenName": "Alex", "sn": "W", "mail": "alex@example.com"})
    assert created.status_code == 201
    assert tenant.get(f"/openidm/managed/alpha_user/{created.json()['_id']}").json()["userName"] == "alex"


def test_unknown_object_types_are_404(tenant: Tenant) -> None:
    assert tenant.get("/openidm/managed/nothing?_queryFilter=true").status_code == 404


def _users(aic_emulator: AicEmulator, n: int) -> None:
    for i in range(n):
        aic_emulator.add_user({"userName": f"user{i:02d}", "givenName": f"G{i}", "sn": "Test",
                               "mail": f"user{i:02d}@example.com", "age": i})


def test_query_paging_with_cookies_and_fields(aic_emulator: AicEmulator, tenant: Tenant) -> None:
    _users(aic_emulator, 7)
    seen: list[str] = []
    cookie = ""
    pages = 0
    while True:
        params = {"_queryFilter": '/sn eq "Test"', "_pageSize": 3, "_fields": "userName"}
        if cookie:
            params["_pagedResultsCookie"] = cookie
        page = tenant.get("/openidm/managed/alpha_user", params=params).json()
        pages += 1
        assert all(set(u) == {"_id", "_rev", "userName"} for u in page["result"])
        seen += [u["userName"] for u in page["result"]]
        cookie = page["pagedResultsCookie"]
        if not cookie:
            break
    assert pages == 3 and seen == [f"user{i:02d}" for i in range(7)]


@pytest.mark.parametrize(("flt", "expected"), [
    ('userName sw "user0" and !(age lt 5)', ["user05", "user06"]),
    ("!(userName co 'user') or userName eq \"USER03\"", ["app-owner", "user03"]),
    ("(age ge 2 and age le 3) or age gt 5", ["user02", "user03", "user06"]),
    ("age pr and /mail co \"04@\"", ["user04"]),
    ("true", ["app-owner"] + [f"user{i:02d}" for i in range(7)]),
    ("false", []),
])
def test_query_filters(aic_emulator: AicEmulator, tenant: Tenant, flt: str, expected: list[str]) -> None:
    _users(aic_emulator, 7)
    found = tenant.get("/openidm/managed/alpha_user", params={"_queryFilter": flt}).json()
    assert sorted(u["userName"] for u in found["result"]) == expected


def test_the_word_not_is_refused(tenant: Tenant) -> None:
    resp = tenant.get("/openidm/managed/alpha_user", params={"_queryFilter": 'not (userName eq "x")'})
    assert resp.status_code == 400 and resp.json()["code"] == 400 and "!" in resp.json()["message"]
