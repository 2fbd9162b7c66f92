"""The contract between the ``aic`` platform's logic and one tenant's REST surface.

``TenantApi`` is what plan, apply, import and the runs need from a PingOne Advanced Identity Cloud
tenant (``reference/aic-rest-api.md`` §9 names each endpoint); ``AicClient`` (``_client.py``) is the
implementation over HTTPS with the service account's JWT-bearer token. Everything crosses as plain
JSON bodies exactly as the tenant sends them: normalising them for comparison is the caller's job.

Rules every implementation keeps:

* a 404 on a read is ``None`` (or ``False`` on a delete), never an exception;
* any other error is a ``PlatformError`` (``PlatformAuthError``, ``PlatformThrottled``) carrying the
  HTTP status, the remote code and the path, with a hint saying what to do;
* secret values passed in (an ESV secret's value) never appear in an exception, a log or a repr.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from controller.backends import JsonObject

__all__ = ["TenantApi"]


@runtime_checkable
class TenantApi(Protocol):
    """One AIC tenant, as idmctl uses it."""

    tenant_url: str  # https://openam-<tenant>.forgeblocks.com (no trailing slash)
    realm: str  # "alpha"

    # --- /openidm/config (§2): upsert PUT, no _rev, stored verbatim, writes that can lag -----------

    def read_config(self, config_id: str) -> JsonObject | None:
        """``GET /openidm/config/<id>`` (``id`` may hold ``/``: ``mapping/x``); None on 404."""
        ...

    def query_config(self, id_prefix: str) -> list[JsonObject]:
        """Every config object whose ``_id`` starts with ``id_prefix`` (``_queryFilter=_id sw "…"``)."""
        ...

    def put_config(self, config_id: str, body: JsonObject) -> JsonObject:
        """``PUT /openidm/config/<id>?waitForCompletion=true``: create or replace; the tenant's echo."""
        ...

    def delete_config(self, config_id: str) -> bool:
        """``DELETE /openidm/config/<id>``; False when it was not there."""
        ...

    # --- /environment (§4): ESVs and the restart that loads them ---------------------------------

    def read_variable(self, esv_id: str) -> JsonObject | None:
        """The variable's record (``valueBase64``, ``expressionType``, ``loaded``, …); None on 404."""
        ...

    def put_variable(self, esv_id: str, *, value: str, description: str, expression_type: str) -> JsonObject:
        """Create or replace a variable (``value`` is sent base64-encoded)."""
        ...

    def delete_variable(self, esv_id: str) -> bool:
        ...

    def read_secret(self, esv_id: str) -> JsonObject | None:
        """The secret's metadata (``activeVersion``, ``loadedVersion``, ``loaded``, …): never its value."""
        ...

    def create_secret(self, esv_id: str, *, value: str, description: str, encoding: str,
                      use_in_placeholders: bool) -> JsonObject:
        """``PUT /environment/secrets/<id>``: create-only (an existing id is a PlatformError)."""
        ...

    def add_secret_version(self, esv_id: str, value: str) -> JsonObject:
        """``POST …/versions?_action=create``; AIC answers the latest version when the value is unchanged."""
        ...

    def delete_secret(self, esv_id: str) -> bool:
        ...

    def restart_status(self) -> str:
        """``GET /environment/startup`` -> ``"ready"`` | ``"restarting"``."""
        ...

    def restart(self) -> str:
        """``POST /environment/startup?_action=restart``; a RestartError while one is running."""
        ...

    # --- managed objects (§2.4, §6): _rev, If-Match / If-None-Match -------------------------------

    def read_managed(self, path: str) -> JsonObject | None:
        """``GET /openidm/managed/<path>?_fields=*`` (``alpha_application/<id>``); None on 404."""
        ...

    def put_managed(self, path: str, body: JsonObject, *, if_match: str | None = None,
                    create_only: bool = False) -> JsonObject:
        """``PUT /openidm/managed/<path>`` (``If-None-Match: *`` when ``create_only``); the stored object."""
        ...

    def delete_managed(self, path: str, *, if_match: str | None = None) -> bool:
        """``DELETE /openidm/managed/<path>`` (``If-Match: <rev>`` deletes that revision only); False on 404."""
        ...

    def query_managed(self, object_type: str, query_filter: str, *, fields: Sequence[str] = (),
                      page_size: int = 100, sort_keys: Sequence[str] = ()) -> Iterator[JsonObject]:
        """Every object of ``managed/<object_type>`` matching the filter, following the paged-results cookie
        (``sort_keys``: ``_sortKeys``, ``-`` for descending)."""
        ...

    # --- systems (§3.2) ---------------------------------------------------------------------------

    def test_connector(self, name: str) -> JsonObject:
        """``POST /openidm/system/<name>?_action=test``: ``{name, ok, error?, objectTypes, …}``."""
        ...

    def query_system(self, name: str, object_type: str, query_filter: str, *, fields: Sequence[str] = (),
                     page_size: int = 50) -> Iterator[JsonObject]:
        """``GET /openidm/system/<name>/<type>?_queryFilter=…``, following the cookie (the Data tab)."""
        ...

    # --- reconciliation and liveSync (§5.1-§5.3) ---------------------------------------------------

    def start_recon(self, mapping: str, *, analyze: bool = False, persist_associations: bool = False,
                    body: JsonObject | None = None) -> JsonObject:
        """``POST /openidm/recon?_action=recon&mapping=<m>[&analyze=true][&persistAssociations=true]``
        (``body`` overrides ``sourceQuery`` and the like): ``{_id, state: "ACTIVE"}`` at once; an unknown
        mapping is a 409 ``PlatformError``."""
        ...

    def read_recon(self, recon_id: str) -> JsonObject | None:
        """``GET /openidm/recon/<id>``: the summary (§5.2: ``state``, ``stage``, ``progress`` with string
        totals, ``situationSummary``, ``statusSummary`` once done); None on 404."""
        ...

    def list_recons(self) -> list[JsonObject]:
        """``GET /openidm/recon``: the ``reconciliations`` the tenant keeps (newest last)."""
        ...

    def cancel_recon(self, recon_id: str) -> JsonObject | None:
        """``POST /openidm/recon/<id>?_action=cancel``: ``{_id, action: "cancel", status}``; None on 404."""
        ...

    def recon_entries(self, recon_id: str, query_filter: str = "true", *,
                      page_size: int = 100) -> Iterator[JsonObject]:
        """``GET /openidm/recon/assoc/<id>/entry?_queryFilter=…`` (runs with ``persistAssociations``),
        following the cookie: ``sourceObjectId``, ``targetObjectId``, ``situation``, ``action``, ``status``,
        ``message``, ``phase``, …; nothing when the run kept no associations."""
        ...

    def live_sync(self, system: str, object_type: str) -> JsonObject:
        """``POST /openidm/system/<system>/<type>?_action=liveSync``: the sync stage after it
        (``{_id, _rev, connectorData: {syncToken}}``); the first call only records a token."""
        ...

    def read_repo(self, path: str) -> JsonObject | None:
        """``GET /openidm/repo/<path>`` (``synchronisation/pooledSyncStage/SYSTEMENTRAUSER``); None on 404."""
        ...

    def list_links(self, mapping: str) -> Iterator[JsonObject]:
        """``GET /openidm/repo/link?_queryFilter=linkType eq "<m>"``: ``{_id, firstId, secondId, linkType,
        linkQualifier}``, following the cookie."""
        ...

    # --- the scheduler (§5.4) --------------------------------------------------------------------------

    def list_jobs(self) -> list[JsonObject]:
        """``GET /openidm/scheduler/job?_queryFilter=true`` (``Accept-API-Version: resource=2.0``): every
        job the scheduler knows, static (``config/schedule/*``) and dynamic, with ``nextRunDate``."""
        ...

    def trigger_job(self, name: str) -> JsonObject:
        """``POST /openidm/scheduler/job/<name>?_action=trigger`` with no version header (with
        ``resource=1.0`` AIC answers 501): ``{success: true}``."""
        ...

    def close(self) -> None:
        ...
