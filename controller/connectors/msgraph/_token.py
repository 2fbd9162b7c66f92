"""App-only access tokens from Microsoft's login endpoint, through msal's client-credentials flow.

msal owns the token cache (in memory, per connector) and refreshes a token when it has less than
five minutes left; this module owns how msal is configured and how its failures are reported.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import msal

from controller.connectors.msgraph._errors import auth_error, discovery_error, redact
from controller.connectors.msgraph._settings import GraphSettings
from controller.connectors.msgraph._transport import MsalHttpClient, Transport
from controller.errors import ConnectorError

__all__ = ["TokenProvider", "token_claims"]


def token_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified: Microsoft says clients must not validate Graph tokens,
    so this is for diagnostics (tenant, roles) only. Empty when the token is not a JWT."""
    parts = token.split(".")
    if len(parts) < 2:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


class TokenProvider:
    """Gets and caches tokens for one connector; the msal application is built on first use."""

    def __init__(self, settings: GraphSettings, transport: Transport) -> None:
        self.settings = settings
        self._http = MsalHttpClient(transport)
        self._app: msal.ConfidentialClientApplication | None = None
        self.last_source: str | None = None

    def _application(self) -> msal.ConfidentialClientApplication:
        if self._app is not None:
            return self._app
        s = self.settings
        microsoft = s.is_microsoft_authority
        try:
            self._app = msal.ConfidentialClientApplication(
                s.client_id,
                client_credential=s.client_secret,
                authority=s.authority,
                http_client=self._http,
                # Discovery and validation only make sense against Microsoft's own login hosts;
                # elsewhere msal would call login.microsoftonline.com about a host it cannot know.
                instance_discovery=microsoft,
                validate_authority=microsoft,
                # Regional endpoints (MSAL_FORCE_REGION) exist only under Microsoft's hosts.
                azure_region=None if microsoft else False,
            )
        except (ValueError, KeyError) as exc:  # KeyError: metadata without token_endpoint
            raise discovery_error(self._http.last_discovery_error, s, str(exc)) from None
        except msal.exceptions.MsalServiceError as exc:
            raise discovery_error(None, s, str(exc)) from None
        return self._app

    def token(self) -> str:
        """A valid access token (from msal's cache while it has more than five minutes left)."""
        app = self._application()
        try:
            result = app.acquire_token_for_client(scopes=[self.settings.scope])
        except msal.exceptions.MsalServiceError as exc:
            raise ConnectorError(
                f"connector {self.settings.name!r}: the token endpoint of {self.settings.authority} "
                f"failed ({redact(str(exc), (self.settings.client_secret,))[:120]})",
                code="TOKEN_ENDPOINT",
                hint="The login service is unavailable or throttling; try again later, or check "
                     "spec.authorityHost",
            ) from None
        except ValueError as exc:  # a non-JSON answer: not a Microsoft login endpoint
            raise ConnectorError(
                f"connector {self.settings.name!r}: {self.settings.authority} did not answer like a "
                f"Microsoft login endpoint ({redact(str(exc), (self.settings.client_secret,))[:120]})",
                code="TOKEN_ENDPOINT",
                hint="Check spec.authorityHost",
            ) from None
        if not isinstance(result, dict) or "access_token" not in result:
            raise auth_error(result or {}, self.settings)
        self.last_source = result.get("token_source")
        return str(result["access_token"])

    def invalidate(self) -> None:
        """Forget cached tokens (Graph rejected one before its stated expiry)."""
        if self._app is not None:
            self._app.remove_tokens_for_client()
