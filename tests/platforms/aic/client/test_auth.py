"""The service account's key, its JWT-bearer assertion, and the cached token (reference §1.1)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from controller.errors import PlatformAuthError
from controller.platforms.aic import AicClient, load_service_account_key, make_assertion, token_url
from controller.platforms.aic._auth import unsupported_scopes
from tests.platforms.aic.client.conftest import ACCOUNT_ID, TOKEN_PATH, Clock, FakeTenant

AUDIENCE = "https://openam-acme.forgeblocks.com/am/oauth2/access_token"


def _verify(assertion: str, key: rsa.RSAPrivateKey) -> dict[str, object]:
    return jwt.decode(assertion, key.public_key(), algorithms=["RS256"], audience=AUDIENCE)


def test_the_token_url_is_the_root_realms() -> None:
    assert token_url("https://openam-acme.forgeblocks.com/") == AUDIENCE


def test_the_assertion_is_rs256_without_kid_with_the_claims_aic_checks(account_key: rsa.RSAPrivateKey) -> None:
    now = 1_700_000_000.0
    assertion = make_assertion(account_key, ACCOUNT_ID, AUDIENCE, now=now)
    assert jwt.get_unverified_header(assertion) == {"alg": "RS256"}
    claims = jwt.decode(assertion, account_key.public_key(), algorithms=["RS256"], audience=AUDIENCE,
                        options={"verify_exp": False})
    assert claims["iss"] == claims["sub"] == ACCOUNT_ID
    assert claims["aud"] == AUDIENCE
    assert 0 < claims["exp"] - now <= 180
    assert uuid.UUID(claims["jti"]).version == 4
    assert set(claims) == {"iss", "sub", "aud", "exp", "jti"}


def test_every_assertion_has_a_fresh_jti(account_key: rsa.RSAPrivateKey) -> None:
    jtis = {jwt.decode(make_assertion(account_key, ACCOUNT_ID, AUDIENCE, now=0), options={"verify_signature": False})
            ["jti"] for _ in range(5)}
    assert len(jtis) == 5


def test_aic_refuses_lifetimes_over_180_s_so_make_assertion_does(account_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ValueError, match="180"):
        make_assertion(account_key, ACCOUNT_ID, AUDIENCE, now=0, lifetime=181)


def _pkcs1(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()


@pytest.mark.parametrize("form", ["jwk", "jwks", "jwk-without-primes", "pkcs8", "pkcs1"])
def test_jwk_and_pem_keys_sign_assertions_the_public_key_verifies(
        form: str, account_key: rsa.RSAPrivateKey, key_jwk: str, key_pem: str) -> None:
    jwk = json.loads(key_jwk)
    text = {
        "jwk": key_jwk,
        "jwks": json.dumps({"keys": [jwk]}),
        "jwk-without-primes": json.dumps({k: jwk[k] for k in ("kty", "n", "e", "d")}),
        "pkcs8": key_pem + "\n",
        "pkcs1": _pkcs1(account_key),
    }[form]
    key = load_service_account_key(text)
    assert _verify(make_assertion(key, ACCOUNT_ID, AUDIENCE, now=time.time()), account_key)


def _bad_keys(account_key: rsa.RSAPrivateKey, key_jwk: str) -> dict[str, tuple[str, str]]:
    jwk = json.loads(key_jwk)
    public_jwk = {k: jwk[k] for k in ("kty", "n", "e")}
    ec_key = ec.generate_private_key(ec.SECP256R1())
    public_pem = account_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    encrypted = account_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.BestAvailableEncryption(b"pw")).decode()
    ec_pem = ec_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()).decode()
    return {
        "empty": ("  \n", "is empty"),
        "garbage": ("c2VjcmV0LWtleS1tYXRlcmlhbA==", "neither a JWK"),
        "broken json": ('{"kty": "RSA", "d": "x5Qk', "does not parse"),
        "public jwk": (json.dumps(public_jwk), "public JWK"),
        "ec jwk": (ECAlgorithm.to_jwk(ec_key), "kty 'EC'"),
        "two private keys": (json.dumps({"keys": [jwk, jwk]}), "exactly one private key"),
        "rsa jwk, bad fields": (json.dumps({**jwk, "d": "AAAA"}), "do not make a valid private key"),
        "public pem": (public_pem, "a public key"),
        "encrypted pem": (encrypted, "encrypted PEM"),
        "ec pem": (ec_pem, "not an RSA key"),
        "cut pem": (_pkcs1(account_key)[:200] + "\n-----END RSA PRIVATE KEY-----\n", "readable private key"),
    }


@pytest.mark.parametrize("case", ["empty", "garbage", "broken json", "public jwk", "ec jwk", "two private keys",
                                  "rsa jwk, bad fields", "public pem", "encrypted pem", "ec pem", "cut pem"])
def test_a_bad_key_is_one_clear_line_that_never_echoes_it(case: str, account_key: rsa.RSAPrivateKey,
                                                          key_jwk: str) -> None:
    text, says = _bad_keys(account_key, key_jwk)[case]
    with pytest.raises(PlatformAuthError) as caught:
        load_service_account_key(text)
    message = str(caught.value)
    assert says in message
    assert caught.value.code == "invalid_key"
    assert "spec.platform.serviceAccountKey" in message and "\n" not in message
    content = "".join(line for line in text.splitlines() if not line.startswith("-----"))
    pieces = [content[i:i + 12] for i in range(0, len(content) - 11, 6)]
    assert not [p for p in pieces if p in message], f"the key's text shows in {message!r}"


def test_the_scopes_in_aics_invalid_scope_description() -> None:
    assert unsupported_scopes("Unsupported scope for service account: fr:idc:ws:admin,fr:iga:*") == [
        "fr:idc:ws:admin", "fr:iga:*"]
    assert unsupported_scopes("something else") == []


# -- through the token endpoint of the fake tenant ---------------------------------------------------

MakeClient = Callable[..., AicClient]


def test_the_token_request_is_the_jwt_bearer_form(tenant: FakeTenant, make_client: MakeClient,
                                                  account_key: rsa.RSAPrivateKey) -> None:
    client = make_client(scopes=["fr:idm:*", "fr:idc:esv:*"])
    assert client._tokens.token() == tenant.issued[0]
    (sent,) = tenant.calls("POST", TOKEN_PATH)
    form = sent.form()
    assert form["client_id"] == "service-account"
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert form["scope"] == "fr:idm:* fr:idc:esv:*"
    assert jwt.decode(form["assertion"], account_key.public_key(), algorithms=["RS256"],
                      audience=tenant.token_url)["iss"] == ACCOUNT_ID
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"


def test_a_jwk_key_authenticates_like_a_pem(tenant: FakeTenant, make_client: MakeClient, key_jwk: str) -> None:
    assert make_client(key=key_jwk)._tokens.token() == tenant.issued[0]


def test_the_token_is_cached_and_minted_again_a_minute_before_it_expires(
        tenant: FakeTenant, make_client: MakeClient, clock: Clock) -> None:
    tokens = make_client()._tokens
    first = tokens.token()
    clock.now += 899 - 61
    assert tokens.token() == first and tokens.minted == 1
    clock.now += 2  # 59 s left: due
    second = tokens.token()
    assert second != first and tokens.minted == 2
    assert len(tenant.calls("POST", TOKEN_PATH)) == 2


def test_a_short_lived_token_is_minted_again_halfway(tenant: FakeTenant, make_client: MakeClient,
                                                     clock: Clock) -> None:
    tenant.expires_in = 60
    tokens = make_client()._tokens
    tokens.token()
    clock.now += 29
    tokens.token()
    assert tokens.minted == 1
    clock.now += 1
    tokens.token()
    assert tokens.minted == 2


def test_invalid_scope_names_the_scopes_and_what_to_grant(tenant: FakeTenant, make_client: MakeClient) -> None:
    tenant.granted_scopes = {"fr:idm:*"}
    client = make_client(scopes=["fr:idm:*", "fr:idc:esv:*", "fr:idc:ws:admin"])
    with pytest.raises(PlatformAuthError) as caught:
        client.read_config("sync")
    exc = caught.value
    assert exc.code == "invalid_scope" and exc.status == 400 and exc.path == TOKEN_PATH
    assert "may not ask for the scopes fr:idc:esv:*, fr:idc:ws:admin" in exc.message
    assert exc.hint is not None
    assert "Tenant settings › Service accounts" in exc.hint and "spec.platform.scopes" in exc.hint
    assert "\n" not in str(exc)


def test_a_key_that_is_not_the_accounts_is_invalid_grant_with_what_to_check(
        tenant: FakeTenant, make_client: MakeClient) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client = make_client(key=RSAAlgorithm.to_jwk(other))
    with pytest.raises(PlatformAuthError) as caught:
        client.read_config("sync")
    exc = caught.value
    assert exc.code == "invalid_grant" and exc.status == 400
    assert exc.hint is not None and "serviceAccountId" in exc.hint and "clock" in exc.hint
    assert tenant.calls("POST", TOKEN_PATH)[0].form()["assertion"] not in str(exc)


def test_a_401_from_the_token_endpoint_says_to_check_the_url_and_account(
        tenant: FakeTenant, make_client: MakeClient) -> None:
    tenant.queue("POST", TOKEN_PATH,
                 (401, {}, {"error": "invalid_client", "error_description": "Client authentication failed"}))
    with pytest.raises(PlatformAuthError) as caught:
        make_client().read_config("sync")
    exc = caught.value
    assert exc.status == 401 and exc.code == "invalid_client"
    assert exc.hint is not None and "tenantUrl" in exc.hint and "Active" in exc.hint
