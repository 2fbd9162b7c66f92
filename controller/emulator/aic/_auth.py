"""Service accounts and AM's JWT-bearer token endpoint, as AIC runs them (reference §1).

A service account's key pair is made once and kept in the state directory: the private JWK
(``service-account.jwk``) and its PEM (``service-account.pem``), both 0600, for an environment's
secret; the public JWKS is stored on the ``managed/svcacct/<id>`` record as a string, as AIC does.

``POST /am/oauth2/access_token`` checks an RS256 assertion against that JWKS (no ``kid`` needed):
``iss == sub == the account id``, ``aud`` the token URL (with or without ``:443``), ``exp`` present,
not past and at most 180 s ahead, a ``jti`` never seen before, ``client_id=service-account``, and
scopes within the account's. Access tokens are opaque random strings that expire.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from controller.emulator._pki import write_private

__all__ = [
    "DEFAULT_SCOPES",
    "DEFAULT_SERVICE_ACCOUNT_ID",
    "JWT_BEARER",
    "AccessToken",
    "TokenService",
    "load_or_make_account_key",
    "private_jwk",
    "public_jwks",
]

DEFAULT_SERVICE_ACCOUNT_ID = "3f8a6c2e-1b4d-4e7a-9c5f-8d2e0b6a4c1f"
DEFAULT_SCOPES = ("fr:idm:*", "fr:idc:esv:*", "fr:am:*")
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_MAX_ASSERTION_LIFETIME = 180
_LEEWAY = 1  # seconds: a client rounding now+180 up is still within AM's limit


def _b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def private_jwk(key: rsa.RSAPrivateKey) -> dict[str, str]:
    """The RSA private key as a JWK (kty, n, e, d, p, q, dp, dq, qi; no kid)."""
    priv = key.private_numbers()
    pub = priv.public_numbers
    return {"kty": "RSA", "n": _b64(pub.n), "e": _b64(pub.e), "d": _b64(priv.d), "p": _b64(priv.p),
            "q": _b64(priv.q), "dp": _b64(priv.dmp1), "dq": _b64(priv.dmq1), "qi": _b64(priv.iqmp)}


def public_jwks(key: rsa.RSAPrivateKey) -> str:
    """The JWKS string stored on the account's record: the public fields only."""
    jwk = private_jwk(key)
    return json.dumps({"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "e": jwk["e"], "n": jwk["n"]}]},
                      separators=(",", ":"))


def load_or_make_account_key(state: Path) -> rsa.RSAPrivateKey:
    """The service account's key from ``service-account.pem``, or a new one (JWK and PEM written, 0600)."""
    pem_path, jwk_path = state / "service-account.pem", state / "service-account.jwk"
    if pem_path.exists():
        key = serialization.load_pem_private_key(pem_path.read_bytes(), password=None,
                                                 unsafe_skip_rsa_key_validation=True)  # our own key file
        if isinstance(key, rsa.RSAPrivateKey):
            if not jwk_path.exists():
                write_private(jwk_path, (json.dumps(private_jwk(key), indent=2) + "\n").encode())
            return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    write_private(pem_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    write_private(jwk_path, (json.dumps(private_jwk(key), indent=2) + "\n").encode())
    return key


@dataclass(frozen=True)
class AccessToken:
    """An issued bearer token: whose, which scopes, until when (epoch seconds)."""

    subject: str
    scopes: frozenset[str]
    expires_at: float


class _Refused(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error, self.description = error, description


def _granted(requested: str, owned: Iterable[str]) -> bool:
    return any(requested == scope or scope.endswith("*") and requested.startswith(scope[:-1]) for scope in owned)


class TokenService:
    """The token endpoint and the bearer check; accounts come from ``accounts()`` (id -> record)."""

    def __init__(self, token_lifetime: int = 899) -> None:
        self.token_lifetime = token_lifetime
        self._lock = threading.Lock()
        self._tokens: dict[str, AccessToken] = {}
        self._jtis: dict[str, float] = {}

    def token(self, body: bytes, accounts: Mapping[str, Mapping[str, Any]],
              audiences: set[str]) -> tuple[int, dict[str, Any]]:
        """Answer ``POST /am/oauth2/access_token``: (status, AM's JSON)."""
        try:
            return 200, self._issue(body, accounts, audiences)
        except _Refused as exc:
            return 400, {"error_description": exc.description, "error": exc.error}

    def _issue(self, body: bytes, accounts: Mapping[str, Mapping[str, Any]],
               audiences: set[str]) -> dict[str, Any]:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        if form.get("grant_type") != JWT_BEARER:
            raise _Refused("unsupported_grant_type", f"Grant type is not supported: {form.get('grant_type')}")
        if form.get("client_id") != "service-account":
            raise _Refused("invalid_client", "Client authentication failed: client_id must be service-account")
        assertion = form.get("assertion") or ""
        if not assertion:
            raise _Refused("invalid_request", "Missing parameter, 'assertion'")
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise _Refused("invalid_grant", "JWT is malformed") from None
        if header.get("alg") != "RS256":
            raise _Refused("invalid_grant", f"JWT is signed with {header.get('alg')}, expected RS256")
        iss, sub = claims.get("iss"), claims.get("sub")
        account = accounts.get(str(iss)) if isinstance(iss, str) else None
        if account is None:
            raise _Refused("invalid_client", "Client authentication failed: no service account with the JWT issuer")
        if sub != iss:
            raise _Refused("invalid_grant", "JWT subject must equal its issuer (the service account id)")
        if str(account.get("accountStatus", "Active")).lower() != "active":
            raise _Refused("invalid_client", "Client authentication failed: the service account is not active")
        self._verify_signature(assertion, account)
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if not any(isinstance(a, str) and a in audiences for a in auds):
            raise _Refused("invalid_grant", f"JWT audience {aud!r} is not the token endpoint")
        now = time.time()
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):
            raise _Refused("invalid_grant", "JWT has no expiry time (exp)")
        if exp <= now:
            raise _Refused("invalid_grant", "JWT has expired")
        if exp > now + _MAX_ASSERTION_LIFETIME + _LEEWAY:
            raise _Refused("invalid_grant", "JWT expiry time is too far in the future (at most 180 seconds)")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise _Refused("invalid_grant", "JWT has no jti")
        owned = [str(s) for s in account.get("scopes") or ()]
        requested = (form.get("scope") or "").split() or list(owned)
        unsupported = [s for s in requested if not _granted(s, owned)]
        if unsupported:
            raise _Refused("invalid_scope", f"Unsupported scope for service account: {','.join(unsupported)}")
        with self._lock:
            for old, until in list(self._jtis.items()):
                if until < now:
                    del self._jtis[old]
            if jti in self._jtis:
                raise _Refused("invalid_grant", "JWT jti has already been used")
            self._jtis[jti] = float(exp)
            for old_token, issued in list(self._tokens.items()):
                if issued.expires_at <= now:
                    del self._tokens[old_token]
            token = secrets.token_urlsafe(48)
            granted = sorted(set(requested), key=lambda s: (len(s), s))
            self._tokens[token] = AccessToken(str(iss), frozenset(granted), now + self.token_lifetime)
        return {"access_token": token, "scope": " ".join(granted), "token_type": "Bearer",
                "expires_in": self.token_lifetime}

    @staticmethod
    def _verify_signature(assertion: str, account: Mapping[str, Any]) -> None:
        try:
            keys = json.loads(str(account.get("jwks") or "{}")).get("keys") or []
        except ValueError:
            keys = []
        for jwk in keys:
            try:
                key = jwt.PyJWK(jwk, algorithm="RS256").key
                jwt.decode(assertion, key, algorithms=["RS256"],
                           options={"verify_aud": False, "verify_exp": False, "verify_iat": False,
                                    "verify_nbf": False})
                return
            except jwt.PyJWTError:
                continue
        raise _Refused("invalid_grant", "JWT signature is invalid for the service account's keys")

    def check(self, authorization: str | None) -> AccessToken | None:
        """The live token an ``Authorization: Bearer`` header carries, else None."""
        if not authorization or authorization[:7].lower() != "bearer ":
            return None
        token = authorization[7:].strip()
        with self._lock:
            found = self._tokens.get(token)
            if found is not None and found.expires_at <= time.time():
                del self._tokens[token]
                return None
        return found

    def expire_all(self) -> None:
        """Every token issued so far stops working (the next call gets 401)."""
        with self._lock:
            self._tokens.clear()
