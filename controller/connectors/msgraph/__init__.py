"""The Microsoft Graph connector: msal client credentials, requests, paging, delta and typed errors."""

from controller.connectors.msgraph._connector import (
    MAX_PAGE_BYTES,
    MAX_VALUE_CHARS,
    PAGE_ITEMS_FACTOR,
    DeltaPage,
    GraphConnector,
    ReadLimits,
)
from controller.connectors.msgraph._errors import READ_ROLES, auth_error, graph_error
from controller.connectors.msgraph._report import ConnectionReport, ReadOutcome
from controller.connectors.msgraph._settings import (
    DEFAULT_AUTHORITY_HOST,
    DEFAULT_GRAPH_URL,
    MICROSOFT_AUTHORITY_HOSTS,
    GraphSettings,
    Timeouts,
)
from controller.connectors.msgraph._token import token_claims
from controller.connectors.msgraph._transport import RetryPolicy, parse_retry_after

__all__ = [
    "DEFAULT_AUTHORITY_HOST",
    "DEFAULT_GRAPH_URL",
    "MAX_PAGE_BYTES",
    "MAX_VALUE_CHARS",
    "MICROSOFT_AUTHORITY_HOSTS",
    "PAGE_ITEMS_FACTOR",
    "READ_ROLES",
    "ConnectionReport",
    "DeltaPage",
    "GraphConnector",
    "GraphSettings",
    "ReadLimits",
    "ReadOutcome",
    "RetryPolicy",
    "Timeouts",
    "auth_error",
    "graph_error",
    "parse_retry_after",
    "token_claims",
]
