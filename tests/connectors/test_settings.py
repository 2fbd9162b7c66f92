"""GraphSettings: built from Connector resources, normalised, and never showing the secret."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from controller.connectors.msgraph import GraphSettings, RetryPolicy, parse_retry_after, token_claims
from controller.errors import ConnectorError

SECRET = "Qx8Q~s3cr3t.Value-Not-The-Id_0123456789abcd"
TENANT = "f7ff6108-c26f-48dd-ae9e-9743eefbd11f"


def connector_resource(**spec: object) -> SimpleNamespace:
    base = {
        "type": "microsoft-graph",
        "tenantId": TENANT,
        "clientId": "3f1c2b9e-8d7a-4e6f-9b0c-1a2b3c4d5e6f",
        "clientSecret": "${secret.entra_client_secret}",
        "authorityHost": "https://login.microsoftonline.com",
        "graphUrl": "https://graph.microsoft.com",
        "tokenScope": None,
        "caBundle": None,
        "pageSize": 999,
        "timeoutSeconds": 30,
        "maxRetryWaitSeconds": 90,
    }
    base.update(spec)
    return SimpleNamespace(metadata=SimpleNamespace(name="entra"), spec=SimpleNamespace(**base))


def test_from_resource_defaults_and_derived_urls() -> None:
    s = GraphSettings.from_resource(connector_resource(), SECRET)
    assert s.name == "entra"
    assert s.authority == f"https://login.microsoftonline.com/{TENANT}"
    assert s.scope == "https://graph.microsoft.com/.default"
    assert s.api_base == "https://graph.microsoft.com/v1.0"
    assert s.is_microsoft_authority
    assert s.timeouts.read == 30 and s.timeouts.connect == 10
    assert s.max_retry_wait == 90


def test_secret_never_in_repr() -> None:
    s = GraphSettings.from_resource(connector_resource(), SECRET)
    assert SECRET not in repr(s)
    assert SECRET not in str(s)


def test_graph_url_with_version_and_slash_is_normalised() -> None:
    s = GraphSettings.from_resource(connector_resource(graphUrl="https://graph.microsoft.us/v1.0/"), SECRET)
    assert s.graph_url == "https://graph.microsoft.us"
    assert s.scope == "https://graph.microsoft.us/.default"


def test_sovereign_and_private_hosts() -> None:
    us = GraphSettings.from_resource(connector_resource(authorityHost="https://login.microsoftonline.us"), SECRET)
    cn = GraphSettings.from_resource(connector_resource(authorityHost="https://login.chinacloudapi.cn"), SECRET)
    emu = GraphSettings.from_resource(connector_resource(authorityHost="https://127.0.0.1:8443"), SECRET)
    assert us.is_microsoft_authority and cn.is_microsoft_authority
    assert not emu.is_microsoft_authority


def test_explicit_token_scope_wins() -> None:
    s = GraphSettings.from_resource(connector_resource(tokenScope="https://graph.microsoft.us/.default"), SECRET)
    assert s.scope == "https://graph.microsoft.us/.default"


def test_relative_ca_bundle_resolves_against_base_dir(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    s = GraphSettings.from_resource(connector_resource(caBundle="certs/ca.pem"), SECRET, base_dir=tmp_path)
    assert s.ca_bundle == tmp_path / "certs" / "ca.pem"


def test_missing_ca_bundle_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConnectorError, match="caBundle") as err:
        GraphSettings.from_resource(connector_resource(caBundle="nope.pem"), SECRET, base_dir=tmp_path)
    assert "nope.pem" in str(err.value)


@pytest.mark.parametrize("field,value", [("graphUrl", "http://graph.microsoft.com"),
                                         ("authorityHost", "login.microsoftonline.com")])
def test_non_https_endpoints_are_refused(field: str, value: str) -> None:
    with pytest.raises(ConnectorError, match=field):
        GraphSettings.from_resource(connector_resource(**{field: value}), SECRET)


def test_empty_secret_is_refused_without_echo() -> None:
    with pytest.raises(ConnectorError, match="client secret is empty"):
        GraphSettings.from_resource(connector_resource(), "")


def test_parse_retry_after_seconds_and_dates() -> None:
    now = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Sat, 01 Mar 2025 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Sat, 01 Mar 2025 11:59:00 GMT", now=now) == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    import random

    policy = RetryPolicy(backoff_base=1.0, backoff_cap=8.0)
    rng = random.Random(7)
    delays = [policy.delay(n, None, rng) for n in range(6)]
    for n, d in enumerate(delays):
        step = min(8.0, 2**n)
        assert step / 2 <= d <= step
    assert policy.delay(3, 2.0, rng) == 2.0


def _jwt(payload: dict[str, object]) -> str:
    def enc(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{enc({'alg': 'RS256', 'typ': 'JWT'})}.{enc(payload)}.c2lnbmF0dXJl"


def test_token_claims_decodes_unpadded_payload() -> None:
    claims = {"aud": "https://graph.microsoft.com", "tid": TENANT, "roles": ["User.Read.All"], "ver": "1.0"}
    assert token_claims(_jwt(claims)) == claims
    assert token_claims("not-a-jwt") == {}
    assert token_claims("a.!!!.b") == {}
