"""Turns what Microsoft's login endpoint and Graph say into idmctl's typed errors, with hints.

Both mappings live here so that every message is built the same way: the remote code, where it
happened, a truncated remote message, and what to do. No header, token or secret ends up in one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from controller.connectors.msgraph._settings import GraphSettings
from controller.connectors.msgraph._transport import parse_retry_after
from controller.errors import (
    AuthError,
    ConnectorError,
    DeltaExpired,
    GraphError,
    GraphNotFound,
    GraphThrottled,
)
from controller.transport import one_line, redact

__all__ = ["AADSTS_HINTS", "READ_ROLES", "auth_error", "batch_item_error", "discovery_error", "graph_error",
           "item_header", "redact"]

MAX_REMOTE_MESSAGE = 300

# Reading users needs one of these application permissions (Graph's user-list permissions table).
READ_ROLES = ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")

AADSTS_HINTS: dict[int, str] = {
    7000215: "The client secret is wrong: use the secret's Value, not its Secret ID "
             "(Entra admin center > App registrations > Certificates & secrets)",
    7000222: "The client secret has expired: create a new one under Certificates & secrets and update "
             "the secret this connector reads",
    700016: "The application (client id) was not found in this tenant: check spec.clientId and "
            "spec.tenantId, and that the app registration lives in that tenant",
    90002: "The tenant was not found: check spec.tenantId and spec.authorityHost (sovereign clouds "
           "have their own login host)",
    70011: "The scope is not valid: spec.tokenScope must be '<graphUrl>/.default' (leave it null for "
           "the default)",
    700024: "The client assertion is not valid: check the machine clock and the credential",
    7000112: "The application is disabled in this tenant: enable its enterprise application",
    50034: "The account does not exist in this tenant: check spec.tenantId",
}

_TRAILER = re.compile(r"\s*(Trace ID|Correlation ID|Timestamp):.*$", re.S)


def _truncate(text: str, limit: int = MAX_REMOTE_MESSAGE) -> str:
    return one_line(text, limit)


def _aadsts(result: Mapping[str, Any]) -> int | None:
    codes = result.get("error_codes")
    if isinstance(codes, list) and codes and isinstance(codes[0], int):
        return codes[0]
    match = re.search(r"AADSTS(\d+)", str(result.get("error_description", "")))
    return int(match.group(1)) if match else None


def auth_error(result: Mapping[str, Any], settings: GraphSettings) -> AuthError:
    """The error for an msal error dict (``error``, ``error_description``, ``error_codes``)."""
    number = _aadsts(result)
    description = _TRAILER.sub("", str(result.get("error_description") or ""))
    description = re.sub(r"^AADSTS\d+:\s*", "", description)
    description = _truncate(redact(description, (settings.client_secret,)))
    error = str(result.get("error") or "error")
    code = f"AADSTS{number}" if number is not None else error
    message = (
        f"connector {settings.name!r}: {settings.authority} refused a token for client "
        f"{settings.client_id}: {code} ({error})"
    )
    if description:
        message += f": {description}"
    hint = AADSTS_HINTS.get(number or 0)
    if hint is None:
        hint = "Check spec.tenantId, spec.clientId, the client secret and spec.authorityHost"
    return AuthError(message, code=code, hint=hint)


def discovery_error(body: Mapping[str, Any] | None, settings: GraphSettings, reason: str) -> ConnectorError:
    """The error for msal failing to read the tenant's OpenID configuration (unknown tenant, wrong host)."""
    if body and _aadsts(body) is not None:
        return auth_error(body, settings)
    return ConnectorError(
        f"connector {settings.name!r}: cannot read the OpenID configuration of {settings.authority} "
        f"({_truncate(redact(reason, (settings.client_secret,)), 200)})",
        code="DISCOVERY",
        hint="Check spec.tenantId and spec.authorityHost",
    )


def _error_body(response: requests.Response) -> tuple[str | None, str]:
    try:
        body = json.loads(response.text or "null")
    except ValueError:
        return None, response.text or ""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        return err.get("code"), str(err.get("message") or "")
    return None, response.text or ""


def _request_id(response: requests.Response) -> str | None:
    rid = response.headers.get("request-id") or response.headers.get("client-request-id")
    if rid:
        return rid
    try:
        inner = json.loads(response.text)["error"].get("innerError") or {}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return inner.get("request-id") if isinstance(inner, dict) else None


def graph_error(response: requests.Response, settings: GraphSettings) -> GraphError:
    """The one mapping of a Graph error response to a typed error (never reads request headers)."""
    code, remote = _error_body(response)
    method = response.request.method if response.request is not None else "GET"
    return _graph_error(response.status_code, code, remote, _request_id(response), response.headers.get("Retry-After"),
                        f"{method} {urlsplit(response.url or '').path or '/'}", settings)


def batch_item_error(item: Mapping[str, Any], request: str, settings: GraphSettings) -> GraphError:
    """The error for one failed response of a ``$batch`` (``request``: ``GET /users/{id}`` as sent in it)."""
    body = item.get("body")
    err = body.get("error") if isinstance(body, dict) else None
    code = err.get("code") if isinstance(err, dict) and isinstance(err.get("code"), str) else None
    remote = str(err.get("message") or "") if isinstance(err, dict) else ""
    inner = err.get("innerError") if isinstance(err, dict) else None
    request_id = inner.get("request-id") if isinstance(inner, dict) else None
    status = item.get("status")
    return _graph_error(status if isinstance(status, int) else 0, code, remote,
                        request_id if isinstance(request_id, str) else None, item_header(item, "Retry-After"),
                        f"{request} (in a $batch)", settings)


def item_header(item: Mapping[str, Any], name: str) -> str | None:
    """A header of one ``$batch`` response (names compare without case, as HTTP's do)."""
    headers = item.get("headers")
    if isinstance(headers, dict):
        for key, value in headers.items():
            if isinstance(key, str) and key.lower() == name.lower() and isinstance(value, str):
                return value
    return None


def _graph_error(status: int, code: str | None, remote: str, request_id: str | None, retry_after_header: Any,
                 request: str, settings: GraphSettings) -> GraphError:
    remote = _truncate(redact(remote, (settings.client_secret,)))
    where = f"connector {settings.name!r}: Microsoft Graph answered {status}"
    where += f" {code}" if code else ""
    message = f"{where} to {request}" + (f": {remote}" if remote else "")
    if request_id:
        message += f" (request-id {request_id})"
    kw: dict[str, Any] = {"status": status, "code": code, "request_id": request_id}
    lowered = (code or "").lower()
    if status == 410 or (status in (400, 404) and lowered in ("syncstatenotfound", "resyncrequired")):
        return DeltaExpired(message, hint="The delta link has expired: a full run is needed", **kw)
    if status in (429, 503, 504):
        retry_after = parse_retry_after(retry_after_header if isinstance(retry_after_header, str) else None)
        return GraphThrottled(
            message,
            retry_after=retry_after,
            hint=f"Throttling outlasted the retry budget of {settings.max_retry_wait:g}s; try again later"
            + (f" (Graph asks to wait {retry_after:g}s)" if retry_after is not None else ""),
            **kw,
        )
    if status == 404:
        return GraphNotFound(message, hint="The object does not exist (or is not visible to this app)", **kw)
    if status == 403:
        return GraphError(
            message,
            hint="Grant the application permission User.Read.All (Microsoft Graph, Application) and "
                 "grant admin consent",
            **kw,
        )
    if status == 401:
        return GraphError(
            message,
            hint=f"Graph did not accept the token: spec.tokenScope must be {settings.graph_url}/.default "
                 "for this graphUrl",
            **kw,
        )
    if lowered == "request_unsupportedquery":
        return GraphError(
            message,
            hint="Graph's default $filter does not support this expression: keep it to eq, startswith, "
                 "in, and/or on filterable properties (the rest is evaluated locally)",
            **kw,
        )
    return GraphError(message, **kw)
