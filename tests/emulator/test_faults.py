"""Injected faults as a client sees them: 429 + Retry-After, 5xx, dropped connections, the admin API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from controller.emulator import SAM_CARTER, Emulator, Fault
from controller.errors import UsageError
from tests.emulator.conftest import Graph, acquire, graph_for, pinned_session


def test_429_carries_retry_after_then_clears(emulator: Emulator, graph: Graph) -> None:
    emulator.inject_fault(429, retry_after=1, count=1, path="/v1.0/users")
    throttled = graph.get("users?$top=1")
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "1"
    assert throttled.headers["x-ms-throttle-information"] == "ResourceUnitLimitExceeded"
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    assert graph.get("users?$top=1").status_code == 200


@pytest.mark.parametrize("status", [429, 503, 504])
def test_a_retrying_client_rides_out_throttling(emulator: Emulator, session: requests.Session,
                                                status: int) -> None:
    graph = graph_for(emulator, session)
    session.mount("https://", HTTPAdapter(max_retries=Retry(
        total=4, status_forcelist=[429, 503, 504], backoff_factor=0, respect_retry_after_header=True,
        allowed_methods={"GET"}, raise_on_status=False)))
    emulator.inject_fault(status, retry_after=0, count=2, path="/v1.0/users")
    resp = graph.get("users?$top=1")
    assert resp.status_code == 200
    assert emulator.faults.list() == []


def test_skip_lets_the_first_pages_through(emulator: Emulator, graph: Graph) -> None:
    first = graph.get("users?$top=5").json()
    emulator.inject_fault(503, skip=1, count=1, path="/v1.0/users")
    second = graph.get(first["@odata.nextLink"])
    third = graph.get(second.json()["@odata.nextLink"])
    assert (second.status_code, third.status_code) == (200, 503)


def test_dropped_connection_raises_connection_error(emulator: Emulator, graph: Graph) -> None:
    emulator.inject_fault(drop=True, count=1)
    with pytest.raises(requests.ConnectionError):
        graph.get("users?$top=1")
    assert graph.get("users?$top=1").status_code == 200


def test_token_endpoint_can_be_throttled_too(emulator: Emulator, session: requests.Session) -> None:
    emulator.inject_fault(429, retry_after=3, path=f"/{emulator.tenant_id}/oauth2")
    resp = session.post(f"{emulator.authority}/oauth2/v2.0/token", timeout=30,
                        data={"grant_type": "client_credentials", "client_id": emulator.client_id,
                              "client_secret": emulator.client_secret, "scope": f"{emulator.graph_url}/.default"})
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "3"


def test_constructor_faults(tmp_path: Path) -> None:
    with Emulator(tmp_path, faults=["503,retry-after=2,count=1,path=/v1.0/users,method=GET"]) as emu, \
            pinned_session(emu) as session:
        graph = graph_for(emu, session)
        resp = graph.get("users")
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "2"


def test_admin_api_drives_faults_users_and_delta(emulator: Emulator, session: requests.Session,
                                                graph: Graph) -> None:
    admin = f"{emulator.base_url}/_emulator"
    session.headers.update(emulator.admin_headers())  # Graph ignores it; the admin API needs it
    info = session.get(f"{admin}/info", timeout=30).json()
    assert info["tenantId"] == emulator.tenant_id and info["users"] == 33
    assert emulator.client_secret not in str(info)

    added = session.post(f"{admin}/faults", json={"spec": "429,retry-after=1,count=1"}, timeout=30)
    assert added.status_code == 201 and added.json()["status"] == 429
    assert graph.get("users").status_code == 429
    session.post(f"{admin}/faults", json={"status": 503, "count": None}, timeout=30)
    assert session.get(f"{admin}/faults", timeout=30).json()["value"][0]["status"] == 503
    assert session.delete(f"{admin}/faults", timeout=30).status_code == 204
    assert graph.get("users").status_code == 200

    link = graph.get("users/delta?$deltatoken=latest").json()["@odata.deltaLink"]
    created = session.post(f"{admin}/users", json={"userPrincipalName": f"kim@{emulator.domain}",
                                                    "displayName": "Kim Lee"}, timeout=30).json()
    assert session.patch(f"{admin}/users/{created['id']}", json={"jobTitle": "Chef"}, timeout=30).ok
    assert session.delete(f"{admin}/users/{created['id']}?permanent=true", timeout=30).status_code == 204
    changes = graph.get(link).json()["value"]
    assert changes == [{"id": created["id"], "@removed": {"reason": "deleted"}}]

    assert session.post(f"{admin}/delta/expire", json={}, timeout=30).status_code == 204
    assert graph.get(link).json()["error"]["code"] == "syncStateNotFound"
    bad = session.post(f"{admin}/faults", json={"spec": "teapot"}, timeout=30)
    assert bad.status_code == 400


ADMIN_CALLS = [
    ("GET", "info", None),
    ("GET", "faults", None),
    ("POST", "faults", {"spec": "drop,count=1"}),
    ("DELETE", "faults", None),
    ("POST", "apps", {"roles": ["Directory.ReadWrite.All"]}),
    ("POST", "users", {"userPrincipalName": "mallory@M365x214355.onmicrosoft.com"}),
    ("DELETE", f"users/{SAM_CARTER['id']}?permanent=true", None),
    ("POST", "delta/expire", {}),
    ("GET", "no-such-route", None),
]


@pytest.mark.parametrize(("method", "route", "body"), ADMIN_CALLS, ids=[f"{c[0]} {c[1]}" for c in ADMIN_CALLS])
def test_admin_api_refuses_requests_without_its_token(emulator: Emulator, session: requests.Session,
                                                      method: str, route: str, body: dict[str, Any] | None) -> None:
    url = f"{emulator.base_url}/_emulator/{route}"
    missing = session.request(method, url, json=body, timeout=30)
    assert missing.status_code == 401
    error = missing.json()["error"]
    assert error["code"] == "AdminTokenRequired"
    assert "X-Emulator-Token" in error["message"] and str(emulator.admin_token_path) in error["message"]
    wrong = session.request(method, url, json=body, timeout=30, headers={"X-Emulator-Token": "guess"})
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "AdminTokenInvalid"
    # Nothing happened: no app, no user change, no fault, no expired delta token.
    assert emulator.faults.list() == []
    assert emulator.get_user(SAM_CARTER["id"]) is not None
    assert len(emulator._tenant.apps) == 1
    assert emulator.admin_token not in missing.text + wrong.text


def test_admin_token_is_private_to_the_state_directory(tmp_path: Path) -> None:
    with Emulator(tmp_path) as first:
        token = first.admin_token
        assert (tmp_path / "admin_token").read_text().strip() == token
        assert (tmp_path / "admin_token").stat().st_mode & 0o777 == 0o600
        assert first.settings()["adminTokenFile"] == str(tmp_path / "admin_token")
    with Emulator(tmp_path) as second:
        assert second.admin_token == token
    with Emulator(tmp_path / "other") as other:
        assert other.admin_token != token


def test_expired_secret_fault_is_aadsts7000222(emulator: Emulator, session: requests.Session) -> None:
    graph = graph_for(emulator, session)
    emulator.inject_fault(kind="expired-secret", count=1)
    assert graph.get("users?$top=1").status_code == 200  # Graph GETs are not touched by a login fault
    result = acquire(emulator, session)
    assert result["error"] == "invalid_client" and result["error_codes"] == [7000222]
    assert result["error_description"].startswith(
        f"AADSTS7000222: The provided client secret keys for app '{emulator.client_id}' are expired. "
        "Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret")
    assert "Trace ID:" in result["error_description"]
    assert "access_token" in acquire(emulator, session)  # count=1: the next sign-in works


@pytest.mark.parametrize(("spec", "kind"), [
    ("expired-secret", "expired-secret"), ("not-json,skip=1", "not-json"), ("html", "html"),
    ("next-link-loop,count=*", "next-link-loop"), ("oversized-page,items=5000", "oversized-page"),
    ("huge-value,size=100", "huge-value"), ("drop", "drop"),
])
def test_fault_kinds_parse_from_specs(spec: str, kind: str) -> None:
    assert Fault.parse(spec).kind == kind


@pytest.mark.parametrize("spec", ["oversized-page", "huge-value", "body", "status", "teapot"])
def test_fault_kinds_that_need_more_are_refused(spec: str) -> None:
    with pytest.raises(UsageError):
        Fault.parse(spec)


def test_page_faults_break_graph_pages(emulator: Emulator, graph: Graph) -> None:
    emulator.inject_fault(kind="html")
    html = graph.get("users?$top=2")
    assert html.status_code == 200 and html.headers["Content-Type"].startswith("text/html")
    emulator.inject_fault(kind="not-json")
    with pytest.raises(ValueError):
        graph.get("users?$top=2").json()
    emulator.inject_fault(kind="body", body="[]")
    assert graph.get("users?$top=2").json() == []
    emulator.inject_fault(kind="next-link-loop")
    looping = graph.get("users?$top=2").json()
    assert looping["@odata.nextLink"] == graph.url("users?$top=2") and len(looping["value"]) == 2
    emulator.inject_fault(kind="oversized-page", items=1500)
    big = graph.get("users?$top=2")
    assert "Content-Length" not in big.headers and len(big.json()["value"]) == 1500
    emulator.inject_fault(kind="huge-value", size=3000)
    assert len(graph.get("users?$top=2").json()["value"][0]["displayName"]) == 3000
    assert emulator.faults.list() == [] and graph.get("users?$top=2").status_code == 200
