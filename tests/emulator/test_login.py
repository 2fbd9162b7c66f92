"""The login half: msal's client-credentials flow and each Entra error, over real HTTPS."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import msal
import pytest
import requests

from controller.emulator import DEFAULT_TENANT_ID, Emulator
from tests.emulator.conftest import Graph, acquire, graph_for


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def token_post(emu: Emulator, session: requests.Session, **form: str) -> requests.Response:
    data = {"grant_type": "client_credentials", "client_id": emu.client_id,
            "client_secret": emu.client_secret, "scope": f"{emu.graph_url}/.default", **form}
    tenant = form.pop("tenant", emu.tenant_id)
    data.pop("tenant", None)
    return session.post(f"{emu.base_url}/{tenant}/oauth2/v2.0/token", data=data, timeout=30)


def test_msal_gets_a_graph_app_token_and_caches_it(emulator: Emulator, session: requests.Session) -> None:
    app = msal.ConfidentialClientApplication(
        emulator.client_id, client_credential=emulator.client_secret, authority=emulator.authority,
        instance_discovery=False, azure_region=False, http_client=session,
    )
    first = app.acquire_token_for_client([f"{emulator.graph_url}/.default"])
    second = app.acquire_token_for_client([f"{emulator.graph_url}/.default"])

    assert first["token_type"] == "Bearer" and first["expires_in"] == 3599
    assert first["token_source"] == "identity_provider"
    assert second["token_source"] == "cache"
    body = claims(first["access_token"])
    assert body["aud"] == emulator.graph_url
    assert body["iss"] == f"https://sts.windows.net/{DEFAULT_TENANT_ID}/"
    assert body["tid"] == DEFAULT_TENANT_ID and body["appid"] == emulator.client_id
    assert body["roles"] == ["User.Read.All"] and body["idtyp"] == "app" and body["ver"] == "1.0"
    assert body["exp"] - body["iat"] == 3599


def test_openid_configuration_points_at_the_emulator(emulator: Emulator, session: requests.Session) -> None:
    url = f"{emulator.base_url}/{emulator.tenant_id}/v2.0/.well-known/openid-configuration"
    config = session.get(url, timeout=30).json()
    assert config["token_endpoint"] == f"{emulator.authority}/oauth2/v2.0/token"
    assert config["authorization_endpoint"].startswith(emulator.authority)
    keys = session.get(config["jwks_uri"], timeout=30).json()["keys"]
    assert keys[0]["kty"] == "RSA"


def test_tenant_may_be_named_by_its_domain(emulator: Emulator, session: requests.Session) -> None:
    resp = token_post(emulator, session, tenant=emulator.domain)
    assert resp.status_code == 200
    assert claims(resp.json()["access_token"])["tid"] == DEFAULT_TENANT_ID


def test_microsoft_graph_scope_is_accepted_too(emulator: Emulator, session: requests.Session) -> None:
    result = acquire(emulator, session, scope="https://graph.microsoft.com/.default")
    assert claims(result["access_token"])["aud"] == "https://graph.microsoft.com"
    graph = Graph(emulator, session, result["access_token"])
    assert graph.get("users?$top=1").status_code == 200


def test_wrong_secret_is_aadsts7000215_with_401(emulator: Emulator, session: requests.Session) -> None:
    result = acquire(emulator, session, secret="not-the-secret-value")
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]
    assert result["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
    assert "Trace ID:" in result["error_description"] and result["trace_id"] and result["correlation_id"]
    assert token_post(emulator, session, client_secret="nope").status_code == 401


def test_unknown_app_is_aadsts700016_with_400(emulator: Emulator, session: requests.Session) -> None:
    result = acquire(emulator, session, client_id="11111111-2222-3333-4444-555555555555")
    assert result["error"] == "unauthorized_client" and result["error_codes"] == [700016]
    assert "11111111-2222-3333-4444-555555555555" in result["error_description"]
    assert token_post(emulator, session, client_id="11111111-2222-3333-4444-555555555555").status_code == 400


def test_unknown_tenant_fails_msal_at_construction_and_token_post(emulator: Emulator,
                                                                  session: requests.Session) -> None:
    with pytest.raises(ValueError, match="Unable to get authority configuration"):
        msal.ConfidentialClientApplication(
            emulator.client_id, client_credential=emulator.client_secret,
            authority=f"{emulator.base_url}/00000000-1111-2222-3333-444444444444",
            instance_discovery=False, azure_region=False, http_client=session,
        )
    resp = token_post(emulator, session, tenant="00000000-1111-2222-3333-444444444444")
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_tenant" and resp.json()["error_codes"] == [90002]


@pytest.mark.parametrize("scope", ["https://management.azure.com/.default", "User.Read.All",
                                   "https://graph.microsoft.com/.default openid"])
def test_foreign_scope_is_aadsts70011(emulator: Emulator, session: requests.Session, scope: str) -> None:
    result = acquire(emulator, session, scope=scope)
    assert result["error"] == "invalid_scope" and result["error_codes"] == [70011]
    assert token_post(emulator, session, scope=scope).status_code == 400


def test_app_without_permissions_gets_a_token_without_roles_and_graph_says_403(
        emulator: Emulator, session: requests.Session) -> None:
    graph = graph_for(emulator, session, roles=[])
    assert "roles" not in claims(graph.token)
    resp = graph.get("users")
    assert resp.status_code == 403
    error = resp.json()["error"]
    assert error["code"] == "Authorization_RequestDenied"
    assert error["message"] == "Insufficient privileges to complete the operation."
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}


@pytest.mark.parametrize(("authorization", "message"), [
    (None, "Access token is empty."),
    ("Bearer ", "Access token is empty."),
    ("Bearer not-a-jwt", "CompactToken parsing failed with error code: 80049217"),
    ("Bearer eyJhbGciOiJSUzI1NiJ9.eyJ0aWQiOiJ4In0.c2ln", "Access token validation failure."),
])
def test_graph_refuses_missing_and_bad_tokens(emulator: Emulator, session: requests.Session,
                                              authorization: str | None, message: str) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    resp = session.get(f"{emulator.graph_url}/v1.0/users", headers=headers, timeout=30)
    assert resp.status_code == 401
    assert resp.json()["error"] == {**resp.json()["error"], "code": "InvalidAuthenticationToken",
                                    "message": message}
    assert resp.headers["request-id"]


def test_expired_token_is_refused(tmp_path: Path) -> None:
    with Emulator(tmp_path / "state", token_lifetime=-60) as emu, requests.Session() as session:
        session.verify, session.trust_env = str(emu.ca_path), False
        token = token_post(emu, session).json()["access_token"]
        resp = session.get(f"{emu.graph_url}/v1.0/users", headers={"Authorization": f"Bearer {token}"},
                           timeout=30)
    assert resp.status_code == 401
    assert resp.json()["error"]["message"] == "Lifetime validation failed, the token is expired."


def test_token_from_another_emulator_is_refused(tmp_path: Path, emulator: Emulator,
                                                session: requests.Session) -> None:
    with Emulator(tmp_path / "other") as other, requests.Session() as other_session:
        other_session.verify, other_session.trust_env = str(other.ca_path), False
        foreign = token_post(other, other_session).json()["access_token"]
    resp = session.get(f"{emulator.graph_url}/v1.0/users", headers={"Authorization": f"Bearer {foreign}"},
                       timeout=30)
    assert resp.status_code == 401


def test_state_dir_keeps_ca_and_secret_between_starts(tmp_path: Path) -> None:
    with Emulator(tmp_path) as first:
        ca, secret = first.ca_path.read_bytes(), first.client_secret
    with Emulator(tmp_path) as second:
        assert second.ca_path.read_bytes() == ca and second.client_secret == secret
    assert (tmp_path / "client_secret").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "ca-key.pem").stat().st_mode & 0o777 == 0o600
