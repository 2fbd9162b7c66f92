"""The Graph connector against the emulator over real HTTPS: msal, requests, paging, filters, delta,
throttling, auth failures, link pinning and TLS trust. Nothing here mocks msal or requests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import certifi
import pytest

from controller.connectors.msgraph import GraphConnector
from controller.emulator import Emulator
from controller.errors import (
    AuthError,
    ConnectorError,
    DeltaExpired,
    GraphError,
    GraphNotFound,
    GraphThrottled,
)

SELECT = ["displayName", "givenName", "surname", "mail", "userPrincipalName", "accountEnabled"]
Connect = Callable[..., GraphConnector]


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """A read-only emulator with the sample tenant, Sam Carter and 400 generated users."""
    with Emulator(tmp_path_factory.mktemp("connector-directory"), generate=400) as emu:
        yield emu


@pytest.fixture(scope="module")
def everyone(directory: Emulator, settings_for: Callable[..., Any]) -> list[dict[str, Any]]:
    with GraphConnector(settings_for(directory)) as connector:
        return [u for page in connector.iter_users(SELECT) for u in page]


def all_users(connector: GraphConnector, pushdown: str | None = None) -> list[dict[str, Any]]:
    return [u for page in connector.iter_users(SELECT, pushdown) for u in page]


# -- token ------------------------------------------------------------------------------------------


def test_token_carries_tenant_and_roles_and_is_cached(emulator_session: Emulator, connect: Connect) -> None:
    connector = connect(emulator_session)
    claims = connector.token_claims()
    assert claims["tid"] == emulator_session.tenant_id
    assert claims["roles"] == ["User.Read.All"]
    assert claims["appid"] == emulator_session.client_id
    first = connector.token()
    assert connector.token() == first
    assert connector._tokens.last_source == "cache"


# -- paging and filters -----------------------------------------------------------------------------


def test_2500_users_arrive_in_pages_of_page_size(tmp_path: Path, connect: Connect) -> None:
    with Emulator(tmp_path, generate=2500, seed_sample=False) as emu:
        connector = connect(emu, page_size=999)
        pages = list(connector.iter_users(["displayName", "mail"]))
    assert [len(p) for p in pages] == [999, 999, 502]
    users = [u for p in pages for u in p]
    assert len({u["id"] for u in users}) == 2500
    assert all(set(u) <= {"id", "displayName", "mail"} and "id" in u for u in users)


def _ci(value: Any) -> str:
    return str(value).lower() if value is not None else ""


FILTERS: list[tuple[str, Callable[[dict[str, Any], dict[str, Any]], str],
                    Callable[[dict[str, Any], dict[str, Any]], bool]]] = [
    ("mail eq", lambda s: "mail eq 'scarter@example.com'",
     lambda u, s: _ci(u.get("mail")) == "scarter@example.com"),
    ("userPrincipalName eq", lambda s: f"userPrincipalName eq '{s['userPrincipalName'].upper()}'",
     lambda u, s: _ci(u["userPrincipalName"]) == _ci(s["userPrincipalName"])),
    ("id eq", lambda s: f"id eq '{s['id']}'", lambda u, s: u["id"] == s["id"]),
    ("accountEnabled eq false", lambda s: "accountEnabled eq false", lambda u, s: u.get("accountEnabled") is False),
    ("startswith", lambda s: "startswith(displayName,'sa')", lambda u, s: _ci(u.get("displayName")).startswith("sa")),
    ("id in", lambda s: f"id in ('{s['id']}', '00000000-0000-0000-0000-000000000000')",
     lambda u, s: u["id"] == s["id"]),
    ("and", lambda s: "accountEnabled eq true and startswith(givenName,'A')",
     lambda u, s: u.get("accountEnabled") is True and _ci(u.get("givenName")).startswith("a")),
    ("or", lambda s: "mail eq 'scarter@example.com' or startswith(userPrincipalName,'adele')",
     lambda u, s: _ci(u.get("mail")) == "scarter@example.com" or _ci(u["userPrincipalName"]).startswith("adele")),
]


@pytest.mark.parametrize("label,text,keep", FILTERS, ids=[f[0] for f in FILTERS])
def test_each_supported_filter_is_pushed_down(
    label: str, text: Callable[..., str], keep: Callable[..., bool],
    directory: Emulator, everyone: list[dict[str, Any]], connect: Connect,
) -> None:
    sam = next(u for u in everyone if _ci(u.get("mail")) == "scarter@example.com")
    expected = sorted(u["id"] for u in everyone if keep(u, sam))
    got = sorted(u["id"] for u in all_users(connect(directory, page_size=50), text(sam)))
    assert expected, f"fixture data has no user for {label}"
    assert got == expected


def test_advanced_query_is_refused_with_a_hint(directory: Emulator, connect: Connect) -> None:
    with pytest.raises(GraphError) as err:
        all_users(connect(directory), "endswith(mail,'@example.com')")
    assert err.value.status == 400
    assert err.value.code == "Request_UnsupportedQuery"
    assert "evaluated locally" in str(err.value)


def test_get_user_by_id_and_upn_and_not_found(directory: Emulator, everyone: list[dict[str, Any]],
                                              connect: Connect) -> None:
    connector = connect(directory)
    sam = next(u for u in everyone if _ci(u.get("mail")) == "scarter@example.com")
    assert connector.get_user(sam["id"], ["mail"])["mail"] == "scarter@example.com"
    assert connector.get_user(sam["userPrincipalName"], ["mail"])["id"] == sam["id"]
    with pytest.raises(GraphNotFound) as err:
        connector.get_user("9d0c3b64-0000-4000-8000-000000000000", ["mail"])
    assert err.value.status == 404 and err.value.request_id


# -- delta ------------------------------------------------------------------------------------------


def _round(connector: GraphConnector, link: str) -> tuple[dict[str, dict[str, Any]], dict[str, str], str]:
    changed: dict[str, dict[str, Any]] = {}
    removed: dict[str, str] = {}
    next_link = None
    for page in connector.read_delta(link):
        changed.update((u["id"], u) for u in page.users)
        removed.update(page.removed)
        assert next_link is None, "only the last page carries the deltaLink"
        next_link = page.delta_link
    assert next_link is not None
    return changed, removed, next_link


def test_delta_cycle_with_creates_updates_and_deletes(emulator: Emulator, connect: Connect) -> None:
    connector = connect(emulator)
    select = ["displayName", "mail", "userPrincipalName"]
    initial, removed, link = _round(connector, connector.delta_start_link(select))
    assert removed == {}
    sam = next(u for u in initial.values() if u.get("mail") == "scarter@example.com")
    assert len(initial) == len(all_users(connector))

    domain = sam["userPrincipalName"].split("@")[1]
    created = emulator.create_user({"displayName": "Riley Nguyen", "userPrincipalName": f"rnguyen@{domain}",
                                    "mailNickname": "rnguyen", "mail": "rnguyen@example.com",
                                    "accountEnabled": True})
    emulator.update_user(sam["id"], {"displayName": "Samuel Carter"})
    adele = next(u for u in initial.values() if u["userPrincipalName"].lower().startswith("adelev@"))
    megan = next(u for u in initial.values() if u["userPrincipalName"].lower().startswith("meganb@"))
    emulator.delete_user(adele["id"])
    emulator.delete_user(megan["id"], permanent=True)

    changed, removed, link2 = _round(connector, link)
    assert changed.keys() == {created["id"], sam["id"]}
    assert changed[sam["id"]]["displayName"] == "Samuel Carter"
    assert changed[created["id"]]["mail"] == "rnguyen@example.com"
    assert removed == {adele["id"]: "changed", megan["id"]: "deleted"}

    changed, removed, _ = _round(connector, link2)
    assert changed == {} and removed == {}


def test_latest_delta_link_starts_from_now(emulator: Emulator, connect: Connect) -> None:
    connector = connect(emulator)
    link = connector.latest_delta_link(["displayName", "mail"])
    assert "$deltatoken=" in link and link.startswith(emulator.graph_url)
    sam = emulator.get_user("scarter@" + emulator.domain)
    assert sam is not None
    emulator.update_user(sam["id"], {"mail": "sam.carter@example.com"})
    changed, removed, _ = _round(connector, link)
    assert list(changed) == [sam["id"]] and changed[sam["id"]]["mail"] == "sam.carter@example.com"
    assert removed == {}


@pytest.mark.parametrize("status", [400, 410])
def test_expired_delta_link_raises_delta_expired(status: int, emulator: Emulator, connect: Connect) -> None:
    connector = connect(emulator)
    link = connector.latest_delta_link(["mail"])
    emulator.expire_delta_tokens(status)
    with pytest.raises(DeltaExpired) as err:
        list(connector.read_delta(link))
    assert err.value.status == status
    assert "full run" in str(err.value)


def test_delta_drops_a_non_id_pushdown(emulator_session: Emulator, connect: Connect) -> None:
    connector = connect(emulator_session)
    assert "$filter" not in connector.delta_start_link(["mail"], "mail eq 'scarter@example.com'")
    link = connector.delta_start_link(["mail"], "id eq 'abc' or id eq 'def'")
    assert "$filter=id%20eq%20'abc'%20or%20id%20eq%20'def'" in link


# -- throttling and dropped connections -------------------------------------------------------------


def test_429_and_503_are_retried_per_retry_after(emulator: Emulator, connect: Connect, sleeps: list[float]) -> None:
    connector = connect(emulator)
    expected = len(all_users(connector))
    emulator.inject_fault(429, retry_after=2, count=1, path="/v1.0/users")
    emulator.inject_fault(503, retry_after=1, count=1, path="/v1.0/users")
    assert len(all_users(connector)) == expected
    assert sleeps == [2.0, 1.0]


def test_504_without_retry_after_backs_off(emulator: Emulator, connect: Connect, sleeps: list[float]) -> None:
    connector = connect(emulator)
    emulator.inject_fault(504, count=2, path="/v1.0/users")
    assert all_users(connector)
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0


def test_throttling_beyond_the_budget_raises(emulator: Emulator, connect: Connect, sleeps: list[float]) -> None:
    connector = connect(emulator, max_retry_wait=2.5)
    emulator.inject_fault(429, retry_after=1, count=None, path="/v1.0/users")
    with pytest.raises(GraphThrottled) as err:
        all_users(connector)
    assert err.value.status == 429 and err.value.retry_after == 1.0
    assert sleeps == [1.0, 1.0]


def test_a_dropped_connection_is_retried_for_gets(emulator: Emulator, connect: Connect, sleeps: list[float]) -> None:
    connector = connect(emulator, page_size=10)
    expected = len(all_users(connector))
    emulator.inject_fault(drop=True, count=1, path="/v1.0/users", skip=1)
    assert len(all_users(connector)) == expected
    assert len(sleeps) == 1


def test_the_token_endpoint_is_retried_too(emulator: Emulator, connect: Connect, sleeps: list[float]) -> None:
    emulator.inject_fault(503, retry_after=1, count=1, method="POST")
    connector = connect(emulator)
    assert connector.token_claims()["tid"] == emulator.tenant_id
    assert sleeps == [1.0]


# -- authentication and permissions -----------------------------------------------------------------

WRONG_SECRET = "wR0ng~Secret.Value-That-Must-Not-Leak"


@pytest.mark.parametrize("overrides,code,hint", [
    ({"client_secret": WRONG_SECRET}, "AADSTS7000215", "not its Secret ID"),
    ({"tenant_id": "0f0e0d0c-0b0a-4909-8807-060504030201"}, "AADSTS90002", "tenantId"),
    ({"client_id": "11111111-2222-4333-8444-555555555555"}, "AADSTS700016", "clientId"),
    ({"token_scope": "api://something-else/.default"}, "AADSTS70011", "/.default"),
], ids=["wrong-secret", "unknown-tenant", "unknown-app", "bad-scope"])
def test_login_failures_are_typed_with_hints(overrides: dict[str, Any], code: str, hint: str,
                                             emulator_session: Emulator, connect: Connect) -> None:
    connector = connect(emulator_session, **overrides)
    with pytest.raises(AuthError) as err:
        connector.token()
    assert err.value.code == code
    assert hint in str(err.value)
    report = connector.check()
    assert not report.connected and not report.token_ok
    assert report.failure is not None and report.failure.code == code
    for text in (str(err.value), repr(err.value), str(report.to_dict()), repr(connector.settings)):
        assert WRONG_SECRET not in text
        assert emulator_session.client_secret not in text


def test_app_without_roles_gets_403_with_hint(emulator_session: Emulator, connect: Connect) -> None:
    client_id, secret = emulator_session.add_app([])
    connector = connect(emulator_session, client_id=client_id, client_secret=secret)
    assert "roles" not in connector.token_claims()
    with pytest.raises(GraphError) as err:
        all_users(connector)
    assert err.value.status == 403 and err.value.code == "Authorization_RequestDenied"
    assert "User.Read.All" in str(err.value) and "admin consent" in str(err.value)

    report = connector.check()
    assert report.token_ok and not report.connected and not report.can_read
    assert report.granted_roles == ()
    assert report.read is not None and report.read.error is not None
    assert report.read.error.code == "Authorization_RequestDenied"
    assert any("User.Read.All" in line and "admin consent" in line for line in report.advice)
    assert secret not in str(report.to_dict())


def test_check_reports_tenant_roles_and_least_privilege_advice(emulator_session: Emulator,
                                                               connect: Connect) -> None:
    client_id, secret = emulator_session.add_app(["User.ReadWrite.All", "Directory.Read.All"])
    report = connect(emulator_session, client_id=client_id, client_secret=secret).check()
    data = report.to_dict()
    assert data["connected"] is True
    assert data["tenantId"] == emulator_session.tenant_id
    assert data["roles"]["granted"] == ["Directory.Read.All", "User.ReadWrite.All"]
    assert data["roles"]["neededAnyOf"] == ["User.Read.All", "User.ReadWrite.All", "Directory.Read.All",
                                            "Directory.ReadWrite.All"]
    assert data["read"]["ok"] is True
    assert any("User.Read.All alone" in line for line in report.advice)
    assert any("write permissions are not needed" in line for line in report.advice)


# -- link pinning and TLS trust ---------------------------------------------------------------------


def test_next_link_to_another_host_is_refused(emulator_session: Emulator, connect: Connect) -> None:
    # Configured as "localhost", the emulator's links name 127.0.0.1: same server, another host.
    connector = connect(emulator_session, graph_url=f"https://localhost:{emulator_session.port}",
                        token_scope=f"{emulator_session.base_url}/.default", page_size=5)
    pages = connector.iter_users(["mail"])
    assert len(next(pages)) == 5
    with pytest.raises(ConnectorError) as err:
        next(pages)
    assert err.value.code == "FOREIGN_LINK"
    assert f"127.0.0.1:{emulator_session.port}" in str(err.value)


def test_a_foreign_delta_link_is_refused_before_sending(emulator_session: Emulator, connect: Connect) -> None:
    connector = connect(emulator_session)
    with pytest.raises(ConnectorError, match="evil.example.com"):
        list(connector.read_delta("https://evil.example.com/v1.0/users/delta?$deltatoken=abc"))


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_ca_bundle_wins_over_environment(variable: str, emulator_session: Emulator, connect: Connect,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(variable, certifi.where())
    connector = connect(emulator_session)
    report = connector.check()
    assert report.connected, report.failure
    # Control: without caBundle the environment's bundle applies, and it does not trust the emulator.
    untrusted = connect(emulator_session, ca_bundle=None)
    with pytest.raises(ConnectorError) as err:
        untrusted.token()
    assert err.value.code == "TLS" and "caBundle" in str(err.value)
