"""``AicEmulator``: a local PingOne Advanced Identity Cloud tenant over HTTPS, and ``serve_aic``.

It answers what idmctl's ``aic`` platform calls (reference §1-§6, §9 rows 1-17): AM's
service-account token endpoint, ``/openidm/config``, managed objects, ``/openidm/system`` (which really
calls Microsoft Graph, liveSync included), ``/environment`` (ESVs and the restart), and through
``SyncService`` recon, links, sync stages and the scheduler. The tenant's data (config, managed
objects, ESVs) is kept in ``<state-dir>/tenant.json`` (0600) and survives a restart of the emulator, as a
tenant would; the key material is kept too:

- ``ca.pem`` (trust it), ``server.pem``/``server-key.pem`` (the TLS server), as the Graph emulator's;
- ``service-account.jwk`` and ``service-account.pem`` (0600): the service account's private key;
- ``admin_token`` (0600): the admin API's token (``X-Emulator-Token``);
- ``emulator.json`` while it runs (``serve_aic``).

The admin API (``/_emulator/...``) edits config and managed objects directly ("as a person in the
console", for drift), adds users, drives faults and the restart, reads the store and resets it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from controller.emulator._base import ADMIN_TOKEN_HEADER, LocalService, load_or_make
from controller.emulator._emulator import serve
from controller.emulator._faults import FaultBook
from controller.emulator._pki import ensure_key_material, write_private
from controller.emulator._reply import Reply
from controller.emulator._server import admin_body
from controller.emulator.aic._auth import (
    DEFAULT_SCOPES,
    DEFAULT_SERVICE_ACCOUNT_ID,
    JWT_BEARER,
    TokenService,
    load_or_make_account_key,
    public_jwks,
)
from controller.emulator.aic._esv import EsvStore
from controller.emulator.aic._faults import AicFault
from controller.emulator.aic._http import CrestError, crest_reply, query_params
from controller.emulator.aic._service import SyncService
from controller.emulator.aic._store import ConfigStore, ManagedStore, fields_of, managed_view, query_answer
from controller.emulator.aic._system import (
    MICROSOFT_GRAPH,
    MICROSOFT_LOGIN,
    GraphConnector,
    Unavailable,
    connector_status,
    resolve_placeholders,
    unavailable,
)
from controller.errors import EmulatorError

__all__ = ["APP_OWNER", "DEFAULT_AIC_PORT", "DEFAULT_AIC_STATE_DIR", "AicEmulator", "serve_aic"]

DEFAULT_AIC_PORT = 48443
DEFAULT_AIC_STATE_DIR = Path(".emulator-aic")
TOKEN_PATH = "/am/oauth2/access_token"
# The demo application's owner, seeded on first start (renderers look owners up by userName).
APP_OWNER: dict[str, Any] = {
    "_id": "5e2b9c1d-7a4f-4b3e-8c6d-1f0a9e8b7c2d",
    "userName": "app-owner",
    "givenName": "App",
    "sn": "Owner",
    "mail": "app-owner@example.com",
    "accountStatus": "active",
}
_ESV_READ = frozenset({"fr:idc:esv:*", "fr:idc:esv:read", "fr:idm:*"})
_ESV_UPDATE = frozenset({"fr:idc:esv:*", "fr:idc:esv:update", "fr:idm:*"})
_ESV_RESTART = frozenset({"fr:idc:esv:*", "fr:idc:esv:restart", "fr:idm:*"})


@dataclass(frozen=True)
class _Request:
    """One ``/openidm`` or ``/environment`` request, past authentication and faults."""

    method: str
    parts: list[str]  # the path's segments after /openidm or /environment, URL-decoded
    query: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    lose_write: bool = False
    hang: bool = False


class AicEmulator(LocalService):
    """A local AIC tenant on 127.0.0.1 over HTTPS; use as a context manager or start/stop.

    ``restart_seconds``: how long an ESV restart takes; ``token_lifetime``: access tokens' ``expires_in``;
    ``entra_login``/``entra_graph``/``entra_ca``: where the MS Graph connector finds Microsoft;
    ``base_url`` is the tenant URL (AM, IDM and /environment at once).
    """

    _what = "the AIC emulator"

    def __init__(
        self,
        state_dir: Path,
        *,
        port: int = 0,
        restart_seconds: float = 2.0,
        token_lifetime: int = 899,
        entra_login: str = MICROSOFT_LOGIN,
        entra_graph: str = MICROSOFT_GRAPH,
        entra_ca: Path | None = None,
        service_account_id: str = DEFAULT_SERVICE_ACCOUNT_ID,
        realm: str = "alpha",
        faults: Iterable[AicFault | str] = (),
        recon_record_delay: float = 0.0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(state_dir, port=port, log=log)
        self.service_account_id = service_account_id.lower()
        self.realm = realm
        self.faults = FaultBook()
        for fault in faults:
            self.faults.add(AicFault.parse(fault) if isinstance(fault, str) else fault)
        self.tokens = TokenService(token_lifetime)
        self.esv = EsvStore(restart_seconds)
        self.config = ConfigStore()
        self.managed = ManagedStore()
        self.graph = GraphConnector(entra_login, entra_graph, str(entra_ca) if entra_ca else None)
        self.sync = SyncService(self.config, self.managed, realm, read_system=self._read_system,
                                system_delta=self._system_delta, system_one=self._system_one, save=self._save,
                                record_delay=recon_record_delay, log=log)
        self._save_lock = threading.Lock()
        self._dirty = threading.Event()
        self._saver: threading.Thread | None = None
        self._saving = False
        self._account_key: rsa.RSAPrivateKey | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> AicEmulator:
        """Create or reuse the key material and the tenant's data, and serve on 127.0.0.1 in a thread."""
        if self._server is not None:
            return self
        if isinstance(self.graph.verify, str) and not Path(self.graph.verify).is_file():
            raise EmulatorError(f"--entra-ca {self.graph.verify} is not a file",
                                hint="Pass the PEM bundle of the CA that signed the Graph server's certificate "
                                     "(the Graph emulator writes .emulator/ca.pem)")
        try:
            keys = ensure_key_material(self.state_dir)
            self._admin_token = load_or_make(self.admin_token_path, lambda: secrets.token_urlsafe(32))
            self._account_key = load_or_make_account_key(self.state_dir)
            self._load()
        except OSError as exc:
            raise EmulatorError(f"cannot use the state directory {self.state_dir}: {exc.strerror or exc}",
                                hint="Pass --state-dir a folder you may write (it keeps the CA, the service "
                                     "account key and the tenant's data)") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise EmulatorError(f"cannot read the tenant data {self.tenant_path}: {exc}",
                                hint="Delete the file to start from a fresh tenant") from None
        self._listen(keys, self._route)
        self._saving = True
        self._saver = threading.Thread(target=self._save_loop, name="aic-emulator-save", daemon=True)
        self._saver.start()
        self._serve("aic-emulator", poll_interval=0.05)
        self.sync.scheduler.start()
        return self

    def _stopped(self) -> None:
        self.sync.scheduler.stop()
        self.graph.close()
        self._saving = False
        self._dirty.set()
        if self._saver is not None:
            self._saver.join(timeout=10)
            self._saver = None
        with contextlib.suppress(OSError):  # the state directory may be gone (a test's tmp dir)
            self._write_tenant()

    # -- the tenant's data -------------------------------------------------------------------------
    @property
    def tenant_path(self) -> Path:
        return self.state_dir / "tenant.json"

    def _load(self) -> None:
        if self.tenant_path.exists():
            data = json.loads(self.tenant_path.read_text("utf-8"))
            self.config.load(data.get("config", {}))
            self.managed.load(data.get("managed", {}))
            self.esv.load(data.get("esv", {}))
            self.sync.repo.load(data.get("repo", {}))
        else:
            self._seed()
        self._ensure_service_account()
        self._save()

    def _seed(self) -> None:
        self.config.objects["sync"] = {"_id": "sync", "mappings": []}
        user = dict(APP_OWNER)
        self.managed.put(f"{self.realm}_user", user.pop("_id"), user)

    def _ensure_service_account(self) -> None:
        assert self._account_key is not None
        jwks = public_jwks(self._account_key)
        current = self.managed.get("svcacct", self.service_account_id)
        if current is not None and current.get("jwks") == jwks:
            return
        record = {"accountStatus": "Active", "name": "idmctl", "description": "idmctl (AIC emulator)",
                  "scopes": list(DEFAULT_SCOPES), "maxCachingTime": "15", "maxIdleTime": "15",
                  "maxSessionTime": "15", "quotaLimit": "5",
                  **{k: v for k, v in (current or {}).items() if k not in ("_id", "_rev")}, "jwks": jwks}
        self.managed.put("svcacct", self.service_account_id, record)

    def _save(self) -> None:
        """Persist the tenant: at once when not serving, else soon, by the saver thread (writes coalesce, so
        a burst of writes costs one file write, not one each); ``stop`` writes the last state."""
        if self._saving:
            self._dirty.set()
        else:
            self._write_tenant()

    def _save_loop(self) -> None:
        while self._saving:
            self._dirty.wait()
            self._dirty.clear()
            if self._saving:
                with contextlib.suppress(OSError):  # a vanished state dir must not kill the server
                    self._write_tenant()
                time.sleep(0.2)

    def _write_tenant(self) -> None:
        with self._save_lock:
            data = {"config": self.config.dump(), "managed": self.managed.dump(), "esv": self.esv.dump(),
                    "repo": self.sync.repo.dump()}
            write_private(self.tenant_path, json.dumps(data, indent=1).encode("utf-8"))

    def reset(self) -> None:
        """Back to a fresh tenant: no config but ``sync``, the service account and app-owner, no ESVs."""
        self.config.load({})
        self.managed.load({})
        self.esv.load({})
        self.esv.finish_restart()
        self.faults.clear()
        self.sync.reset()
        self._seed()
        self._ensure_service_account()
        self._save()

    # -- what clients need -----------------------------------------------------------------------
    @property
    def token_url(self) -> str:
        return f"{self.base_url}{TOKEN_PATH}"

    @property
    def service_account_jwk_path(self) -> Path:
        return self.state_dir / "service-account.jwk"

    @property
    def service_account_pem_path(self) -> Path:
        return self.state_dir / "service-account.pem"

    @property
    def service_account_key(self) -> rsa.RSAPrivateKey:
        if self._account_key is None:
            self._account_key = load_or_make_account_key(self.state_dir)
        return self._account_key

    def settings(self) -> dict[str, Any]:
        """What an environment needs (no secret value: the key is in ``serviceAccountKeyFile``)."""
        return {
            "tenantUrl": self.base_url,
            "realm": self.realm,
            "serviceAccountId": self.service_account_id,
            "serviceAccountKeyFile": str(self.service_account_jwk_path),
            "serviceAccountPemFile": str(self.service_account_pem_path),
            "tokenUrl": self.token_url,
            "caBundle": str(self.ca_path),
            "adminTokenFile": str(self.admin_token_path),
            "entraLogin": self.graph.login_url,
            "entraGraph": self.graph.graph_url,
        }

    def assertion(self, *, audience: str | None = None, lifetime: int = 180, **claims: Any) -> str:
        """A service-account JWT as a client mints it (RS256, no kid), for tests and scripts."""
        now = int(time.time())
        body = {"iss": self.service_account_id, "sub": self.service_account_id,
                "aud": audience or self.token_url, "exp": now + lifetime, "jti": str(uuid.uuid4()), **claims}
        return jwt.encode(body, self.service_account_key, algorithm="RS256")

    def bearer_token(self, scopes: Iterable[str] = DEFAULT_SCOPES) -> str:
        """An access token for the service account, issued directly (no HTTP), for tests."""
        form = urlencode({"grant_type": JWT_BEARER, "client_id": "service-account",
                          "assertion": self.assertion(), "scope": " ".join(scopes)}).encode()
        status, data = self.tokens.token(form, self._accounts(), {self.token_url})
        if status != 200:
            raise EmulatorError(f"the emulator refused its own service account: {data}")
        return str(data["access_token"])

    # -- driving it ------------------------------------------------------------------------------
    def inject_fault(self, spec: str | AicFault) -> AicFault:
        """Arm a fault (``429,retry-after=1,count=2,path=/openidm/config``, ``restart-hang``, ``lose-write``…)."""
        fault = AicFault.parse(spec) if isinstance(spec, str) else spec
        self.faults.add(fault)
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()

    def put_config(self, config_id: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a config object as the console would (secrets encrypted, no fault, no auth)."""
        stored = self.config.prepare(config_id, obj)
        with self.config.lock:
            self.config.objects[config_id] = stored
        self._save()
        return dict(stored)

    def delete_config(self, config_id: str) -> bool:
        with self.config.lock:
            found = self.config.objects.pop(config_id, None) is not None
        self._save()
        return found

    def put_managed(self, object_type: str, obj_id: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a managed object as the console would (a new ``_rev``)."""
        try:
            stored, _ = self.managed.put(object_type, obj_id, obj)
        except CrestError as exc:
            raise EmulatorError(exc.message, hint="Use a <realm>_user, <realm>_application or svcacct type") from None
        self._save()
        return stored

    def add_user(self, user: dict[str, Any], *, realm: str | None = None) -> dict[str, Any]:
        """A ``managed/<realm>_user`` (id generated unless ``_id`` is given); needs ``userName``."""
        if not user.get("userName"):
            raise EmulatorError("a managed user needs a userName", hint="Pass {\"userName\": \"alex\", ...}")
        body = dict(user)
        obj_id = str(body.pop("_id", None) or uuid.uuid4())
        return self.put_managed(f"{realm or self.realm}_user", obj_id, body)

    def finish_restart(self) -> None:
        """End a running (or hanging) restart now: every ESV loaded, status ready."""
        self.esv.finish_restart()
        self._save()

    def _accounts(self) -> dict[str, dict[str, Any]]:
        with self.managed.lock:
            return {k: dict(v) for k, v in self.managed.collections.get("svcacct", {}).items()}

    # -- HTTP routing ----------------------------------------------------------------------------
    def _route(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Reply:
        lowered = {k.lower(): v for k, v in headers.items()}
        if path.startswith("/_emulator/") or path == "/_emulator":
            return self._admin(method, path, lowered, body)
        try:
            if path == TOKEN_PATH:
                return self._fault_or(method, path, lambda f: self._token(method, lowered, body))
            if path.startswith("/openidm/") or path.startswith("/environment/"):
                self._authorize(method, path, query, lowered)
                return self._fault_or(method, path, lambda f: self._api(method, path, query, lowered, body, f))
        except CrestError as exc:
            return exc.reply()
        return crest_reply(404, f"Resource '{path}' not found")

    def _fault_or(self, method: str, path: str, answer: Callable[[AicFault | None], Reply]) -> Reply:
        fault = self.faults.take(method, path)
        if isinstance(fault, AicFault) and fault.kind in ("restart-hang", "lose-write"):
            return answer(fault)
        if fault is not None:
            if fault.drop:
                return Reply(drop=True)
            status = fault.status or 500
            headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
            message = "Too Many Requests" if status == 429 else "Injected fault"
            return crest_reply(status, message, reason=not path.startswith("/environment/"), headers=headers)
        return answer(None)

    def _token(self, method: str, headers: dict[str, str], body: bytes) -> Reply:
        if method != "POST":
            return Reply.json(405, {"error": "invalid_request", "error_description": "Use POST"})
        host = headers.get("host") or f"127.0.0.1:{self.port}"
        audiences = {self.token_url, f"https://localhost:{self.port}{TOKEN_PATH}", f"https://{host}{TOKEN_PATH}"}
        bare = host[:-4] if host.endswith(":443") else host
        audiences |= {f"https://{bare}{TOKEN_PATH}", f"https://{bare}:443{TOKEN_PATH}"}
        status, data = self.tokens.token(body, self._accounts(), audiences)
        return Reply.json(status, data, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _authorize(self, method: str, path: str, query: str, headers: dict[str, str]) -> None:
        realm = f'Bearer realm="{self.base_url}"'
        authorization = headers.get("authorization")
        token = self.tokens.check(authorization)
        if token is None:
            challenge = realm if not authorization else f'{realm}, error="invalid_token", ' \
                                                       'error_description="The access token is invalid or expired"'
            raise CrestError(401, "Access Denied", headers={"WWW-Authenticate": challenge},
                             reason=not path.startswith("/environment/"))
        if path.startswith("/openidm/"):
            needed: frozenset[str] = frozenset({"fr:idm:*"})
        elif method == "GET":
            needed = _ESV_READ
        elif path.rstrip("/") == "/environment/startup":
            needed = _ESV_RESTART
        else:
            needed = _ESV_UPDATE
        if not token.scopes & needed:
            scope = sorted(needed)[0] if path.startswith("/openidm/") else "fr:idc:esv:*"
            raise CrestError(403, "Access Denied", reason=not path.startswith("/environment/"), headers={
                "WWW-Authenticate": f'{realm}, error="insufficient_scope", scope="{scope}"'})

    def _api(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes,
             fault: AicFault | None) -> Reply:
        parts = [unquote(p) for p in path.split("/") if p]
        request = _Request(method, parts[1:], query, headers, body,
                           lose_write=fault is not None and fault.kind == "lose-write",
                           hang=fault is not None and fault.kind == "restart-hang")
        if parts[0] == "environment":
            status, data, wrote = self.esv.handle(method, request.parts, query, body, hang=request.hang)
            if wrote:
                self._save()
            return Reply(status) if data is None else Reply.json(status, data)
        route = self._idm_routes().get(request.parts[0] if request.parts else "")
        if route is None:
            raise CrestError(404, f"Resource '{'/'.join(request.parts)}' not found")
        return route(request)

    def _idm_routes(self) -> dict[str, Callable[[_Request], Reply]]:
        """``/openidm/<first segment>`` -> its handler (recon, repo and scheduler: the sync service)."""
        sync = self._sync_route
        return {"config": self._config_route, "managed": self._managed_route, "system": self._system_route,
                "recon": sync, "repo": sync, "scheduler": sync}

    def _sync_route(self, req: _Request) -> Reply:
        try:
            return self.sync.route(req.method, req.parts, req.query, req.headers, req.body)
        except Unavailable as exc:
            raise unavailable(exc) from None

    def _answer(self, status: int, data: Any, extra: dict[str, str], wrote: bool) -> Reply:
        if wrote:
            self._save()
        return Reply.json(status, data, headers={"Content-API-Version": "protocol=2.1,resource=1.0", **extra})

    def _config_route(self, req: _Request) -> Reply:
        return self._answer(*self.config.handle(req.method, "/".join(req.parts[1:]), req.query, req.body,
                                                base_url=self.base_url, lose_write=req.lose_write))

    def _managed_route(self, req: _Request) -> Reply:
        if len(req.parts) not in (2, 3):
            raise CrestError(404, f"Resource '{'/'.join(req.parts)}' not found")
        return self._answer(*self.managed.handle(req.method, req.parts[1], req.parts[2] if len(req.parts) == 3 else "",
                                                 req.query, req.headers, req.body, base_url=self.base_url,
                                                 lose_write=req.lose_write))

    def _system_route(self, req: _Request) -> Reply:
        query = query_params(req.query)
        if req.method == "POST" and query.get("_action") == "liveSync" and len(req.parts) in (1, 3):
            source = "/".join(req.parts) if len(req.parts) == 3 else query.get("source", "")
            try:
                return Reply.json(200, self.sync.live_sync(source))
            except Unavailable as exc:
                raise unavailable(exc) from None
        return self._system(req.method, req.parts[1:], req.query)

    # -- what the sync engine reads of a connector ---------------------------------------------------------
    def _object_type(self, connector: str, object_type: str) -> tuple[dict[str, Any], dict[str, Any]]:
        config = self._connector(connector)
        types = config.get("objectTypes") if isinstance(config.get("objectTypes"), dict) else {}
        spec = (types or {}).get(object_type)
        if not isinstance(spec, dict):
            raise CrestError(404, f"Resource 'system/{connector}/{object_type}' not found")
        return config, spec

    def _read_system(self, connector: str, object_type: str) -> list[dict[str, Any]]:
        try:
            return self.system_objects(connector, object_type)
        except CrestError as exc:
            raise Unavailable(exc.message) from None

    def _system_delta(self, connector: str, object_type: str,
                      token: str | None) -> tuple[list[dict[str, Any]], str]:
        config, spec = self._object_type(connector, object_type)
        return self.graph.delta(self._resolved(config), spec, token)

    def _system_one(self, connector: str, object_type: str, obj_id: str) -> dict[str, Any] | None:
        config, spec = self._object_type(connector, object_type)
        return self.graph.user(self._resolved(config), spec, obj_id)

    # -- /openidm/system ----------------------------------------------------------------------------
    def _connector(self, name: str) -> dict[str, Any]:
        config = self.config.get(f"provisioner.openicf/{name}")
        if config is None:
            raise CrestError(404, f"Resource 'system/{name}' not found")
        return config

    def _resolved(self, config: dict[str, Any]) -> dict[str, Any]:
        """The connector's configurationProperties as IDM runs them (placeholders, ``$crypto``)."""
        raw = config.get("configurationProperties")
        props = {k: self.config.decrypt(v) for k, v in (raw.items() if isinstance(raw, dict) else [])}
        missing: list[str] = []
        resolved = resolve_placeholders(props, self.esv.resolve, missing)
        if missing:
            raise Unavailable(f"connector not available: {', '.join(sorted(set(missing)))} not resolved (an ESV "
                              "that does not exist or is not loaded yet: restart to load pending ESVs)")
        if config.get("enabled") is False:
            raise Unavailable("connector not available: the connector is disabled")
        return dict(resolved)

    def _test(self, name: str, config: dict[str, Any]) -> dict[str, Any]:
        try:
            self.graph.test(self._resolved(config))
        except Unavailable as exc:
            return connector_status(name, config, ok=False, error=str(exc))
        return connector_status(name, config, ok=True, error=None)

    def system_objects(self, connector: str, object_type: str) -> list[dict[str, Any]]:
        """Every object of ``system/<connector>/<object_type>`` as IDM sees it (``_id`` = Graph id, attributes
        by name), read from Microsoft Graph now; raises Unavailable (what a recon's source phase would meet)."""
        config = self._connector(connector)
        types = config.get("objectTypes") if isinstance(config.get("objectTypes"), dict) else {}
        spec = (types or {}).get(object_type)
        if not isinstance(spec, dict):
            raise CrestError(404, f"Resource 'system/{connector}/{object_type}' not found")
        return self.graph.users(self._resolved(config), spec)

    def _system(self, method: str, rest: list[str], raw_query: str) -> Reply:
        query = query_params(raw_query)
        if not rest:
            if method == "POST" and query.get("_action") == "test":
                with self.config.lock:
                    names = sorted(k.split("/", 1)[1] for k in self.config.objects
                                   if k.startswith("provisioner.openicf/"))
                return Reply.json(200, [self._test(n, self._connector(n)) for n in names])
            raise CrestError(400, f"Unsupported request {method} on system")
        config = self._connector(rest[0])
        if len(rest) == 1:
            if method == "POST" and query.get("_action") == "test":
                return Reply.json(200, self._test(rest[0], config))
            raise CrestError(400, f"Unsupported request {method} on system/{rest[0]}")
        types = config.get("objectTypes") if isinstance(config.get("objectTypes"), dict) else {}
        object_type = (types or {}).get(rest[1])
        if not isinstance(object_type, dict):
            raise CrestError(404, f"Resource 'system/{rest[0]}/{rest[1]}' not found")
        if str(object_type.get("nativeType") or object_type.get("id")) != "__ACCOUNT__":
            raise CrestError(501, f"The AIC emulator reads only users (__ACCOUNT__), not {rest[1]}")
        if method != "GET" or len(rest) > 3:
            raise CrestError(501, f"The AIC emulator does not support {method} on system objects")
        try:
            users = self.system_objects(rest[0], rest[1])
        except Unavailable as exc:
            raise unavailable(exc) from None
        fields = fields_of(query)
        if len(rest) == 3:
            found = [u for u in users if u["_id"] == rest[2]]
            if not found:
                raise CrestError(404, f"Object {rest[2]} not found on system/{rest[0]}/{rest[1]}")
            return Reply.json(200, managed_view(found[0], fields or ["*"]))
        return Reply.json(200, query_answer(users, query, lambda o: managed_view(o, fields or ["*"])))

    # -- the admin API ---------------------------------------------------------------------------------
    def _admin(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        refused = self._admin_refused(headers.get(ADMIN_TOKEN_HEADER.lower()))
        if refused is not None:
            return refused
        parts = [unquote(p) for p in path.split("/") if p][1:]
        try:
            data = admin_body(body) if body else {}
            return self._admin_route(method, parts, data)
        except EmulatorError as exc:
            return Reply.json(400, {"error": {"code": "BadRequest", "message": exc.message}})
        except CrestError as exc:
            return Reply.json(exc.status, {"error": {"code": "BadRequest", "message": exc.message}})
        except (ValueError, TypeError, KeyError) as exc:
            return Reply.json(400, {"error": {"code": "BadRequest", "message": str(exc)}})

    def store_view(self) -> dict[str, Any]:
        """Everything the tenant holds, secret values left out (config, managed, ESVs, restart status)."""
        esv = self.esv.dump()
        for secret in esv["secrets"]:
            for version in secret["versions"]:
                version.pop("valueBase64", None)
        repo = self.sync.repo.dump()
        return {"config": self.config.dump()["objects"], "managed": self.managed.dump()["collections"],
                "links": list(repo["link"].values()), "syncStages": repo["pooledSyncStage"],
                "variables": esv["variables"], "secrets": esv["secrets"], "restartStatus": self.esv.status}

    def _admin_route(self, method: str, parts: list[str], data: dict[str, Any]) -> Reply:
        head = parts[0] if parts else ""
        if head == "info" and method == "GET":
            return Reply.json(200, {**self.settings(), "pid": os.getpid(), "port": self.port,
                                    "restartStatus": self.esv.status})
        if head == "store" and method == "GET":
            return Reply.json(200, self.store_view())
        if head == "reset" and method == "POST":
            self.reset()
            return Reply(204)
        if head == "faults":
            if method == "GET":
                return Reply.json(200, {"value": [f.to_dict() for f in self.faults.list()]})
            if method == "POST":
                return Reply.json(201, self.inject_fault(str(data["spec"])).to_dict())
            if method == "DELETE":
                self.faults.clear()
                return Reply(204)
        if parts == ["restart", "finish"] and method == "POST":
            self.finish_restart()
            return Reply(204)
        if parts == ["tokens", "expire"] and method == "POST":
            self.tokens.expire_all()
            return Reply(204)
        if head == "livesync" and method == "GET":
            return Reply.json(200, self.sync.livesync_view())
        if head == "scheduler" and method == "GET":
            return Reply.json(200, self.sync.scheduler_view())
        if parts == ["recon", "delay"] and method == "POST":
            self.sync.record_delay = float(data.get("ms", 0)) / 1000
            return Reply.json(200, {"ms": round(self.sync.record_delay * 1000)})
        if head == "users" and len(parts) == 1 and method == "POST":
            return Reply.json(201, self.add_user(data))
        if head == "config" and len(parts) > 1:
            config_id = "/".join(parts[1:])
            if method == "PUT":
                return Reply.json(200, self.put_config(config_id, data))
            if method == "DELETE":
                return Reply(204 if self.delete_config(config_id) else 404)
            if method == "GET":
                found = self.config.get(config_id)
                return Reply.json(200, found) if found is not None else Reply(404)
        if head == "managed" and len(parts) in (2, 3):
            if method == "POST" and len(parts) == 2:
                body = dict(data)
                return Reply.json(201, self.put_managed(parts[1], str(body.pop("_id", None) or uuid.uuid4()), body))
            if method == "PUT" and len(parts) == 3:
                return Reply.json(200, self.put_managed(parts[1], parts[2], data))
            if method == "GET" and len(parts) == 3:
                found = self.managed.get(parts[1], parts[2])
                return Reply.json(200, found) if found is not None else Reply(404)
            if method == "DELETE" and len(parts) == 3:
                found = self.managed.delete(parts[1], parts[2])
                self._save()
                return Reply(204 if found is not None else 404)
        return Reply.json(404, {"error": {"code": "NotFound",
                                          "message": f"no admin route {method} /_emulator/{'/'.join(parts)}"}})


def serve_aic(emulator: AicEmulator, *, on_ready: Callable[[AicEmulator], None] | None = None,
              stop: threading.Event | None = None) -> None:
    """Run ``emulator`` in the foreground until SIGINT/SIGTERM (or ``stop``), with ``emulator.json``
    (base_url, port, pid and the settings) in its state directory, removed on the way out."""
    serve(emulator, on_ready=on_ready, stop=stop)

