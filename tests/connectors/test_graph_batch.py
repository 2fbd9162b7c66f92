"""GraphConnector.get_users: sources confirmed by id 20 at a time with JSON batching, against the emulator."""

from __future__ import annotations

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
    """A plain session that counts what it sends, by method and path."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        self.sent.append((str(method), requests.utils.urlparse(str(url)).path))
        return super().request(method, url, *args, **kwargs)

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
    assert session.graph() == [("POST", "/v1.0/$batch")] * 2  # the second batch holds only those two
    connector.close()


def test_throttling_past_the_budget_raises_graph_throttled(tenant: Emulator, connect: Any, sleeps: Any) -> None:
    connector = connect(tenant, max_retry_wait=10)
    users = _ids(connector)[:3]
    tenant.inject_fault(429, retry_after=3, count=None, path="/v1.0/users/")
    with pytest.raises(GraphThrottled) as caught:
        connector.get_users(users, SELECT)
    err = caught.value
    assert err.status == 429 and err.code == "TooManyRequests" and err.retry_after == 3
    assert "(in a $batch)" in str(err) and f"GET /users/{users[0]}" in str(err)
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


@pytest.mark.parametrize("body", ['{"responses": {}}', '{"value": []}', "[]"])
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
