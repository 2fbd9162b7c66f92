"""POST /v1.0/$batch: up to 20 requests in one round trip, each answered on its own, as Graph does."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from controller.emulator import SAM_CARTER, Emulator
from tests.emulator.conftest import Graph, graph_for, pinned_session

GONE = "00000000-0000-4000-8000-00000000dead"


def _get(rid: str, key: str, select: str = "id,mail") -> dict[str, Any]:
    return {"id": rid, "method": "GET", "url": f"/users/{key}?$select={select}"}


def _batch(graph: Graph, requests: list[dict[str, Any]], **kw: Any) -> Any:
    return graph.request("POST", "$batch", json={"requests": requests}, **kw)


def _by_id(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in body["responses"]}


def test_a_batch_answers_each_read_on_its_own(graph: Graph) -> None:
    resp = _batch(graph, [_get("1", SAM_CARTER["id"]), _get("2", GONE), _get("3", SAM_CARTER["userPrincipalName"])])
    assert resp.status_code == 200
    answers = _by_id(resp.json())
    assert set(answers) == {"1", "2", "3"}
    assert answers["1"]["status"] == 200
    assert {k: v for k, v in answers["1"]["body"].items() if not k.startswith("@")} == {
        "id": SAM_CARTER["id"], "mail": SAM_CARTER["mail"]}
    assert answers["1"]["headers"]["Content-Type"].startswith("application/json")
    assert answers["2"]["status"] == 404
    assert answers["2"]["body"]["error"]["code"] == "Request_ResourceNotFound"
    assert answers["3"]["body"]["id"] == SAM_CARTER["id"]  # a UPN works as the key, as on its own


def test_a_batch_answers_as_the_same_requests_alone_do(graph: Graph) -> None:
    urls = [f"/users/{SAM_CARTER['id']}?$select=id,displayName,accountEnabled", f"/users/{GONE}",
            "/users?$top=2&$select=id", "/users?$filter=bogus(x)"]
    answers = _by_id(_batch(graph, [{"id": str(n), "method": "GET", "url": u} for n, u in enumerate(urls)]).json())
    for n, url in enumerate(urls):
        alone = graph.get(url.lstrip("/"))
        assert answers[str(n)]["status"] == alone.status_code, url
        if alone.status_code == 200:
            body = {k: v for k, v in alone.json().items() if k != "@odata.nextLink"}
            assert {k: v for k, v in answers[str(n)]["body"].items() if k != "@odata.nextLink"} == body
        else:
            assert answers[str(n)]["body"]["error"]["code"] == alone.json()["error"]["code"]


def test_responses_come_in_another_order_than_asked(graph: Graph) -> None:
    asked = [_get(str(n), SAM_CARTER["id"] if n % 2 else GONE) for n in range(5)]
    body = _batch(graph, asked).json()
    # Graph: responses "might appear in a different order" than the requests
    assert [r["id"] for r in body["responses"]] != [r["id"] for r in asked]
    assert {r["id"]: r["status"] for r in body["responses"]} == {"0": 404, "1": 200, "2": 404, "3": 200, "4": 404}


def test_a_batch_inside_a_batch_is_refused(graph: Graph) -> None:
    for url in ("/$batch", "/%24batch"):
        answers = _by_id(_batch(graph, [{"id": "1", "method": "POST", "url": url, "body": {"requests": []},
                                         "headers": {"Content-Type": "application/json"}}]).json())
        assert answers["1"]["status"] == 400 and answers["1"]["body"]["error"]["code"] == "BadRequest"


def test_more_than_twenty_requests_are_refused_whole(graph: Graph) -> None:
    assert _batch(graph, [_get(str(n), SAM_CARTER["id"]) for n in range(20)]).status_code == 200
    resp = _batch(graph, [_get(str(n), SAM_CARTER["id"]) for n in range(21)])
    assert resp.status_code == 400
    assert resp.json()["error"] | {"innerError": None} == {
        "code": "BadRequest", "message": "Number of requests inside batch exceeds the limit.", "innerError": None}


@pytest.mark.parametrize(("requests", "says"), [
    ([_get("a", SAM_CARTER["id"]), _get("A", GONE)], "is not unique"),  # ids compare without case
    ([{"id": "1", "method": "GET"}], "relative 'url'"),
    ([{"id": "1", "method": "GET", "url": "https://graph.microsoft.com/v1.0/users"}], "relative 'url'"),
    ([{"id": "1", "method": "TRACE", "url": "/users"}], "valid 'method'"),
    ([{"method": "GET", "url": "/users"}], "string 'id'"),
    ([{"id": "1", "method": "PATCH", "url": f"/users/{GONE}", "body": {"city": "x"}}], "no Content-Type"),
    ([{"id": "1", "method": "GET", "url": "/users", "dependsOn": ["2"]}], "depends on a request not before it"),
    ([], "non-empty array"),
])
def test_malformed_batches_are_refused_whole(graph: Graph, requests: list[Any], says: str) -> None:
    resp = _batch(graph, requests)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "BadRequest" and says in resp.json()["error"]["message"]


def test_a_batch_needs_a_token_and_a_post(graph: Graph) -> None:
    resp = graph.session.post(graph.url("$batch"), json={"requests": [_get("1", SAM_CARTER["id"])]}, timeout=30)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert graph.get("$batch").status_code == 405


def test_each_read_in_a_batch_needs_the_permission(emulator: Emulator) -> None:
    with pinned_session(emulator) as session:
        unprivileged = graph_for(emulator, session, roles=["Organization.Read.All"])
        answers = _by_id(_batch(unprivileged, [_get("1", SAM_CARTER["id"])]).json())
    assert answers["1"]["status"] == 403
    assert answers["1"]["body"]["error"]["code"] == "Authorization_RequestDenied"


def test_one_throttled_read_is_one_429_in_a_batch_answered_424(emulator: Emulator, graph: Graph) -> None:
    emulator.inject_fault(429, retry_after=3, count=1, path="/v1.0/users/")
    resp = _batch(graph, [_get("1", SAM_CARTER["id"]), _get("2", SAM_CARTER["id"])])
    assert resp.status_code == 424  # Graph's throttling guidance: the batch fails with 424, the rest answered
    answers = _by_id(resp.json())
    assert answers["1"]["status"] == 429 and answers["1"]["headers"]["Retry-After"] == "3"
    assert answers["1"]["body"]["error"]["code"] == "TooManyRequests"
    assert answers["2"]["status"] == 200  # the fault fired once: the next request is answered


def test_a_dropped_read_is_a_gateway_timeout_and_fails_what_depends_on_it(emulator: Emulator, graph: Graph) -> None:
    emulator.inject_fault(kind="drop", count=1, path="/v1.0/users/")
    answers = _by_id(_batch(graph, [_get("1", SAM_CARTER["id"]),
                                    {**_get("2", SAM_CARTER["id"]), "dependsOn": ["1"]},
                                    _get("3", SAM_CARTER["id"])]).json())
    assert [answers[n]["status"] for n in ("1", "2", "3")] == [504, 424, 200]


def test_the_batch_itself_can_be_throttled(emulator: Emulator, graph: Graph) -> None:
    emulator.inject_fault(429, retry_after=2, count=1, path="/v1.0/$batch")
    resp = _batch(graph, [_get("1", SAM_CARTER["id"])])
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "2"
    assert _batch(graph, [_get("1", SAM_CARTER["id"])]).status_code == 200


def test_latency_is_one_round_trip_per_batch_not_per_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    latency = 0.0123  # a value nothing else sleeps: the waits the emulator adds are counted, not timed
    waits: list[float] = []
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        if seconds == latency:
            waits.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", sleep)
    with Emulator(tmp_path, page_latency=latency) as emu, pinned_session(emu) as session:
        graph = graph_for(emu, session)
        assert _batch(graph, [_get(str(n), SAM_CARTER["id"]) for n in range(20)]).status_code == 200
        assert len(waits) == 1
        for _ in range(3):
            assert graph.get(f"users/{SAM_CARTER['id']}").status_code == 200
        assert len(waits) == 4
