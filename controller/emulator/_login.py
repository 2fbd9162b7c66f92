"""Emulated Microsoft Entra login: tenants, app registrations, the token endpoint and access tokens.

Answers what msal's ``ConfidentialClientApplication`` asks (OpenID configuration, client-credentials
token POST) with Entra's statuses and error bodies, and issues RS256 JWTs shaped like Graph app-only
tokens (v1.0 claims, ``roles`` only when permissions are granted).
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import string
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from controller.emulator._directory import Directory
from controller.errors import EmulatorHTTPError

__all__ = ["GRAPH_APP_ID", "GRAPH_RESOURCE", "App", "LoginService", "Tenant", "TokenClaims", "new_secret"]

GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "~._-"


def new_secret() -> str:
    """A secret shaped like an Entra client secret value (``xxx8Q~`` + 34 characters)."""
    head = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(3))
    return head + "8Q~" + "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(34))


@dataclass
class App:
    """An app registration with its service principal's granted application permissions."""

    client_id: str
    secret: str
    roles: list[str]
    display_name: str = "idmctl emulator app"
    object_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class Tenant:
    """A directory: id, verified domain, app registrations and its users."""

    tenant_id: str
    domain: str
    display_name: str
    directory: Directory
    apps: dict[str, App] = field(default_factory=dict)


@dataclass(frozen=True)
class TokenClaims:
    """What Graph needs from a validated bearer token."""

    tenant_id: str
    app_id: str
    roles: frozenset[str]


class LoginService:
    """The login half of the emulator; ``base_url`` is where the server listens."""

    def __init__(self, signing_key: rsa.RSAPrivateKey, *, token_lifetime: int = 3599) -> None:
        self.tenants: dict[str, Tenant] = {}
        self._signing_key = signing_key
        self._public_key = signing_key.public_key()
        self.kid = base64.urlsafe_b64encode(
            self._public_key.public_numbers().n.to_bytes(256, "big")[:15]
        ).decode().rstrip("=")
        self.token_lifetime = token_lifetime
        self.base_url = ""

    def tenant(self, name: str) -> Tenant | None:
        """A tenant by id or domain name (case-insensitive)."""
        low = name.lower()
        found = self.tenants.get(low)
        if found is None:
            found = next((t for t in self.tenants.values() if t.domain.lower() == low), None)
        return found

    # -- discovery -----------------------------------------------------------------------------
    def openid_configuration(self, tenant_name: str, *, v2: bool = True) -> tuple[int, dict[str, Any]]:
        tenant = self.tenant(tenant_name)
        if tenant is None:
            return self._error_body(_unknown_tenant(tenant_name), {})
        base, tid = self.base_url, tenant.tenant_id
        suffix = "/v2.0" if v2 else ""
        return 200, {
            "token_endpoint": f"{base}/{tid}/oauth2{suffix}/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                      "client_secret_basic"],
            "jwks_uri": f"{base}/{tid}/discovery{suffix}/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/{tid}/v2.0" if v2 else f"https://sts.windows.net/{tid}/",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base}/oidc/userinfo",
            "authorization_endpoint": f"{base}/{tid}/oauth2{suffix}/authorize",
            "device_authorization_endpoint": f"{base}/{tid}/oauth2{suffix}/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/{tid}/oauth2{suffix}/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "tid",
                                 "ver", "at_hash", "c_hash", "email"],
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": base.split("://", 1)[-1],
            "rbac_url": "https://pas.windows.net",
        }

    def instance_discovery(self, query: Mapping[str, list[str]]) -> dict[str, Any]:
        endpoint = (query.get("authorization_endpoint") or [""])[0]
        tenant = endpoint.rstrip("/").split("/")[3] if endpoint.count("/") >= 3 else "common"
        host = self.base_url.split("://", 1)[-1]
        return {
            "tenant_discovery_endpoint": f"{self.base_url}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }

    def jwks(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self._public_key, as_dict=True)
        jwk.update(kid=self.kid, use="sig", kty="RSA")
        return {"keys": [jwk]}

    # -- token endpoint ------------------------------------------------------------------------
    def token(self, tenant_name: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """``POST /{tenant}/oauth2/v2.0/token``: (status, JSON body) exactly as Entra shapes them."""
        try:
            return 200, self._token(tenant_name, body, headers)
        except EmulatorHTTPError as exc:
            return self._error_body(exc, headers)

    def _token(self, tenant_name: str, body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
        tenant = self.tenant(tenant_name)
        if tenant is None:
            raise _unknown_tenant(tenant_name)
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            try:
                basic_id, _, basic_secret = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                basic_id, basic_secret = "", ""
            client_id, secret = client_id or unquote(basic_id), secret or unquote(basic_secret)
        grant = form.get("grant_type")
        if not grant:
            raise _missing("grant_type")
        if grant != "client_credentials":
            raise EmulatorHTTPError(
                400, "unsupported_grant_type",
                f"AADSTS70003: The app requested an unsupported grant type '{grant}'. "
                "This emulator implements client_credentials only.",
            )
        if not client_id:
            raise _missing("client_id")
        app = tenant.apps.get(client_id.lower())
        if app is None:
            raise EmulatorHTTPError(
                400, "unauthorized_client",
                f"AADSTS700016: Application with identifier '{client_id}' was not found in the directory "
                f"'{tenant.display_name}'. This can happen if the application has not been installed by the "
                "administrator of the tenant or consented to by any user in the tenant. You may have sent "
                "your authentication request to the wrong tenant.",
            )
        if not secret:
            raise EmulatorHTTPError(
                401, "invalid_client",
                "AADSTS7000218: The request body must contain the following parameter: "
                "'client_assertion' or 'client_secret'.",
            )
        if not secrets.compare_digest(secret.encode(), app.secret.encode()):
            raise EmulatorHTTPError(
                401, "invalid_client",
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request "
                "is the client secret value, not the client secret ID, for a secret added to app "
                f"'{app.client_id}'.",
            )
        scope = form.get("scope", "").strip()
        if not scope:
            raise _missing("scope")
        resource = self._resource_for(scope)
        if resource is None:
            raise EmulatorHTTPError(
                400, "invalid_scope",
                f"AADSTS70011: The provided request must include a 'scope' input parameter. The provided "
                f"value for the input parameter 'scope' is not valid. The scope {scope} is not valid.",
            )
        return {
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime,
            "access_token": self._issue(tenant, app, resource),
        }

    def expired_secret(self, tenant_name: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """What Entra answers a token POST whose client secret has passed its expiry date (a fault)."""
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        client_id = form.get("client_id") or ""
        return self._error_body(EmulatorHTTPError(
            401, "invalid_client",
            f"AADSTS7000222: The provided client secret keys for app '{client_id}' are expired. Visit the Azure "
            "portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using "
            "certificate credentials for added security: https://aka.ms/certCreds.",
        ), headers)

    def _resource_for(self, scope: str) -> str | None:
        if " " in scope or not scope.endswith("/.default"):
            return None
        resource = scope[: -len("/.default")].rstrip("/")
        if resource in (GRAPH_RESOURCE, GRAPH_APP_ID, self.base_url):
            return resource
        return None

    def _issue(self, tenant: Tenant, app: App, audience: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{tenant.tenant_id}/",
            "iat": now, "nbf": now, "exp": now + self.token_lifetime,
            "aio": secrets.token_urlsafe(24),
            "app_displayname": app.display_name,
            "appid": app.client_id,
            "appidacr": "1",
            "idp": f"https://sts.windows.net/{tenant.tenant_id}/",
            "idtyp": "app",
            "oid": app.object_id,
            "rh": secrets.token_urlsafe(16),
            "sub": app.object_id,
            "tid": tenant.tenant_id,
            "uti": secrets.token_urlsafe(16),
            "ver": "1.0",
        }
        if app.roles:
            claims["roles"] = list(app.roles)
        return jwt.encode(claims, self._signing_key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})

    def validate(self, authorization: str | None) -> TokenClaims | str:
        """The claims of a valid bearer token, or Graph's 401 message explaining why it is not."""
        if not authorization or not authorization.strip():
            return "Access token is empty."
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return "Access token is empty."
        if token.count(".") != 2:
            return "CompactToken parsing failed with error code: 80049217"
        try:
            claims = jwt.decode(
                token, self._public_key, algorithms=["RS256"],
                audience=[GRAPH_RESOURCE, GRAPH_APP_ID, self.base_url],
                options={"require": ["exp", "tid", "appid"]},
            )
        except jwt.ExpiredSignatureError:
            return "Lifetime validation failed, the token is expired."
        except jwt.InvalidAudienceError:
            return "Access token validation failure. Invalid audience."
        except jwt.PyJWTError:
            return "Access token validation failure."
        tenant = self.tenant(str(claims["tid"]))
        if tenant is None:
            return "Access token validation failure. Invalid issuer."
        return TokenClaims(tenant.tenant_id, str(claims["appid"]), frozenset(claims.get("roles") or ()))

    def _error_body(self, exc: EmulatorHTTPError, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        trace_id = str(uuid.uuid4())
        correlation_id = headers.get("client-request-id") or str(uuid.uuid4())
        now = dt.datetime.now(dt.UTC)
        stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
        code = int(exc.message.split(":", 1)[0].removeprefix("AADSTS"))
        return exc.status, {
            "error": exc.code,
            "error_description": f"{exc.message}\r\nTrace ID: {trace_id}\r\n"
                                 f"Correlation ID: {correlation_id}\r\nTimestamp: {stamp}",
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"{self.base_url}/error?code={code}",
        }


def _unknown_tenant(name: str) -> EmulatorHTTPError:
    return EmulatorHTTPError(
        400, "invalid_tenant",
        f"AADSTS90002: Tenant '{name}' not found. Check to make sure you have the correct tenant ID and are "
        "signing into the correct cloud. Check with your subscription administrator, this may happen if "
        "there are no active subscriptions for the tenant.",
    )


def _missing(param: str) -> EmulatorHTTPError:
    return EmulatorHTTPError(
        400, "invalid_request",
        f"AADSTS900144: The request body must contain the following parameter: '{param}'.",
    )
