"""The mapping of login and Graph error answers to typed errors: codes, hints, truncation, redaction.

The cases the emulator cannot produce (410 resets, resyncRequired, odd bodies) are fed to the mapper
as response objects; everything else is exercised over HTTPS in test_graph_connector.py.
"""

from __future__ import annotations

import json

import pytest
import requests

from controller.connectors.msgraph import GraphSettings, auth_error, graph_error
from controller.errors import AuthError, DeltaExpired, GraphError, GraphNotFound, GraphThrottled

SECRET = "Qx8Q~s3cr3t.Value-Not-The-Id_0123456789abcd"
SETTINGS = GraphSettings(tenant_id="f7ff6108-c26f-48dd-ae9e-9743eefbd11f",
                         client_id="3f1c2b9e-8d7a-4e6f-9b0c-1a2b3c4d5e6f", client_secret=SECRET, name="entra")


def response(status: int, body: object, headers: dict[str, str] | None = None,
             url: str = "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=abc") -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = (body if isinstance(body, str) else json.dumps(body)).encode()
    r.headers.update(headers or {})
    r.url = url
    r.request = requests.Request("GET", url, headers={"Authorization": "Bearer eyJ0.secret.token"}).prepare()
    return r


def graph_body(code: str, message: str) -> dict[str, object]:
    return {"error": {"code": code, "message": message,
                      "innerError": {"date": "2024-05-07T15:39:39", "request-id": "9f1c-req",
                                     "client-request-id": "9f1c-req"}}}


@pytest.mark.parametrize("status,code", [(400, "syncStateNotFound"), (400, "SyncStateNotFound"),
                                         (404, "resyncRequired"), (410, None)])
def test_delta_expiry_forms(status: int, code: str | None) -> None:
    body = graph_body(code, "The sync state generation is not found.") if code else ""
    err = graph_error(response(status, body), SETTINGS)
    assert isinstance(err, DeltaExpired)
    assert err.status == status


def test_throttled_carries_retry_after_and_request_id() -> None:
    err = graph_error(response(429, graph_body("TooManyRequests", "Too many requests"),
                               {"Retry-After": "12", "request-id": "r-429"}), SETTINGS)
    assert isinstance(err, GraphThrottled)
    assert err.retry_after == 12.0
    assert err.request_id == "r-429"


def test_not_found_and_forbidden() -> None:
    nf = graph_error(response(404, graph_body("Request_ResourceNotFound", "Resource 'x' does not exist")),
                     SETTINGS)
    assert isinstance(nf, GraphNotFound) and nf.request_id == "9f1c-req"
    denied = graph_error(response(403, graph_body("Authorization_RequestDenied",
                                                  "Insufficient privileges to complete the operation.")),
                         SETTINGS)
    assert type(denied) is GraphError and denied.code == "Authorization_RequestDenied"
    assert "User.Read.All" in str(denied) and "admin consent" in str(denied)


def test_long_bodies_are_truncated_and_secrets_redacted() -> None:
    err = graph_error(response(500, "x" * 5000 + SECRET), SETTINGS)
    assert len(str(err)) < 600
    err = graph_error(response(400, graph_body("Request_BadRequest", f"bad value {SECRET}")), SETTINGS)
    assert SECRET not in str(err)
    assert "Bearer" not in str(err)
    assert "$deltatoken" not in str(err)  # the path is named, not the opaque query


def test_aadsts_codes_and_hints() -> None:
    wrong = auth_error({
        "error": "invalid_client",
        "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent "
                             "in the request is the client secret value, not the client secret ID.\r\n"
                             "Trace ID: 1\r\nCorrelation ID: 2\r\nTimestamp: 2024-05-07 15:39:39Z",
        "error_codes": [7000215],
    }, SETTINGS)
    assert isinstance(wrong, AuthError)
    assert wrong.code == "AADSTS7000215"
    assert "Value, not its Secret ID" in str(wrong)
    assert "Trace ID" not in str(wrong)
    expired = auth_error({"error": "invalid_client", "error_codes": [7000222],
                          "error_description": "AADSTS7000222: The provided client secret keys are expired."},
                         SETTINGS)
    assert expired.code == "AADSTS7000222" and "expired" in str(expired.hint)
    no_codes = auth_error({"error": "invalid_scope", "error_description": "AADSTS70011: bad scope"}, SETTINGS)
    assert no_codes.code == "AADSTS70011" and ".default" in str(no_codes.hint)
