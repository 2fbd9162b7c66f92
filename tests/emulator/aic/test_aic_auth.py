"""Service-account JWT-bearer tokens as AM issues them, and the bearer/scope checks on /openidm and /environment."""

from __future__ import annotations

import json
import os
import stat

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from controller.emulator.aic import DEFAULT_SCOPES, DEFAULT_SERVICE_ACCOUNT_ID, AicEmulator
from tests.emulator.aic.conftest import Tenant, mint, tenant_for, token_request


def test_service_account_files_and_record(aic_emulator: AicEmulator, tenant: Tenant) -> None:
    jwk = json.loads(aic_emulator.service_account_jwk_path.read_text())
    assert set(jwk) == {"kty", "n", "e", "d", "p", "q", "dp", "dq", "qi"} and jwk["kty"] == "RSA"
    for path in (aic_emulator.service_account_jwk_path, aic_emulator.service_account_pem_path):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    pem_key = serialization.load_pem_private_key(aic_emulator.service_account_pem_path.read_bytes(), None)
    assert isinstance(pem_key, rsa.RSAPrivateKey)
    assert pem_key.private_numbers().d == int.from_bytes(jwt.utils.base64url_decode(jwk["d"]), "big")

    record = tenant.get(f"/openidm/managed/svcacct/{DEFAULT_SERVICE_ACCOUNT_ID}?_fields=*").json()
    assert record["_id"] == DEFAULT_SERVICE_ACCOUNT_ID and record["accountStatus"] == "Active"
    assert record["scopes"] == list(DEFAULT_SCOPES) and "_rev" in record
    assert isinstance(record["jwks"], str)  # a string holding the JWKS, as AIC stores it
    (public,) = json.loads(record["jwks"])["keys"]
    assert public["n"] == jwk["n"] and "d" not in public


def test_token_success_scope_is_a_granted_subset(aic_emulator: AicEmulator, session: requests.Session) -> None:
    resp = token_request(aic_emulator, session, mint(aic_emulator), "fr:idc:esv:* fr:idm:*")
    assert resp.status_code == 200
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 899
    assert set(body["scope"].split()) == {"fr:idm:*", "fr:idc:esv:*"}
    assert aic_emulator.service_account_id not in body["access_token"] and "." not in body["access_token"]


def test_audience_with_and_without_443_on_a_tenant_host(aic_emulator: AicEmulator, session: requests.Session) -> None:
    host = "openam-acme-dev.forgeblocks.com"
    for aud in (f"https://{host}:443/am/oauth2/access_token", f"https://{host}/am/oauth2/access_token"):
        resp = token_request(aic_emulator, session, mint(aic_emulator, aud=aud), headers={"Host": host})
        assert resp.status_code == 200, resp.text
    wrong = token_request(aic_emulator, session, mint(aic_emulator, aud=f"https://{host}/am/oauth2/realms/alpha"),
                          headers={"Host": host})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"


def test_audience_with_the_actual_port(aic_emulator: AicEmulator, session: requests.Session) -> None:
    aud = f"https://localhost:{aic_emulator.port}/am/oauth2/access_token"
    assert token_request(aic_emulator, session, mint(aic_emulator, aud=aud)).status_code == 200


def test_an_assertion_with_a_kid_is_fine_too(aic_emulator: AicEmulator, session: requests.Session) -> None:
    assertion = mint(aic_emulator, headers={"kid": "XHCV"})
    assert token_request(aic_emulator, session, assertion).status_code == 200


@pytest.mark.parametrize(("claims", "needle"), [
    ({"lifetime": -5}, "expired"),
    ({"lifetime": 600}, "180 seconds"),
    ({"exp": None}, "no expiry"),
    ({"jti": None}, "no jti"),
    ({"sub": "someone-else"}, "subject"),
])
def test_bad_claims_are_invalid_grant(aic_emulator: AicEmulator, session: requests.Session,
                                      claims: dict[str, object], needle: str) -> None:
    resp = token_request(aic_emulator, session, mint(aic_emulator, **claims))
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_grant" and needle in resp.json()["error_description"]


def test_a_reused_jti_is_refused(aic_emulator: AicEmulator, session: requests.Session) -> None:
    assertion = mint(aic_emulator, jti="6bc9a0e1-fixed")
    assert token_request(aic_emulator, session, assertion).status_code == 200
    again = token_request(aic_emulator, session, assertion)
    assert again.status_code == 400 and "already been used" in again.json()["error_description"]


def test_a_signature_by_another_key_is_refused(aic_emulator: AicEmulator, session: requests.Session) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    resp = token_request(aic_emulator, session, mint(aic_emulator, key=other))
    assert resp.status_code == 400
    assert resp.json() == {"error_description": "JWT signature is invalid for the service account's keys",
                           "error": "invalid_grant"}


def test_unknown_account_and_wrong_client_id_are_invalid_client(aic_emulator: AicEmulator,
                                                                 session: requests.Session) -> None:
    other = "0d0e0a0d-0000-4000-8000-000000000000"
    stranger = mint(aic_emulator, iss=other, sub=other)
    assert token_request(aic_emulator, session, stranger).json()["error"] == "invalid_client"
    wrong = token_request(aic_emulator, session, mint(aic_emulator), form={"client_id": "idmctl"})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_client"


def test_invalid_scope_names_every_unsupported_scope(aic_emulator: AicEmulator, session: requests.Session) -> None:
    resp = token_request(aic_emulator, session, mint(aic_emulator), "fr:am:* fr:idc:ws:admin fr:idm:* fr:iga:*")
    assert resp.status_code == 400
    assert resp.json() == {"error_description": "Unsupported scope for service account: fr:idc:ws:admin,fr:iga:*",
                           "error": "invalid_scope"}


def test_no_unknown_or_expired_bearer_is_401(aic_emulator: AicEmulator, session: requests.Session) -> None:
    url = f"{aic_emulator.base_url}/openidm/config"
    bare = session.get(url, timeout=30)
    assert bare.status_code == 401 and bare.headers["WWW-Authenticate"].startswith("Bearer")
    assert bare.json() == {"code": 401, "reason": "Unauthorized", "message": "Access Denied"}
    unknown = session.get(url, headers={"Authorization": "Bearer nope"}, timeout=30)
    assert unknown.status_code == 401 and 'error="invalid_token"' in unknown.headers["WWW-Authenticate"]
    tenant = tenant_for(aic_emulator, session)
    assert tenant.get("/environment/startup").status_code == 200
    tenant.admin("POST", "tokens/expire")  # every token issued so far runs out
    expired = tenant.get("/environment/startup")
    assert expired.status_code == 401 and expired.json()["code"] == 401 and "WWW-Authenticate" in expired.headers


def test_missing_scopes_are_403(aic_emulator: AicEmulator, session: requests.Session) -> None:
    am_only = tenant_for(aic_emulator, session, "fr:am:*")
    forbidden = am_only.get("/openidm/config")
    assert forbidden.status_code == 403 and 'insufficient_scope' in forbidden.headers["WWW-Authenticate"]
    assert forbidden.json()["reason"] == "Forbidden"
    assert am_only.get("/environment/variables").status_code == 403

    esv = tenant_for(aic_emulator, session, "fr:idc:esv:*")
    assert esv.get("/environment/variables").status_code == 200
    assert esv.get("/openidm/config").status_code == 403

    reader = tenant_for(aic_emulator, session, "fr:idc:esv:read")
    assert reader.get("/environment/secrets").status_code == 200
    assert reader.put("/environment/variables/esv-x", {"valueBase64": "eA=="}).status_code == 403
    assert reader.post("/environment/startup?_action=restart").status_code == 403

    idm = tenant_for(aic_emulator, session, "fr:idm:*")  # deprecated, still honoured on /environment
    assert idm.put("/environment/variables/esv-x", {"valueBase64": "eA=="}).status_code == 200


def test_a_service_account_created_over_rest_gets_tokens(aic_emulator: AicEmulator, tenant: Tenant,
                                                        session: requests.Session) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    body = {"name": "sa", "description": "service account", "accountStatus": "Active",
            "scopes": ["fr:idm:*"], "jwks": json.dumps({"keys": [{**public, "kid": "XHCV", "alg": "RS256"}]})}
    created = tenant.post("/openidm/managed/svcacct?_action=create", body)
    assert created.status_code == 201
    record = created.json()
    assert record["maxSessionTime"] == "15" and record["quotaLimit"] == "5" and record["jwks"] == body["jwks"]
    sa = record["_id"]
    assertion = mint(aic_emulator, key=key, iss=sa, sub=sa)
    assert token_request(aic_emulator, session, assertion, "fr:idm:*").status_code == 200
    refused = token_request(aic_emulator, session, mint(aic_emulator, key=key, iss=sa, sub=sa), "fr:idc:esv:*")
    assert refused.json()["error_description"] == "Unsupported scope for service account: fr:idc:esv:*"
    empty = tenant.post("/openidm/managed/svcacct?_action=create", {**body, "jwks": ""})
    assert empty.status_code == 400 and "zero-length" in empty.json()["message"]
