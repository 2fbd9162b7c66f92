"""Graph answers the connector cannot use, through msal + requests against the emulator's faults.

Wrong shapes, bodies that are not JSON, nextLinks that loop, pages and values too large, and a login
that drops or refuses: each ends as a typed ``ConnectorError`` naming the page (never a TypeError), is
retried where a retry can help, and never repeats a secret or an opaque paging token.
"""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from controller.connectors.msgraph import GraphConnector, ReadLimits
from controller.emulator import Emulator
from controller.errors import AuthError, ConnectorError, GraphAnswerInvalid

Connect = Callable[..., GraphConnector]
SELECT = ["displayName", "mail"]


@pytest.fixture
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """An emulator of its own with 60 users (the sample tenant, Sam Carter and 27 generated)."""
    with Emulator(tmp_path_factory.mktemp("answers"), generate=27) as emu:
        yield emu


def read_all(connector: GraphConnector) -> list[dict[str, Any]]:
    return [u for page in connector.iter_users(SELECT) for u in page]


def assert_clean(text: str, emu: Emulator, connector: GraphConnector) -> None:
    """No secret, no bearer token and no opaque paging token in what a user is shown."""
    assert emu.client_secret not in text
    assert connector.token() not in text
    assert not re.search(r"\$skiptoken=[^&…\s)]", text), text


# -- 7: answers of the wrong shape --------------------------------------------------------------------

SHAPES = [
    ('{"value": {"id": "3f1c"}}', "'value' is an object, not a list"),
    ('{"value": [{"displayName": "No Id"}]}', "item 0 of 'value' has no 'id'"),
    ('{"value": [{"id": 42}]}', "item 0 of 'value' has an 'id' that is int 42"),
    ('{"value": ["alice", "bob"]}', "item 0 of 'value' is a string 'alice', not an object"),
    ('[{"id": "3f1c"}]', "the answer is a list, not a JSON object"),
    ('"users"', "the answer is a string 'users', not a JSON object"),
    ('{"@odata.context": "x"}', "the answer has no 'value' list of users"),
    ('{"value": [], "@odata.nextLink": {"href": "x"}}', "'@odata.nextLink' is an object, not a URL"),
]


@pytest.mark.parametrize(("body", "words"), SHAPES, ids=[s[1] for s in SHAPES])
def test_a_page_of_the_wrong_shape_is_a_typed_error_naming_the_page(
        body: str, words: str, fresh: Emulator, connect: Connect) -> None:
    connector = connect(fresh, page_size=10)
    fresh.inject_fault(kind="body", body=body, path="/v1.0/users", skip=1)
    with pytest.raises(GraphAnswerInvalid) as err:
        read_all(connector)
    message = str(err.value)
    assert err.value.code == "UNEXPECTED_SHAPE" and err.value.status == 200
    assert f"page 2 of GET {fresh.graph_url}/v1.0/users?$select=id,displayName,mail&$top=10&$skiptoken=…" in message
    assert words in message
    assert_clean(message, fresh, connector)


def test_the_first_page_of_the_wrong_shape_names_the_request(fresh: Emulator, connect: Connect) -> None:
    connector = connect(fresh, page_size=10)
    fresh.inject_fault(kind="body", body='{"value": 17}', path="/v1.0/users")
    with pytest.raises(GraphAnswerInvalid, match=r"page 1 of GET https://127\.0\.0\.1:\d+/v1\.0/users\?\$select="
                                                 r"id,displayName,mail&\$top=10: 'value' is int 17, not a list"):
        read_all(connector)


@pytest.mark.parametrize(("body", "words"), [
    ('{"value": ["gone"], "@odata.deltaLink": "x"}', "item 0 of 'value' is a string 'gone', not an object"),
    ('{"value": [{"@removed": {"reason": "deleted"}}]}', "item 0 of 'value' has no 'id'"),
])
def test_a_delta_page_of_the_wrong_shape_is_typed_too(body: str, words: str, fresh: Emulator,
                                                     connect: Connect) -> None:
    connector = connect(fresh)
    link = connector.latest_delta_link(SELECT)
    fresh.inject_fault(kind="body", body=body, path="/v1.0/users/delta")
    with pytest.raises(GraphAnswerInvalid) as err:
        list(connector.read_delta(link))
    assert words in str(err.value) and "$deltatoken=…" in str(err.value)
    assert_clean(str(err.value), fresh, connector)


def test_a_user_read_by_id_without_an_id_is_typed(fresh: Emulator, connect: Connect) -> None:
    connector = connect(fresh)
    fresh.inject_fault(kind="body", body='{"displayName": "Sam Carter"}', path="/v1.0/users/")
    with pytest.raises(GraphAnswerInvalid, match="the user has no 'id'"):
        connector.get_user("0c1e7f52-3a9d-4b86-8e25-6f4d2a1b9c30", SELECT)


# -- 8: bodies that are not JSON ------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["not-json", "html"])
def test_a_broken_page_mid_listing_is_retried_like_a_5xx(kind: str, fresh: Emulator, connect: Connect,
                                                        sleeps: list[float]) -> None:
    connector = connect(fresh, page_size=10)
    expected = read_all(connector)
    fresh.inject_fault(kind=kind, path="/v1.0/users", skip=2, count=2)
    assert read_all(connector) == expected
    assert fresh.faults.list() == []
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0  # the 5xx backoff


@pytest.mark.parametrize("kind", ["not-json", "html"])
def test_a_page_broken_past_the_budget_is_reported_as_transient(kind: str, fresh: Emulator, connect: Connect,
                                                               sleeps: list[float]) -> None:
    connector = connect(fresh, page_size=10, max_retry_wait=5)
    fresh.inject_fault(kind=kind, path="/v1.0/users", skip=1, count=None)
    with pytest.raises(GraphAnswerInvalid) as err:
        read_all(connector)
    assert err.value.code == "NOT_JSON"
    message = str(err.value)
    assert "page 2 of GET" in message and "not JSON" in message and "also on every retry" in message
    assert "spec.graphUrl" not in message and "run again later" in message
    assert sleeps and sum(sleeps) <= 5
    assert_clean(message, fresh, connector)


def test_the_first_answer_not_json_says_check_graph_url_at_once(fresh: Emulator, connect: Connect,
                                                               sleeps: list[float]) -> None:
    connector = connect(fresh)
    fresh.inject_fault(kind="html", path="/v1.0/users", count=None)
    with pytest.raises(GraphAnswerInvalid) as err:
        read_all(connector)
    assert err.value.code == "NOT_JSON" and "(text/html)" in str(err.value)
    assert "Check spec.graphUrl" in str(err.value)
    assert sleeps == []  # nothing suggests a passing fault: no wait before saying so


# -- 9: the login --------------------------------------------------------------------------------------

def test_a_dropped_token_request_is_retried(fresh: Emulator, connect: Connect, sleeps: list[float]) -> None:
    fresh.inject_fault(drop=True, method="POST", path=f"/{fresh.tenant_id}/oauth2/v2.0/token")
    connector = connect(fresh)
    assert connector.token_claims()["tid"] == fresh.tenant_id
    assert fresh.faults.list() == [] and len(sleeps) == 1


def test_a_token_endpoint_that_keeps_dropping_is_a_network_error(fresh: Emulator, connect: Connect,
                                                                sleeps: list[float]) -> None:
    fresh.inject_fault(drop=True, method="POST", path=f"/{fresh.tenant_id}/oauth2/v2.0/token", count=None)
    connector = connect(fresh, max_retry_wait=4)
    with pytest.raises(ConnectorError) as err:
        connector.token()
    assert err.value.code == "NETWORK" and sleeps and sum(sleeps) <= 4


def test_an_expired_client_secret_is_aadsts7000222_with_what_to_do(fresh: Emulator, connect: Connect) -> None:
    fresh.inject_fault(kind="expired-secret")
    connector = connect(fresh)
    with pytest.raises(AuthError) as err:
        connector.token()
    assert err.value.code == "AADSTS7000222"
    assert f"client secret keys for app '{fresh.client_id}' are expired" in str(err.value)
    assert "create a new one under Certificates & secrets" in str(err.value)
    assert fresh.client_secret not in str(err.value)


# -- 10: listings that never end, pages and values too large -----------------------------------------------

def test_a_next_link_back_to_the_same_page_stops_the_listing(fresh: Emulator, connect: Connect) -> None:
    connector = connect(fresh, page_size=10)
    fresh.inject_fault(kind="next-link-loop", path="/v1.0/users", skip=1, count=None)
    pages = connector.iter_users(SELECT)
    assert len(next(pages)) == 10 and len(next(pages)) == 10
    with pytest.raises(GraphAnswerInvalid) as err:
        next(pages)
    assert err.value.code == "NEXT_LINK_LOOP"
    assert "page 2 of GET" in str(err.value) and "back to page 2" in str(err.value)
    assert_clean(str(err.value), fresh, connector)


def test_a_delta_round_that_loops_is_stopped(fresh: Emulator, connect: Connect) -> None:
    connector = connect(fresh)
    link = connector.latest_delta_link(SELECT)
    fresh.inject_fault(kind="next-link-loop", path="/v1.0/users/delta", count=None)
    with pytest.raises(GraphAnswerInvalid, match="back to page 1") as err:
        list(connector.read_delta(link))
    assert err.value.code == "NEXT_LINK_LOOP"


def test_a_page_with_far_more_users_than_asked_for_is_refused(fresh: Emulator, connect: Connect) -> None:
    connector = connect(fresh, page_size=5)
    fresh.inject_fault(kind="oversized-page", items=11, path="/v1.0/users")
    with pytest.raises(GraphAnswerInvalid, match="holds 11 users, more than the 10 it may") as err:
        read_all(connector)
    assert err.value.code == "PAGE_TOO_LARGE"
    fresh.inject_fault(kind="oversized-page", items=10, path="/v1.0/users")
    assert len(next(connector.iter_users(SELECT))) == 10  # twice $top is still taken


def test_a_page_too_large_in_bytes_is_refused_by_its_length(fresh: Emulator, connect: Connect) -> None:
    connector = connect(fresh, page_size=60)
    connector.limits = ReadLimits(max_page_bytes=4096)
    with pytest.raises(GraphAnswerInvalid, match=r"the answer announces [\d,]+ bytes, more than the 4 KiB") as err:
        read_all(connector)
    assert err.value.code == "PAGE_TOO_LARGE" and err.value.request_id


def test_a_streamed_page_is_read_no_further_than_the_cap(fresh: Emulator, connect: Connect) -> None:
    """300,000 users in one chunked answer (tens of MiB): the read stops at the cap, memory stays small."""
    connector = connect(fresh, page_size=5)
    connector.limits = ReadLimits(max_page_bytes=256 * 1024)
    connector.token()
    fresh.inject_fault(kind="oversized-page", items=300_000, path="/v1.0/users")
    tracemalloc.start()
    try:
        with pytest.raises(GraphAnswerInvalid, match="goes on past 262,144 bytes, more than the 256 KiB") as err:
            read_all(connector)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert err.value.code == "PAGE_TOO_LARGE"
    assert peak < 16 * 1024 * 1024, f"peak {peak:,} bytes while reading a capped page"


def test_an_attribute_too_large_is_refused(fresh: Emulator, connect: Connect) -> None:
    connector = connect(fresh, page_size=10)
    fresh.inject_fault(kind="huge-value", size=2 * 1024 * 1024, path="/v1.0/users", skip=1)
    with pytest.raises(GraphAnswerInvalid) as err:
        read_all(connector)
    assert err.value.code == "VALUE_TOO_LARGE"
    assert re.search(r"page 2 of GET .*: user '[0-9a-f-]{36}' displayName is 2,097,152 characters long, "
                     r"more than the 1,048,576 one attribute may hold", str(err.value)), str(err.value)
    assert "xxxxxxxx" not in str(err.value)
