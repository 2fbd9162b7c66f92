"""The ``aic`` platform (PingOne Advanced Identity Cloud): so far, rendering resources to AIC's native objects.

``render_resources`` turns an environment's validated resources into the JSON objects an AIC tenant
holds (``reference/aic-rest-api.md`` §0): ESVs, the MS Graph connector, the mapping, the application
and the schedule, each with its native id. Pure: no network, no files, no secret values.
"""

from controller.platforms.aic._api import TenantApi
from controller.platforms.aic._platform import ESV_KINDS, WRITE_ATTEMPTS, AicPlatform
from controller.platforms.aic._render import (
    CONNECTOR_REF,
    DEFAULT_REALM,
    NativeObject,
    Rendering,
    application_id,
    connector_name,
    esv_placeholder,
    mapping_name,
    owner_placeholder,
    query_filter,
    render_application,
    render_connector,
    render_esvs,
    render_mapping,
    render_resources,
    render_schedule,
    resolve_owners,
    schedule_name,
)

__all__ = [
    "CONNECTOR_REF",
    "DEFAULT_REALM",
    "ESV_KINDS",
    "WRITE_ATTEMPTS",
    "AicPlatform",
    "NativeObject",
    "Rendering",
    "TenantApi",
    "application_id",
    "connector_name",
    "esv_placeholder",
    "mapping_name",
    "owner_placeholder",
    "query_filter",
    "render_application",
    "render_connector",
    "render_esvs",
    "render_mapping",
    "render_resources",
    "render_schedule",
    "resolve_owners",
    "schedule_name",
]
