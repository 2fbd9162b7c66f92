"""``AicClient``: the ``TenantApi`` over HTTPS with the service account's bearer token.

Paths and bodies are exactly the tenant's (``reference/aic-rest-api.md`` §2, §2.4, §3.2, §4, §6):

* ``/openidm/config/<id>``: ``/`` in an id is kept (``mapping/x``), anything else URL-encoded (a
  schedule id may hold spaces); PUT and DELETE carry ``?waitForCompletion=true``;
* ``/openidm/managed/<path>``: ``If-None-Match: *`` to create only, ``If-Match: <rev>`` to replace one
  revision; queries follow ``pagedResultsCookie`` until it is null or empty;
* ``/environment/*``: ``Accept-API-Version: protocol=1.0,resource=1.0`` (none on ``/openidm``), values
  sent as ``valueBase64``;
* every request carries its own ``X-ForgeRock-TransactionId`` (what Ping support asks for).

A 404 on a read is None (False on a delete). A 401 makes the token be minted again once and the call
sent again once. Any other error is a one-line ``PlatformError`` naming method, path and what to do. An
ESV value, the key and the tokens are never in an exception, a log line, the request log or a repr.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

import requests

from controller.backends import JsonObject
from controller.config.models import AicPlatformSpec
from controller.errors import PlatformError, RestartError
from controller.platforms.aic._api import TenantApi
from controller.platforms.aic._auth import ServiceAccountTokens, load_service_account_key
from controller.platforms.aic._http import AicTransport, platform_error
from controller.transport import RetryPolicy, Timeouts

__all__ = ["ENV_API_VERSION", "SCHEDULER_API_VERSION", "AicClient", "RequestLog", "connect", "filter_string"]

ENV_API_VERSION = "protocol=1.0,resource=1.0"
SCHEDULER_API_VERSION = "resource=2.0"  # scheduler/job (§5.4); its trigger action takes no version at all


@dataclass(frozen=True, slots=True)
class RequestLog:
    """One request as ``--verbose`` shows it: method, path (no query string, no body), status, time."""

    method: str
    path: str
    status: int
    ms: float

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status} ({self.ms:.0f} ms)"


def filter_string(value: str) -> str:
    """``value`` as a CREST query-filter string literal: ``"…"`` with ``\\`` and ``"`` escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _b64(value: str) -> str:
    return base64.b64encode(value.encode("utf-8")).decode("ascii")


def _origin(url: str) -> str:
    parts = urlsplit(url.strip())
    return f"{parts.scheme.lower()}://{parts.netloc}"


class AicClient:
    """One AIC tenant's REST surface (``TenantApi``), authenticated as its service account."""

    def __init__(self, tenant_url: str, realm: str, *, tokens: ServiceAccountTokens, transport: AicTransport) -> None:
        self.tenant_url = tenant_url.rstrip("/")
        self.realm = realm
        self._tokens = tokens
        self._transport = transport

    def __repr__(self) -> str:
        return f"AicClient({self.tenant_url!r}, realm={self.realm!r}, account={self._tokens.service_account_id!r})"

    def __enter__(self) -> AicClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    # --- the one request path -------------------------------------------------------------------

    def _call(self, method: str, path: str, *, params: Mapping[str, str] | None = None, body: Any = None,
              headers: Mapping[str, str] | None = None, missing: bool = False, secrets: Iterable[str] = (),
              retry_connection: bool | None = None) -> Any:
        """Send one request to ``path`` (readable, not yet encoded) and return its parsed JSON body.

        ``missing``: a 404 returns None instead of raising. ``secrets``: values in ``body`` no error may
        repeat. Connections dropped before an answer are retried for GET, PUT and DELETE unless
        ``retry_connection`` says otherwise.
        """
        method = method.upper()
        url = self.tenant_url + quote(path, safe="/")
        if params:
            url += "?" + urlencode(params, quote_via=quote)
        sent: dict[str, str] = {"Accept": "application/json", "X-ForgeRock-TransactionId": str(uuid.uuid4())}
        if path.startswith("/environment"):
            sent["Accept-API-Version"] = ENV_API_VERSION
        data: bytes | None = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode("utf-8")
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        if retry_connection is None:
            retry_connection = method in ("GET", "PUT", "DELETE")
        secrets = tuple(secrets)
        for attempt in range(2):
            sent["Authorization"] = f"Bearer {self._tokens.token()}"
            response = self._transport.send(method, url, path=path, headers=sent, data=data,
                                            retry_connection=retry_connection)
            if response.status_code == 401 and attempt == 0:
                self._tokens.invalidate()  # refused before its stated expiry: mint once, send once more
                continue
            break
        status = response.status_code
        if status == 404 and missing:
            return None
        if status >= 400:
            raise platform_error(response, method=method, path=path, account=self._tokens.service_account_id,
                                 secrets=(*secrets, *self._tokens.secrets))
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            raise PlatformError(
                f"AIC {method} {path}: {status} with a body that is not JSON", status=status, code="NOT_JSON",
                path=path, hint="spec.platform.tenantUrl does not point at an AIC tenant, or a proxy answers in "
                                "its place: check the URL and any HTTPS_PROXY setting") from None

    def _object(self, method: str, path: str, **kw: Any) -> JsonObject:
        answer = self._call(method, path, **kw)
        if not isinstance(answer, dict):
            raise self._shape(method, path, "a JSON object")
        return answer

    def _optional(self, path: str, params: Mapping[str, str] | None = None) -> JsonObject | None:
        answer = self._call("GET", path, params=params, missing=True)
        if answer is not None and not isinstance(answer, dict):
            raise self._shape("GET", path, "a JSON object")
        return answer

    def _deleted(self, path: str, params: Mapping[str, str] | None = None) -> bool:
        return self._call("DELETE", path, params=params, missing=True) is not None

    @staticmethod
    def _shape(method: str, path: str, expected: str) -> PlatformError:
        return PlatformError(f"AIC {method} {path}: the answer is not {expected}", code="UNEXPECTED_SHAPE",
                             path=path, hint="spec.platform.tenantUrl may not point at an AIC tenant")

    def _pages(self, path: str, params: Mapping[str, str], page_size: int | None, *,
               headers: Mapping[str, str] | None = None) -> Iterator[JsonObject]:
        """Every ``result`` item of a CREST query, following ``pagedResultsCookie`` until null or empty."""
        cookie: str | None = None
        seen: set[str] = set()
        while True:
            query = dict(params)
            if page_size is not None:
                query["_pageSize"] = str(page_size)
            if cookie:
                query["_pagedResultsCookie"] = cookie
            page = self._object("GET", path, params=query, headers=headers)
            result = page.get("result")
            if not isinstance(result, list):
                raise self._shape("GET", path, "a query result (no result list)")
            yield from (item for item in result if isinstance(item, dict))
            cookie = page.get("pagedResultsCookie")
            if not cookie or not isinstance(cookie, str):
                return
            if cookie in seen:
                raise PlatformError(f"AIC GET {path}: the tenant handed out the same paged-results cookie twice",
                                    code="PAGING_LOOP", path=path, hint="Try again; if it persists, narrow the query")
            seen.add(cookie)

    # --- /openidm/config (§2) -------------------------------------------------------------------

    @staticmethod
    def _config(config_id: str) -> str:
        return "/openidm/config/" + config_id.strip("/")

    def read_config(self, config_id: str) -> JsonObject | None:
        return self._optional(self._config(config_id))

    def query_config(self, id_prefix: str) -> list[JsonObject]:
        return list(self._pages("/openidm/config", {"_queryFilter": f"_id sw {filter_string(id_prefix)}"}, None))

    def put_config(self, config_id: str, body: JsonObject) -> JsonObject:
        return self._object("PUT", self._config(config_id), params={"waitForCompletion": "true"}, body=body)

    def delete_config(self, config_id: str) -> bool:
        return self._deleted(self._config(config_id), {"waitForCompletion": "true"})

    # --- /environment (§4) ----------------------------------------------------------------------

    @staticmethod
    def _variable(esv_id: str) -> str:
        return "/environment/variables/" + esv_id

    @staticmethod
    def _secret(esv_id: str) -> str:
        return "/environment/secrets/" + esv_id

    def read_variable(self, esv_id: str) -> JsonObject | None:
        return self._optional(self._variable(esv_id))

    def put_variable(self, esv_id: str, *, value: str, description: str, expression_type: str) -> JsonObject:
        body = {"valueBase64": _b64(value), "description": description, "expressionType": expression_type}
        return self._object("PUT", self._variable(esv_id), body=body)

    def delete_variable(self, esv_id: str) -> bool:
        return self._deleted(self._variable(esv_id))

    def read_secret(self, esv_id: str) -> JsonObject | None:
        return self._optional(self._secret(esv_id))

    def create_secret(self, esv_id: str, *, value: str, description: str, encoding: str,
                      use_in_placeholders: bool) -> JsonObject:
        encoded = _b64(value)
        body = {"valueBase64": encoded, "description": description, "encoding": encoding,
                "useInPlaceholders": use_in_placeholders}
        # Create-only: a create whose answer was lost would be refused as "already exists" if sent again.
        return self._object("PUT", self._secret(esv_id), body=body, secrets=(value, encoded), retry_connection=False)

    def add_secret_version(self, esv_id: str, value: str) -> JsonObject:
        encoded = _b64(value)
        # AIC dedupes a value equal to the latest version: sending it again after a drop is harmless.
        return self._object("POST", self._secret(esv_id) + "/versions", params={"_action": "create"},
                            body={"valueBase64": encoded}, secrets=(value, encoded), retry_connection=True)

    def delete_secret(self, esv_id: str) -> bool:
        return self._deleted(self._secret(esv_id))

    def restart_status(self) -> str:
        return str(self._object("GET", "/environment/startup").get("restartStatus", ""))

    def restart(self) -> str:
        """Start the restart that loads pending ESVs; a ``RestartError`` while one is already running."""
        host = urlsplit(self.tenant_url).netloc
        running = RestartError(
            f"AIC tenant {host}: a restart is already running", code="RESTART_IN_PROGRESS",
            path="/environment/startup",
            hint="Wait until it is ready (AIC refuses a second one; restarts take minutes), then apply again")
        if self.restart_status() == "restarting":
            raise running
        try:
            answer = self._object("POST", "/environment/startup", params={"_action": "restart"},
                                  retry_connection=False)  # a dropped restart may have started one
        except PlatformError as exc:
            if exc.status in (400, 409, 412, 423, 503) and "restart" in str(exc).lower():
                raise running from None
            raise
        return str(answer.get("restartStatus", ""))

    # --- managed objects (§2.4, §6) -------------------------------------------------------------

    @staticmethod
    def _managed(path: str) -> str:
        return "/openidm/managed/" + path.strip("/")

    def read_managed(self, path: str) -> JsonObject | None:
        # `*` is every field but relationships (IDM leaves those out by default); `*_ref` adds them (owners).
        return self._optional(self._managed(path), {"_fields": "*,*_ref"})

    def put_managed(self, path: str, body: JsonObject, *, if_match: str | None = None,
                    create_only: bool = False) -> JsonObject:
        headers: dict[str, str] = {}
        if create_only:
            headers["If-None-Match"] = "*"
        elif if_match is not None:
            headers["If-Match"] = if_match
        # A create-only PUT sent again after a lost answer would be refused with 412: not retried.
        return self._object("PUT", self._managed(path), body=body, headers=headers,
                            retry_connection=not create_only)

    def delete_managed(self, path: str, *, if_match: str | None = None) -> bool:
        headers = {"If-Match": if_match} if if_match is not None else None
        return self._call("DELETE", self._managed(path), headers=headers, missing=True) is not None

    @staticmethod
    def _query(query_filter: str, fields: Sequence[str]) -> dict[str, str]:
        params = {"_queryFilter": query_filter}
        if fields:
            params["_fields"] = ",".join(fields)
        return params

    def query_managed(self, object_type: str, query_filter: str, *, fields: Sequence[str] = (),
                      page_size: int = 100, sort_keys: Sequence[str] = ()) -> Iterator[JsonObject]:
        params = self._query(query_filter, fields)
        if sort_keys:
            params["_sortKeys"] = ",".join(sort_keys)
        return self._pages(self._managed(object_type), params, page_size)

    # --- systems (§3.2) -------------------------------------------------------------------------

    def test_connector(self, name: str) -> JsonObject:
        return self._object("POST", "/openidm/system/" + name, params={"_action": "test"},
                            retry_connection=True)  # a test changes nothing

    def query_system(self, name: str, object_type: str, query_filter: str, *, fields: Sequence[str] = (),
                     page_size: int = 50) -> Iterator[JsonObject]:
        path = f"/openidm/system/{name}/{object_type}"
        return self._pages(path, self._query(query_filter, fields), page_size)


    # --- reconciliation and liveSync (§5.1-§5.3) ------------------------------------------------

    def start_recon(self, mapping: str, *, analyze: bool = False, persist_associations: bool = False,
                    body: JsonObject | None = None) -> JsonObject:
        params = {"_action": "recon", "mapping": mapping}
        if analyze:
            params["analyze"] = "true"
        if persist_associations:
            params["persistAssociations"] = "true"
        # Never sent twice: a start whose answer was lost may have started a run.
        return self._object("POST", "/openidm/recon", params=params, body=body, retry_connection=False)

    def read_recon(self, recon_id: str) -> JsonObject | None:
        return self._optional("/openidm/recon/" + recon_id)

    def list_recons(self) -> list[JsonObject]:
        runs = self._object("GET", "/openidm/recon").get("reconciliations")
        if not isinstance(runs, list):
            raise self._shape("GET", "/openidm/recon", "a list of reconciliations")
        return [r for r in runs if isinstance(r, dict)]

    def cancel_recon(self, recon_id: str) -> JsonObject | None:
        answer = self._call("POST", "/openidm/recon/" + recon_id, params={"_action": "cancel"}, missing=True,
                            retry_connection=True)  # cancelling twice is harmless
        return answer if isinstance(answer, dict) else None

    def recon_entries(self, recon_id: str, query_filter: str = "true", *,
                      page_size: int = 100) -> Iterator[JsonObject]:
        return self._pages(f"/openidm/recon/assoc/{recon_id}/entry", {"_queryFilter": query_filter}, page_size)

    def live_sync(self, system: str, object_type: str) -> JsonObject:
        # Not resent: AIC says not to run two identical liveSync operations at once (§5.3).
        return self._object("POST", f"/openidm/system/{system}/{object_type}", params={"_action": "liveSync"},
                            retry_connection=False)

    def read_repo(self, path: str) -> JsonObject | None:
        return self._optional("/openidm/repo/" + path.strip("/"))

    def list_links(self, mapping: str) -> Iterator[JsonObject]:
        return self._pages("/openidm/repo/link", {"_queryFilter": f"linkType eq {filter_string(mapping)}"}, 100)

    # --- the scheduler (§5.4) -------------------------------------------------------------------

    def list_jobs(self) -> list[JsonObject]:
        return list(self._pages("/openidm/scheduler/job", {"_queryFilter": "true"}, None,
                                headers={"Accept-API-Version": SCHEDULER_API_VERSION}))

    def trigger_job(self, name: str) -> JsonObject:
        # No Accept-API-Version: with resource=1.0 the trigger is 501 (§5.4).
        return self._object("POST", "/openidm/scheduler/job/" + name, params={"_action": "trigger"},
                            retry_connection=False)


def _observer(request_log: Callable[[RequestLog], None] | None) -> Callable[[str, str, int, float], None] | None:
    if request_log is None:
        return None
    log_to = request_log

    def observe(method: str, path: str, status: int, ms: float) -> None:
        log_to(RequestLog(method, unquote(path), status, ms))

    return observe


def connect(
    spec: AicPlatformSpec,
    service_account_key: str,
    *,
    base_dir: Path,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
    policy: RetryPolicy | None = None,
    request_log: Callable[[RequestLog], None] | None = None,
) -> AicClient:
    """The client for an environment's ``platform: {type: aic}``; ``service_account_key`` is the text of
    the secret ``spec.serviceAccountKey`` names (a private JWK or PEM).

    ``caBundle`` is resolved against ``base_dir`` (the repository root). ``tenantUrl`` counts by its
    origin only: a console URL pasted with ``/platform`` or ``/am`` still reaches the tenant.
    ``session``, ``sleep``, ``clock`` and ``policy`` are for tests; ``request_log`` receives every
    request (method, path, status, milliseconds: no query string, header or body).
    """
    tenant_url = _origin(spec.tenantUrl)
    key = load_service_account_key(service_account_key)
    ca_bundle: Path | None = None
    if spec.caBundle:
        ca_bundle = Path(spec.caBundle).expanduser()
        if not ca_bundle.is_absolute():
            ca_bundle = base_dir / ca_bundle
        if not ca_bundle.is_file():
            raise PlatformError(f"platform: caBundle {str(ca_bundle)!r} is not a readable file", code="TLS",
                                hint="Point spec.platform.caBundle at a PEM file (relative paths are from the "
                                     "repository root)")
    transport = AicTransport(tenant_url, ca_bundle=ca_bundle, timeouts=Timeouts.of(spec.timeoutSeconds),
                             max_retry_wait=float(spec.maxRetryWaitSeconds), session=session, sleep=sleep,
                             policy=policy, on_response=_observer(request_log))
    tokens = ServiceAccountTokens(tenant_url=tenant_url, service_account_id=spec.serviceAccountId, key=key,
                                  scopes=spec.scopes, transport=transport, clock=clock)
    return AicClient(tenant_url, spec.realm, tokens=tokens, transport=transport)


def _conforms(client: AicClient) -> TenantApi:
    return client  # mypy checks here that AicClient keeps the TenantApi contract
