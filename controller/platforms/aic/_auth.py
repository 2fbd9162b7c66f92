"""Authentication as AIC does it: the service account's JWT-bearer assertion and a cached access token.

``reference/aic-rest-api.md`` §1.1. The key is the service account's private key, read from a secret's
text as a private JWK (or a JWKS holding one) or a PEM (PKCS#8 or PKCS#1). The assertion is RS256 with
the header ``{"alg":"RS256"}`` (no ``kid``), ``iss`` = ``sub`` = the account id, ``aud`` = the token
URL, a fresh ``jti`` and an ``exp`` ``ASSERTION_LIFETIME`` seconds out (AIC refuses more than 180).
It is exchanged at ``<tenant>/am/oauth2/access_token`` (root realm) for a token of about 15 minutes,
which ``ServiceAccountTokens`` caches and mints again ``REFRESH_MARGIN`` seconds before it expires.

Neither the key, nor an assertion, nor a token is ever in a message, a log line or a repr.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from controller.errors import PlatformAuthError
from controller.platforms.aic._http import AicTransport, error_body, phrase, remote_text
from controller.transport import host_of

__all__ = [
    "ASSERTION_LIFETIME",
    "CLIENT_ID",
    "GRANT_TYPE",
    "REFRESH_MARGIN",
    "TOKEN_PATH",
    "ServiceAccountTokens",
    "load_service_account_key",
    "make_assertion",
    "token_url",
    "unsupported_scopes",
]

TOKEN_PATH = "/am/oauth2/access_token"
CLIENT_ID = "service-account"  # a fixed string, not the account's id
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# AIC refuses an exp more than 180 s out; 120 s leaves a minute for this host's clock to run ahead.
ASSERTION_LIFETIME = 120
REFRESH_MARGIN = 60.0
DEFAULT_EXPIRES_IN = 899  # what AIC answers; used when an answer leaves expires_in out

_KEY_HINT = ("Put the private key AIC gave for the service account in that secret: the JWK it downloads "
             "(kty RSA with d, p, q, …), a JWKS holding that one key, or a PEM (PKCS#8 or PKCS#1, unencrypted)")


def _key_error(what: str, hint: str = _KEY_HINT) -> PlatformAuthError:
    return PlatformAuthError(f"the service account key (spec.platform.serviceAccountKey) {what}",
                             code="invalid_key", hint=hint)


def _from_jwk(data: Any) -> rsa.RSAPrivateKey:
    if isinstance(data, dict) and isinstance(data.get("keys"), list):
        keys = [k for k in data["keys"] if isinstance(k, dict)]
        private = [k for k in keys if "d" in k]
        if len(private) != 1:
            raise _key_error(f"is a JWKS with {len(keys)} keys, {len(private)} of them private: it must hold "
                             "exactly one private key")
        data = private[0]
    if not isinstance(data, dict) or "kty" not in data:
        raise _key_error("is JSON but not a JWK (no kty)")
    kty = data.get("kty")
    if kty != "RSA":
        raise _key_error(f"is a JWK of kty {str(kty)[:10]!r}: AIC signs service-account assertions with "
                         "RS256, which needs an RSA key")
    if "d" not in data:
        raise _key_error("is the public JWK (no d): idmctl needs the private one",
                         hint="The public half is what AIC stores; use the private JWK AIC gave when the "
                              "service account was created (or a new key pair)")
    try:
        key = RSAAlgorithm.from_jwk(data)
    except (jwt.exceptions.InvalidKeyError, ValueError, KeyError, TypeError):
        raise _key_error("is an RSA JWK whose fields do not make a valid private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise _key_error("is not an RSA private key")
    return key


def _from_pem(text: str) -> rsa.RSAPrivateKey:
    if "PRIVATE KEY-----" not in text:
        kind = ("a certificate" if "CERTIFICATE-----" in text else
                "a public key" if "PUBLIC KEY-----" in text else "a PEM block of another kind")
        raise _key_error(f"is {kind}, not a private key")
    try:
        key = serialization.load_pem_private_key(text.encode("utf-8"), password=None)
    except TypeError:  # "Password was not given but private key is encrypted"
        raise _key_error("is an encrypted PEM",
                         hint="Store it unencrypted (openssl pkey -in key.pem -out plain.pem) in a secret only "
                              "this host can read") from None
    except ValueError:
        raise _key_error("is a PEM that does not hold a readable private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise _key_error("is not an RSA key: AIC signs service-account assertions with RS256")
    return key


def load_service_account_key(text: str) -> rsa.RSAPrivateKey:
    """The RSA private key in a secret's text: a private JWK, a JWKS with one, or a PEM (PKCS#8, PKCS#1).

    Anything else is a ``PlatformAuthError`` (code ``invalid_key``) that says what the text is, never
    what it holds.
    """
    stripped = text.strip()
    if not stripped:
        raise _key_error("is empty")
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            raise _key_error("starts like JSON but does not parse as JSON") from None
        return _from_jwk(data)
    if stripped.startswith("-----BEGIN"):
        return _from_pem(stripped)
    raise _key_error("is neither a JWK (JSON) nor a PEM (-----BEGIN …)")


def token_url(tenant_url: str) -> str:
    """``<tenant>/am/oauth2/access_token``: the root realm's token endpoint, the assertion's ``aud``."""
    return tenant_url.rstrip("/") + TOKEN_PATH


def make_assertion(key: rsa.RSAPrivateKey, service_account_id: str, audience: str, *, now: float,
                   lifetime: int = ASSERTION_LIFETIME, jti: str | None = None) -> str:
    """The signed JWT-bearer assertion: header ``{"alg":"RS256"}``, claims iss, sub, aud, exp, jti."""
    if not 0 < lifetime <= 180:
        raise ValueError("AIC accepts an assertion lifetime of at most 180 s")
    claims = {
        "iss": service_account_id,
        "sub": service_account_id,
        "aud": audience,
        "exp": int(now) + lifetime,
        "jti": jti or str(uuid.uuid4()),
    }
    # headers={"typ": None} drops PyJWT's default "typ": the header is exactly {"alg": "RS256"}.
    return jwt.encode(claims, key, algorithm="RS256", headers={"typ": None})


def unsupported_scopes(description: str) -> list[str]:
    """The scopes in AIC's "Unsupported scope for service account: a,b" (empty when it says otherwise)."""
    _, sep, listed = description.partition(":")
    if not sep or "scope" not in description.lower():
        return []
    return [s.strip() for s in listed.split(",") if s.strip()]


class ServiceAccountTokens:
    """Access tokens of one service account, cached until ``REFRESH_MARGIN`` s before they expire.

    ``clock`` (seconds, like ``time.time``) is injectable for tests; ``invalidate`` forgets the cached
    token (the tenant refused it with a 401 before its stated expiry).
    """

    def __init__(self, *, tenant_url: str, service_account_id: str, key: rsa.RSAPrivateKey,
                 scopes: Sequence[str], transport: AicTransport, clock: Callable[[], float] = time.time) -> None:
        self.tenant_url = tenant_url.rstrip("/")
        self.token_url = token_url(self.tenant_url)
        self.service_account_id = service_account_id
        self.scopes = list(scopes)
        self._key = key
        self._transport = transport
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self.minted = 0  # how many tokens were obtained: tests and -v output read it

    def __repr__(self) -> str:
        return f"ServiceAccountTokens({self.service_account_id!r}, {self.token_url})"

    @property
    def secrets(self) -> tuple[str, ...]:
        """The current token: what error messages must never repeat."""
        return (self._token,) if self._token else ()

    def token(self) -> str:
        """A valid access token: the cached one, or a new one when it is due."""
        with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                self._token = None
                self._token, self._refresh_at = self._mint()
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None
            self._refresh_at = 0.0

    def _mint(self) -> tuple[str, float]:
        started = self._clock()
        assertion = make_assertion(self._key, self.service_account_id, self.token_url, now=started)
        form = {
            "client_id": CLIENT_ID,
            "grant_type": GRANT_TYPE,
            "assertion": assertion,
            "scope": " ".join(self.scopes),
        }
        response = self._transport.send(
            "POST", self.token_url, path=TOKEN_PATH, data=form, retry_connection=True,  # minting changes nothing
            headers={"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"},
        )
        body = error_body(response)
        token = body.get("access_token")
        if response.status_code != 200 or not isinstance(token, str) or not token:
            raise self._refused(response.status_code, body, assertion)
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else DEFAULT_EXPIRES_IN
        margin = REFRESH_MARGIN if lifetime > 2 * REFRESH_MARGIN else lifetime / 2
        self.minted += 1
        return token, started + lifetime - margin

    def _refused(self, status: int, body: dict[str, Any], assertion: str) -> PlatformAuthError:
        where = f"AIC tenant {host_of(self.tenant_url)}"
        account = self.service_account_id
        error = str(body.get("error") or "")
        description = remote_text(str(body.get("error_description") or ""), (assertion, *self.secrets))
        kw: dict[str, Any] = {"status": status, "code": error or str(status), "path": TOKEN_PATH}
        if error == "invalid_scope":
            missing = unsupported_scopes(description) or self.scopes
            return PlatformAuthError(
                f"{where}: service account {account} may not ask for the scope"
                f"{'s' if len(missing) > 1 else ''} {', '.join(missing)} (invalid_scope)",
                hint=f"Grant {'them' if len(missing) > 1 else 'it'} to the service account in the AIC console "
                     "(Tenant settings › Service accounts › the account › scopes), or remove "
                     f"{'them' if len(missing) > 1 else 'it'} from spec.platform.scopes",
                **kw,
            )
        said = f" ({error}{': ' + description if description else ''})" if error else ""
        message = f"{where}: the token endpoint refused service account {account}: {status} {phrase(status)}{said}"
        if error == "invalid_grant":
            hint = ("AIC did not accept the signed assertion: the key in spec.platform.serviceAccountKey is not "
                    f"the one registered for account {account} (check spec.platform.serviceAccountId), the "
                    "account is not Active, or this host's clock is off by more than a minute (sync it with NTP)")
        elif error in ("invalid_client", "unauthorized_client") or status == 401:
            hint = (f"AIC does not accept service account {account} here: check spec.platform.tenantUrl (the "
                    "tenant's https://openam-<tenant>.forgeblocks.com, no path), spec.platform.serviceAccountId, "
                    "and that the account exists and is Active (Tenant settings › Service accounts)")
        elif not body:
            hint = (f"{self.token_url} did not answer like an AIC token endpoint: check spec.platform.tenantUrl")
        else:
            hint = ("Check spec.platform.serviceAccountId, the key in spec.platform.serviceAccountKey and "
                    "spec.platform.scopes against the service account in the AIC console")
        return PlatformAuthError(message, hint=hint, **kw)
