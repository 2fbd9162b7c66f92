"""Injected faults as a client sees them: 429 + Retry-After, 5xx, dropped connections, the admin API."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from controller.emulator import Emulator
from tests.emulator.conftest import Graph, graph_for, pinned_session


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
