"""Source systems idmctl reads identities from: Microsoft Graph (msal + requests) for now."""

from controller.connectors._factory import (
    SUPPORTED_TYPES,
    connector_test,
    open_connector,
    pick_connector,
    secret_name,
)
from controller.connectors._preview import PreviewColumn, SourcePreview, connector_preview, preview_columns
from controller.connectors.msgraph import ConnectionReport, DeltaPage, GraphConnector, GraphSettings

__all__ = [
    "SUPPORTED_TYPES",
    "ConnectionReport",
    "DeltaPage",
    "GraphConnector",
    "GraphSettings",
    "PreviewColumn",
    "SourcePreview",
    "connector_preview",
    "connector_test",
    "open_connector",
    "pick_connector",
    "preview_columns",
    "secret_name",
]
