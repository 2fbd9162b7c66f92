"""GraphConnector.get_users: sources confirmed by id 20 at a time with JSON batching, against the emulator."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from controller.connectors.msgraph import GraphConnector
from controller.emulator import Emulator
from controller.errors import GraphError, GraphThrottled

SELECT = ["mail", "userPrincipalName"]


class CountingSession(requests.Session):
    """A plain session that counts what it sends (by method and path), the reads in each batch, and the
    most requests it had in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str]] = []
        self.batches: list[list[str]] = []  # the URL of each read in each $batch sent
        self.in_flight = self.most_in_flight = 0
        self._lock = threading.Lock()

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        with self._lock:
            path = requests.utils.urlparse(str(url)).path
            self.sent.append((str(method), path))
            if path.endswith("/$batch"):
                self.batches.append([r["url"] for r in json.loads(kwargs["data"])["requests"]])
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return super().request(method, url, *args, **kwargs)
        finally:
            with self._lock:
                self.in_flight -= 1

    def graph(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.sent if p.startswith("/v1.0/")]


@pytest.fixture
def tenant(tmp_path: Path) -> Iterator[Emulator]:
    """50 generated users (read-only here)."""
    with Emulator(tmp_path, generate=50, seed_sample=False) as emu:
        yield emu


def _missing(n: int) -> list[str]:
    return [f"00000000-0000-4000-8000-{i:012d}" for i in range(n)]


def _ids(connector: GraphConnector) -> list[str]:
    return [u["id"] for page in connector.iter_users(["id"]) for u in page]


def test_existing_users_are_read_in_batches_of_twenty(tenant: Emulator, settings_for: Any, sleeps: Any) -> None:
    session = CountingSession()
    connector = GraphConnector(settings_for(tenant), session=session, sleep=sleeps)
    users = _ids(connector)[:40]
    asked = users + _missing(5)
    session.sent.clear()
    found = connector.get_users(asked + users[:3], SELECT)  # a repeated id is read once
    assert sorted(found) == sorted(users)
    assert all(found[uid]["id"] == uid and "mail" in found[uid] and "userPrincipalName" in found[uid]
               for uid in users)
    assert session.graph() == [("POST", "/v1.0/$batch")] * 3  # 45 ids: 20 + 20 + 5, no GET by id
    assert [len(b) for b in session.batches] == [20, 20, 5]
    assert connector.get_users([], SELECT) == {} and len(session.graph()) == 3
    connector.close()


def test_answers_equal_get_user(tenant: Emulator, connect: Any) -> None:
    connector = connect(tenant)
    uid = _ids(connector)[7]
    assert connector.get_users([uid], SELECT)[uid] == connector.get_user(uid, SELECT)


def test_a_throttled_read_is_sent_again_after_its_retry_after(tenant: Emulator, settings_for: Any,
                                                              sleeps: Any) -> None:
    session = CountingSession()
    connector = GraphConnector(settings_for(tenant), session=session, sleep=sleeps)
    users = _ids(connector)[:20]
    tenant.inject_fault(429, retry_after=4, count=2, skip=5, path="/v1.0/users/")
    session.sent.clear()
    assert sorted(connector.get_users(users, SELECT)) == sorted(users)
    assert sleeps == [4]  # the two throttled reads waited once, as Graph asked
    assert session.graph() == [("POST", "/v1.0/$batch")] * 2
    assert len(session.batches[1]) == 2 and set(session.batches[1]) < set(session.batches[0])  # only those two
    connector.close()


def test_throttling_past_the_budget_raises_graph_throttled(tenant: Emulator, connect: Any, sleeps: Any) -> None:
    connector = connect(tenant, max_retry_wait=10)
    users = _ids(connector)[:3]
    tenant.inject_fault(429, retry_after=3, count=None, path="/v1.0/users/")
    with pytest.raises(GraphThrottled) as caught:
        connector.get_users(users, SELECT)
    err = caught.value
    assert err.status == 429 and err.code == "TooManyRequests" and err.retry_after == 3
    assert "(in a $batch)" in str(err) and any(f"GET /users/{uid} " in str(err) for uid in users)
    assert sleeps == [3, 3, 3]  # 9 s of the 10 s budget; a fourth wait would pass it
    assert tenant.client_secret not in str(err) + (err.hint or "")


def test_a_throttled_batch_is_retried_whole(tenant: Emulator, connect: Any, sleeps: Any) -> None:
    connector = connect(tenant)
    users = _ids(connector)[:5]
    tenant.inject_fault(503, retry_after=2, count=1, path="/v1.0/$batch")
    assert sorted(connector.get_users(users, SELECT)) == sorted(users)
    assert sleeps == [2]


def test_a_read_refused_for_want_of_permission_names_it(tenant: Emulator, connect: Any) -> None:
    client_id, secret = tenant.add_app(["Organization.Read.All"])
    connector = connect(tenant, client_id=client_id, client_secret=secret)
    with pytest.raises(GraphError) as caught:
        connector.get_users(_missing(1), SELECT)
    err = caught.value
    assert err.status == 403 and err.code == "Authorization_RequestDenied"
    assert "User.Read.All" in (err.hint or "") and "(in a $batch)" in str(err)


def test_another_failure_in_a_batch_fails_the_read(tenant: Emulator, connect: Any) -> None:
    connector = connect(tenant)
    users = _ids(connector)[:2]
    tenant.inject_fault(500, count=1, path="/v1.0/users/")
    with pytest.raises(GraphError) as caught:
        connector.get_users(users, SELECT)
    assert caught.value.status == 500 and not isinstance(caught.value, GraphThrottled)


@pytest.mark.parametrize("body", ['{"responses": {}}', '{"value": []}', "[]", '{"responses": [{"id": [1]}]}',
                                  '{"responses": [{"id": "1", "status": 200, "body": []}]}'])
def test_a_batch_answer_of_the_wrong_shape_is_refused(tenant: Emulator, connect: Any, body: str) -> None:
    connector = connect(tenant)
    users = _ids(connector)[:2]
    tenant.inject_fault(kind="body", body=body, count=1, path="/v1.0/$batch")
    with pytest.raises(GraphError) as caught:
        connector.get_users(users, SELECT)
    assert caught.value.code == "UNEXPECTED_SHAPE" and "POST" in str(caught.value)


def test_batches_run_read_concurrency_at_a_time_and_share_the_back_off(tenant: Emulator, connect: Any,
                                                                       sleeps: Any) -> None:
    connector = connect(tenant, read_concurrency=4)
    users = _ids(connector)
    tenant.inject_fault(429, retry_after=6, count=1, skip=30, path="/v1.0/users/")
    assert sorted(connector.get_users(users + _missing(10), SELECT)) == sorted(users)
    # The throttled read's batch waits its 6 s; the gate holds every reader for them too.
    assert 6 in sleeps and all(s <= 6 for s in sleeps)


@pytest.mark.parametrize("status", [503, 504])
def test_a_read_unavailable_in_a_batch_is_retried_too(tenant: Emulator, connect: Any, sleeps: Any,
                                                      status: int) -> None:
    connector = connect(tenant)
    users = _ids(connector)[:4]
    tenant.inject_fault(status, retry_after=2, count=1, skip=1, path="/v1.0/users/")
    assert sorted(connector.get_users(users, SELECT)) == sorted(users)
    assert len(sleeps) == 1


def test_the_longest_retry_after_asked_is_waited(tenant: Emulator, connect: Any, sleeps: Any) -> None:
    connector = connect(tenant)
    users = _ids(connector)[:6]
    tenant.inject_fault(429, retry_after=2, count=1, skip=1, path="/v1.0/users/")
    tenant.inject_fault(429, retry_after=5, count=1, skip=3, path="/v1.0/users/")
    assert sorted(connector.get_users(users, SELECT)) == sorted(users)
    assert sleeps == [5]


def test_a_user_answered_without_its_id_is_refused(tenant: Emulator, connect: Any) -> None:
    connector = connect(tenant)
    [uid] = _ids(connector)[:1]
    tenant.inject_fault(kind="body", count=1, path="/v1.0/$batch",
                        body=json.dumps({"responses": [{"id": "1", "status": 200, "body": {"mail": "x@example.com"}}]}))
    with pytest.raises(GraphError) as caught:
        connector.get_users([uid], SELECT)
    assert caught.value.code == "UNEXPECTED_SHAPE" and f"GET /users/{uid} has no user 'id'" in str(caught.value)


def test_batches_are_sent_read_concurrency_at_a_time(tmp_path: Path, settings_for: Any, sleeps: Any) -> None:
    with Emulator(tmp_path, generate=80, seed_sample=False, page_latency=0.05) as emu:
        session = CountingSession()
        connector = GraphConnector(settings_for(emu, read_concurrency=4), session=session, sleep=sleeps)
        users = _ids(connector)
        session.most_in_flight = 0
        assert sorted(connector.get_users(users, SELECT)) == sorted(users)
        connector.close()
    assert len(session.batches) == 4 and session.most_in_flight >= 2  # the batches waited their latency together


def test_a_throttled_read_holds_back_the_other_readers(tenant: Emulator, connect: Any, sleeps: Any) -> None:
    connector = connect(tenant, read_concurrency=2)  # partitioned: its readers share one ThrottleGate
    users = _ids(connector)[:5]
    tenant.inject_fault(429, retry_after=6, count=1, path="/v1.0/users/")
    assert sorted(connector.get_users(users, SELECT)) == sorted(users)
    # The throttled batch waits its 6 s, and its next request then waits out the hold it set (the
    # recorded sleeps take no time, so the hold is still in force): every reader would have.
    assert sleeps[0] == 6 and len(sleeps) == 2 and 5 < sleeps[1] <= 6


def test_the_first_failure_stops_the_batches_not_yet_sent(tenant: Emulator, settings_for: Any,
                                                          sleeps: Any) -> None:
    session = CountingSession()
    connector = GraphConnector(settings_for(tenant, read_concurrency=2), session=session, sleep=sleeps)
    users = _ids(connector)
    chunks = -(-(len(users) + 150) // 20)
    tenant.inject_fault(403, count=None, path="/v1.0/users/")
    with pytest.raises(GraphError) as caught:
        connector.get_users(users + _missing(150), SELECT)
    assert caught.value.status == 403
    assert len(session.batches) < chunks  # 10 batches to send; the readers stopped after the first answers
    connector.close()
