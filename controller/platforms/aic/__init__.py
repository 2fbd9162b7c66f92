"""The ``aic`` platform (PingOne Advanced Identity Cloud): rendering resources to AIC's native objects and
back, and the client of a tenant's REST API.

``render_resources`` turns an environment's validated resources into the JSON objects an AIC tenant
holds (``reference/aic-rest-api.md`` §0): ESVs, the MS Graph connector, the mapping, the application
and the schedule, each with its native id. Pure: no network, no files, no secret values.

``import_tenant`` is its inverse (``idmctl import``): a tenant's objects (``read_snapshot``) as resources,
with a note for every field idmctl cannot express.

``connect(spec, service_account_key, base_dir=...)`` returns an ``AicClient``, the ``TenantApi`` over
HTTPS, authenticated as the service account (``_auth``: JWT-bearer assertion, cached token).
"""

from controller.platforms.aic._api import TenantApi
from controller.platforms.aic._auth import ServiceAccountTokens, load_service_account_key, make_assertion, token_url
from controller.platforms.aic._client import AicClient, RequestLog, connect
from controller.platforms.aic._import import ImportNote, ImportResult, TenantSnapshot, import_tenant, read_snapshot
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
    "AicClient",
    "AicPlatform",
    "ImportNote",
    "ImportResult",
    "NativeObject",
    "Rendering",
    "RequestLog",
    "ServiceAccountTokens",
    "TenantApi",
    "TenantSnapshot",
    "application_id",
    "connect",
    "connector_name",
    "esv_placeholder",
    "import_tenant",
    "load_service_account_key",
    "make_assertion",
    "mapping_name",
    "owner_placeholder",
    "query_filter",
    "read_snapshot",
    "render_application",
    "render_connector",
    "render_esvs",
    "render_mapping",
    "render_resources",
    "render_schedule",
    "resolve_owners",
    "schedule_name",
    "token_url",
]
