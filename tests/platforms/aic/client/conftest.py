"""A minimal fake AIC tenant over real HTTPS, for the client's transport and auth tests.

It serves the token endpoint (it verifies the assertion with PyJWT against the service account's
public key, as AIC does: RS256, no kid, iss = sub, aud = the token URL, exp at most 180 s out, jti
unused) and answers other paths from routes a test sets, after any queued answers (faults). It checks
bearer tokens and records every request as it arrived (raw path and query). The AIC emulator, built
separately, replaces it in end-to-end tests; this one stays small on purpose.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from controller.config.models import AicPlatformSpec
from controller.emulator._pki import KeyMaterial, ensure_key_material
from controller.platforms.aic import AicClient, connect

ACCOUNT_ID = "6d8e4b6b-8182-4bd3-a828-a4a4f92daecb"
TOKEN_PATH = "/am/oauth2/access_token"

Reply = tuple[int, dict[str, str], Any]  # status, headers, a JSON body (or bytes, or None)
DROP: Reply = (0, {}, None)  # close the connection without answering


@dataclass
class Recorded:
    """One request as the fake received it."""

    method: str
    raw_path: str  # still URL-encoded, as it came over the wire
    raw_query: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return unquote(self.raw_path)

    @property
    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.raw_query, keep_blank_values=True).items()}

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class FakeTenant:
    url: str
    public_key: rsa.RSAPublicKey
    granted_scopes: set[str] = field(default_factory=lambda: {"fr:idm:*", "fr:idc:esv:*"})
    expires_in: int = 899
    requests: list[Recorded] = field(default_factory=list)
    routes: dict[tuple[str, str], Callable[[Recorded], Reply]] = field(default_factory=dict)
    queued: dict[tuple[str, str], list[Reply]] = field(default_factory=lambda: defaultdict(list))
    tokens: set[str] = field(default_factory=set)
    issued: list[str] = field(default_factory=list)
    jtis: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    clock: Callable[[], float] = time.time  # the tenant's time: tests share theirs with the client

    @property
    def token_url(self) -> str:
        return self.url + TOKEN_PATH

    def route(self, method: str, path: str, reply: Reply | Callable[[Recorded], Reply]) -> None:
        """Answer ``method path`` (the decoded path) with ``reply`` (or what it returns)."""
        self.routes[(method, path)] = reply if callable(reply) else (lambda _r, fixed=reply: fixed)

    def queue(self, method: str, path: str, *replies: Reply) -> None:
        """Answer the next requests to ``method path`` with ``replies``, one each, before the route."""
        self.queued[(method, path)].extend(replies)

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if (method is None or r.method == method)
                and (path is None or r.path == path)]

    # -- answering --------------------------------------------------------------------------------

    def answer(self, request: Recorded) -> Reply:
        with self.lock:
            self.requests.append(request)
            key = (request.method, request.path)
            if self.queued.get(key):
                return self.queued[key].pop(0)
            if request.path == TOKEN_PATH and request.method == "POST":
                return self._token(request)
            bearer = request.headers.get("authorization", "")
            if bearer.removeprefix("Bearer ") not in self.tokens:
                return 401, {"WWW-Authenticate": "Bearer"}, {"code": 401, "reason": "Unauthorized",
                                                              "message": "Access Denied"}
            handler = self.routes.get(key)
            if handler is None:
                return 404, {}, {"code": 404, "reason": "Not Found", "message": "Not Found"}
            return handler(request)

    def _token(self, request: Recorded) -> Reply:
        form = request.form()
        bad = (400, {}, {"error": "invalid_grant", "error_description": "JWT is not valid"})
        if form.get("client_id") != "service-account" or form.get("grant_type") != (
                "urn:ietf:params:oauth:grant-type:jwt-bearer"):
            return 400, {}, {"error": "invalid_request", "error_description": "bad grant"}
        assertion = form.get("assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, self.public_key, algorithms=["RS256"], audience=self.token_url,
                                options={"require": ["exp", "iss", "sub", "aud", "jti"], "verify_exp": False})
        except jwt.PyJWTError:
            return bad
        if "kid" in header or claims["iss"] != ACCOUNT_ID or claims["sub"] != ACCOUNT_ID:
            return bad
        now = self.clock()
        if not now < claims["exp"] <= now + 180 or claims["jti"] in self.jtis:
            return bad
        self.jtis.add(claims["jti"])
        asked = form.get("scope", "").split()
        unsupported = [s for s in asked if s not in self.granted_scopes]
        if unsupported:
            return 400, {}, {"error_description": "Unsupported scope for service account: " + ",".join(unsupported),
                             "error": "invalid_scope"}
        token = f"access-token-{len(self.issued) + 1}-Zq8xT"
        self.issued.append(token)
        self.tokens.add(token)
        return 200, {}, {"access_token": token, "scope": " ".join(reversed(asked)), "token_type": "Bearer",
                         "expires_in": self.expires_in}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (the base class's name)
        pass

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        recorded = Recorded(self.command, parts.path, parts.query,
                            {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
        status, headers, body = self.server.tenant.answer(recorded)
        if status == 0:
            self.close_connection = True
            return
        data = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    tenant: FakeTenant


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> KeyMaterial:
    """A CA and a server certificate for 127.0.0.1 (the emulator's own PKI helper)."""
    return ensure_key_material(tmp_path_factory.mktemp("aic-pki"))


@pytest.fixture(scope="session")
def account_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def key_pem(account_key: rsa.RSAPrivateKey) -> str:
    """The service account's key as PKCS#8 PEM text, as a secret holds it."""
    return account_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode()


@pytest.fixture(scope="session")
def key_jwk(account_key: rsa.RSAPrivateKey) -> str:
    """The same key as the private JWK AIC's console downloads."""
    jwk = json.loads(RSAAlgorithm.to_jwk(account_key))
    return json.dumps({**jwk, "alg": "RS256", "kid": "XHCV-test", "use": "sig"})


@pytest.fixture
def tenant(pki: KeyMaterial, account_key: rsa.RSAPrivateKey, clock: Clock) -> Iterator[FakeTenant]:
    server = _Server(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.tenant = FakeTenant(f"https://127.0.0.1:{server.server_address[1]}", account_key.public_key(),
                               clock=clock)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.tenant
    server.shutdown()
    server.server_close()
    thread.join(5)


class Clock:
    """An injectable clock (seconds): tests move it instead of waiting."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class Sleeps(list[float]):
    """Records the waits the retry policy asks for instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def platform_spec(tenant: FakeTenant, pki: KeyMaterial, **overrides: Any) -> AicPlatformSpec:
    values: dict[str, Any] = {"type": "aic", "tenantUrl": tenant.url, "serviceAccountId": ACCOUNT_ID,
                              "serviceAccountKey": "${secret.aic_sa_key}", "caBundle": str(pki.ca_cert)}
    values.update(overrides)
    return AicPlatformSpec(**values)


@pytest.fixture
def make_client(tenant: FakeTenant, pki: KeyMaterial, key_pem: str, clock: Clock, sleeps: Sleeps,
                tmp_path: Path) -> Iterator[Callable[..., AicClient]]:
    """``make_client(key=..., connect_kw={...}, **spec_overrides)``: a client of the fake tenant, closed
    after the test."""
    made: list[AicClient] = []

    def make(key: str | None = None, connect_kw: dict[str, Any] | None = None, **overrides: Any) -> AicClient:
        client = connect(platform_spec(tenant, pki, **overrides), key or key_pem, base_dir=tmp_path,
                         sleep=sleeps, clock=clock, **(connect_kw or {}))
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
