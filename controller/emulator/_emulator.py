"""``Emulator``: a local Microsoft Entra login + Microsoft Graph v1.0 server over HTTPS, and ``serve``.

The state directory keeps what must survive a restart: the CA (``ca.pem``, for ``caBundle``), the
server certificate, the token signing key, the default app's secret (``client_secret``, 0600) and the
admin API's token (``admin_token``, 0600). Users are held in memory: every start begins from the sample
tenant, ``users`` and ``generate``.

The admin API (``/_emulator/...``: info, faults, apps, users, delta expiry) lets the demo, tests and
benchmarks drive an emulator running in another process. It can grant any role and delete any user, so
every request must carry ``X-Emulator-Token: <the contents of admin_token>``: only who may read the state
directory may drive the emulator (401 without the header, 403 with a wrong token).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qs, unquote

from controller.emulator._base import ADMIN_TOKEN_HEADER, LocalService, load_or_make
from controller.emulator._directory import Directory
from controller.emulator._faults import REWRITE_KINDS, Fault, FaultBook
from controller.emulator._graph import GraphService
from controller.emulator._login import App, LoginService, Tenant, new_secret
from controller.emulator._pki import ensure_key_material
from controller.emulator._properties import DEFAULT_SELECT, project
from controller.emulator._reply import ODATA_JSON_TYPE, Reply
from controller.emulator._server import admin_body, query_flag
from controller.errors import EmulatorError, EmulatorHTTPError, UsageError

__all__ = [
    "ADMIN_TOKEN_HEADER",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_DOMAIN",
    "DEFAULT_TENANT_ID",
    "SAM_CARTER",
    "Emulator",
    "load_users_file",
    "serve",
]

DEFAULT_TENANT_ID = "f7ff6108-c26f-48dd-ae9e-9743eefbd11f"
# The sample users come from Microsoft's Graph Explorer sandbox tenant; its domain keeps them consistent.
DEFAULT_DOMAIN = "M365x214355.onmicrosoft.com"
DEFAULT_CLIENT_ID = "5b0e4c2a-8f3d-4e61-9a7c-2d1f6b8e0c47"
DEFAULT_ROLES = ("User.Read.All",)
SAM_CARTER: dict[str, Any] = {
    "id": "0c1e7f52-3a9d-4b86-8e25-6f4d2a1b9c30",
    "userPrincipalName": f"scarter@{DEFAULT_DOMAIN}",
    "mail": "scarter@example.com",
    "mailNickname": "scarter",
    "displayName": "Sam Carter",
    "givenName": "Sam",
    "surname": "Carter",
    "accountEnabled": True,
    "userType": "Member",
    "businessPhones": [],
    "createdDateTime": "2024-03-18T09:30:00Z",
}


def _sample_users() -> list[dict[str, Any]]:
    text = resources.files("controller.emulator").joinpath("data/graph-sandbox-users.json").read_text("utf-8")
    return list(json.loads(text)["value"])


def load_users_file(path: Path) -> list[dict[str, Any]]:
    """Graph-shaped users from ``{"value": [...]}`` or a plain list; raises EmulatorError when unreadable."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise EmulatorError(f"cannot read users file {path}: {exc.strerror}",
                            hint="Pass --users a JSON file with {\"value\": [...]} or a list of users") from None
    except ValueError as exc:
        raise EmulatorError(f"users file {path} is not JSON: {exc}",
                            hint="Pass --users a JSON file with {\"value\": [...]} or a list of users") from None
    users = data.get("value") if isinstance(data, dict) else data
    if not isinstance(users, list) or not all(isinstance(u, dict) for u in users):
        raise EmulatorError(f"users file {path} holds neither a list of users nor {{\"value\": [...]}}",
                            hint="Export users as GET /v1.0/users returns them")
    return users


class Emulator(LocalService):
    """A local Entra login + Graph v1.0 endpoint over HTTPS; use as a context manager or start/stop.

    ``faults`` are injected from the start (see ``inject_fault``); ``token_lifetime`` is the access
    tokens' ``expires_in``; ``delta_token_ttl`` how long a deltaLink stays valid (Graph: 7 days).
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        users: Path | None = None,
        generate: int = 0,
        port: int = 0,
        seed_sample: bool = True,
        faults: Iterable[Fault | str] = (),
        token_lifetime: int = 3599,
        delta_token_ttl: float = 7 * 86400,
        page_latency: float = 0.0,
        seed: int = 0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        if generate < 0:
            raise UsageError(f"--generate {generate} is negative", hint="Pass a user count of 0 or more")
        super().__init__(state_dir, port=port, log=log)
        self.tenant_id = DEFAULT_TENANT_ID
        self.domain = DEFAULT_DOMAIN
        self.client_id = DEFAULT_CLIENT_ID
        self._users_file = users
        self._generate = generate
        self._seed_sample = seed_sample
        self._seed = seed
        self._token_lifetime = token_lifetime
        self._delta_ttl = delta_token_ttl
        self._page_latency = page_latency
        self.faults = FaultBook()
        for fault in faults:
            self.faults.add(Fault.parse(fault) if isinstance(fault, str) else fault)
        self._login: LoginService | None = None
        self._graph: GraphService | None = None
        self._secret: str | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> Emulator:
        """Create or reuse the key material, load the users, and serve on 127.0.0.1 in a thread."""
        if self._server is not None:
            return self
        try:
            keys = ensure_key_material(self.state_dir)
            self._secret = self._load_or_make_secret()
            self._admin_token = load_or_make(self.admin_token_path, lambda: secrets.token_urlsafe(32))
        except OSError as exc:
            raise EmulatorError(f"cannot use the state directory {self.state_dir}: {exc.strerror or exc}",
                                hint="Pass --state-dir a folder you may write (it keeps the CA and the "
                                     "client secret)") from None
        users = _sample_users() + [SAM_CARTER] if self._seed_sample else []
        if self._users_file is not None:
            users += load_users_file(self._users_file)
        try:
            directory = Directory(users, generated=self._generate, domain=self.domain, seed=self._seed)
        except EmulatorHTTPError as exc:
            raise EmulatorError(f"cannot load users: {exc.message}",
                                hint="Each user needs a userPrincipalName with a domain") from None
        login = LoginService(keys.signing_key, token_lifetime=self._token_lifetime)
        tenant = Tenant(self.tenant_id, self.domain, "Contoso", directory)
        tenant.apps[self.client_id] = App(self.client_id, self._secret, list(DEFAULT_ROLES),
                                          display_name="idmctl", object_id=str(uuid.uuid5(uuid.NAMESPACE_OID,
                                                                                          self.client_id)))
        login.tenants[self.tenant_id] = tenant
        self._login, self._graph = login, GraphService(login, delta_token_ttl=self._delta_ttl,
                                                       page_latency=self._page_latency)
        self._graph.batch_send = self._route
        self._listen(keys, self._route)
        login.base_url = self.base_url
        self._serve("emulator")
        return self

    def _load_or_make_secret(self) -> str:
        return load_or_make(self.client_secret_path, new_secret)

    # -- what clients need -----------------------------------------------------------------------
    @property
    def authority(self) -> str:
        return f"{self.base_url}/{self.tenant_id}"

    @property
    def graph_url(self) -> str:
        return self.base_url

    @property
    def client_secret_path(self) -> Path:
        return self.state_dir / "client_secret"

    @property
    def client_secret(self) -> str:
        if self._secret is None:
            self._secret = self._load_or_make_secret()
        return self._secret

    def settings(self) -> dict[str, Any]:
        """The connector settings to paste (no secret value: it is in ``clientSecretFile``)."""
        return {
            "tenantId": self.tenant_id,
            "tenantDomain": self.domain,
            "clientId": self.client_id,
            "authorityHost": self.base_url,
            "graphUrl": self.graph_url,
            "caBundle": str(self.ca_path),
            "clientSecretFile": str(self.client_secret_path),
            "adminTokenFile": str(self.admin_token_path),
        }

    # -- driving it ------------------------------------------------------------------------------
    @property
    def _tenant(self) -> Tenant:
        if self._login is None:
            raise EmulatorError("the emulator is not running", hint="Call start() or use it as a context manager")
        return self._login.tenants[self.tenant_id]

    def add_app(self, roles: list[str], client_id: str | None = None, secret: str | None = None,
                *, tenant_id: str | None = None) -> tuple[str, str]:
        """Register an app granted ``roles`` (application permissions); returns (client id, secret)."""
        if tenant_id is None:
            tenant = self._tenant
        elif self._login is None:
            raise EmulatorError("the emulator is not running", hint="Call start() or use it as a context manager")
        else:
            tenant = self._login.tenants[tenant_id.lower()]
        app = App((client_id or str(uuid.uuid4())).lower(), secret or new_secret(), list(roles))
        tenant.apps[app.client_id] = app
        return app.client_id, app.secret

    def add_tenant(self, tenant_id: str | None = None, domain: str | None = None,
                   users: Iterable[Mapping[str, Any]] = ()) -> str:
        """Another tenant (no apps until ``add_app(..., tenant_id=...)``); returns its id."""
        tid = (tenant_id or str(uuid.uuid4())).lower()
        dom = domain or f"tenant{tid[:8]}.onmicrosoft.com"
        self._tenant  # noqa: B018 - raises when not running
        assert self._login is not None
        self._login.tenants[tid] = Tenant(tid, dom, dom.split(".")[0], Directory(users, domain=dom))
        return tid

    def create_user(self, user: Mapping[str, Any]) -> dict[str, Any]:
        """Create a user as an Entra admin would (mailNickname, accountEnabled filled when absent)."""
        return project(self._tenant.directory.create(user), (*DEFAULT_SELECT, "accountEnabled", "mailNickname"))

    def update_user(self, user_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """PATCH semantics: set the given properties (``None`` clears); returns the stored user."""
        return dict(self._tenant.directory.update(user_id, changes))

    def delete_user(self, user_id: str, *, permanent: bool = False) -> None:
        """Soft-delete (delta says reason "changed") or, with ``permanent``, purge (reason "deleted")."""
        self._tenant.directory.delete(user_id, permanent=permanent)

    def restore_user(self, user_id: str) -> dict[str, Any]:
        return dict(self._tenant.directory.restore(user_id))

    def get_user(self, key: str) -> dict[str, Any] | None:
        """The stored user by id or userPrincipalName, or None."""
        directory = self._tenant.directory
        with directory.lock:
            pos = directory.position(key)
            user = directory.get(pos) if pos is not None else None
        return dict(user) if user is not None else None

    def inject_fault(self, status: int | None = None, *, retry_after: int | None = None, count: int | None = 1,
                     path: str | None = None, method: str | None = None, skip: int = 0,
                     drop: bool = False, kind: str = "status", body: str | None = None,
                     content_type: str | None = None, items: int = 0, size: int = 0) -> Fault:
        """Answer the next ``count`` matching requests with ``status`` (429 by default), drop the
        connection, or break them as ``kind`` says (see ``controller.emulator._faults``)."""
        return self.faults.add(Fault(status=status, retry_after=retry_after, count=count, path=path,
                                     method=method, skip=skip, drop=drop, kind=kind, body=body,
                                     content_type=content_type, items=items, size=size))

    def clear_faults(self) -> None:
        self.faults.clear()

    def expire_delta_tokens(self, status: int = 400) -> None:
        """Make every delta/skip token issued so far fail: 400 syncStateNotFound, or 410 with Location."""
        if self._graph is None:
            raise EmulatorError("the emulator is not running", hint="Call start() first")
        self._graph.expire_delta_tokens(status)

    # -- HTTP routing ----------------------------------------------------------------------------
    def _route(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Reply:
        assert self._login is not None and self._graph is not None
        if path.startswith("/_emulator/") or path == "/_emulator":
            return self._admin(method, path, query, headers, body)
        parts = [unquote(p) for p in path.split("/") if p]
        fault = self.faults.take(method, path)
        if fault is not None:
            if fault.kind == "expired-secret":
                status, data = self._login.expired_secret(parts[0] if parts else "", body, headers)
                return Reply.json(status, data, headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})
            if fault.kind in REWRITE_KINDS:
                reply = self._graph.handle(method, path, query, headers, body)
                return _rewrite_page(fault, reply, f"{self.base_url}{path}" + (f"?{query}" if query else ""))
            return _fault_reply(fault, self.tenant_id, self.client_id, self.base_url)
        if path.startswith("/v1.0/") or path == "/v1.0":
            return self._graph.handle(method, path, query, headers, body)
        if method == "GET" and parts[-3:] == ["v2.0", ".well-known", "openid-configuration"] and len(parts) == 4:
            status, data = self._login.openid_configuration(parts[0])
            return Reply.json(status, data)
        if method == "GET" and parts[-2:] == [".well-known", "openid-configuration"] and len(parts) == 3:
            status, data = self._login.openid_configuration(parts[0], v2=False)
            return Reply.json(status, data)
        if method == "GET" and parts == ["common", "discovery", "instance"]:
            return Reply.json(200, self._login.instance_discovery(parse_qs(query)))
        if method == "GET" and len(parts) == 4 and parts[1:] == ["discovery", "v2.0", "keys"]:
            return Reply.json(200, self._login.jwks())
        if method == "POST" and len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"]:
            status, data = self._login.token(parts[0], body, headers)
            return Reply.json(status, data, headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})
        return Reply.json(404, {"error": {"code": "NotFound", "message": f"No route for {method} {path}."}})

    def _admin(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Reply:
        """``/_emulator/...``: drive a separately started emulator (demo, e2e tests). Never faulted.

        Every request must carry the admin token (see the module docstring); nothing is done without it.
        """
        refused = self._admin_refused(headers.get(ADMIN_TOKEN_HEADER))
        if refused is not None:
            return refused
        parts = [unquote(p) for p in path.split("/") if p][1:]
        try:
            data = admin_body(body) if body else {}
            return self._admin_route(method, parts, query, data)
        except EmulatorHTTPError as exc:
            return Reply.json(exc.status, {"error": {"code": exc.code, "message": exc.message}})
        except (ValueError, TypeError, UsageError) as exc:
            return Reply.json(400, {"error": {"code": "BadRequest", "message": str(exc)}})

    def _admin_route(self, method: str, parts: list[str], query: str, data: dict[str, Any]) -> Reply:
        head = parts[0] if parts else ""
        if head == "info" and method == "GET":
            directory = self._tenant.directory
            return Reply.json(200, {**self.settings(), "pid": os.getpid(), "port": self.port,
                                    "users": directory.live_count, "changeSequence": directory.seq})
        if head == "faults":
            if method == "GET":
                return Reply.json(200, {"value": [f.to_dict() for f in self.faults.list()]})
            if method == "POST":
                fault = Fault.parse(data["spec"]) if "spec" in data else Fault(**{
                    k: v for k, v in data.items() if k in ("status", "retry_after", "count", "path", "method",
                                                            "skip", "drop", "kind", "body", "content_type",
                                                            "items", "size")})
                return Reply.json(201, self.faults.add(fault).to_dict())
            if method == "DELETE":
                self.faults.clear()
                return Reply(204)
        if head == "delta" and parts[1:] == ["expire"] and method == "POST":
            self.expire_delta_tokens(int(data.get("status", 400)))
            return Reply(204)
        if head == "apps" and method == "POST":
            client_id, secret = self.add_app(list(data.get("roles", [])), data.get("client_id"), data.get("secret"))
            return Reply.json(201, {"client_id": client_id, "secret": secret})
        if head == "users":
            if len(parts) == 1 and method == "POST":
                return Reply.json(201, self.create_user(data))
            if len(parts) == 2 and method == "GET":
                user = self.get_user(parts[1])
                if user is None:
                    raise EmulatorHTTPError(404, "Request_ResourceNotFound", f"no user {parts[1]!r}")
                return Reply.json(200, user)
            if len(parts) == 2 and method == "PATCH":
                return Reply.json(200, self.update_user(parts[1], data))
            if len(parts) == 2 and method == "DELETE":
                self.delete_user(parts[1], permanent=query_flag(query, "permanent"))
                return Reply(204)
            if len(parts) == 3 and parts[2] == "restore" and method == "POST":
                return Reply.json(200, self.restore_user(parts[1]))
        raise EmulatorHTTPError(404, "NotFound", f"no admin route {method} /_emulator/{'/'.join(parts)}")


# What a proxy or captive portal answers in Graph's place: HTML with 200.
_HTML_PAGE = (b"<!DOCTYPE html><html><head><title>Web Filter Notification</title></head><body>"
              b"<h1>Connection interrupted</h1><p>Your request could not be completed. Please try again later."
              b"</p></body></html>")


def _fault_reply(fault: Fault, tenant_id: str, client_id: str, base_url: str) -> Reply:
    if fault.drop:
        return Reply(drop=True)
    if fault.kind in ("not-json", "html", "body"):
        if fault.kind == "html":
            return Reply(200, _HTML_PAGE, {"Content-Type": "text/html; charset=utf-8"})
        if fault.kind == "not-json":  # a page cut off mid-way, as a broken connection through a proxy leaves it
            text = f'{{"@odata.context":"{base_url}/v1.0/$metadata#users","value":[{{"id":"'
            return Reply(200, text.encode(), {"Content-Type": ODATA_JSON_TYPE})
        return Reply(200, (fault.body or "").encode("utf-8"),
                     {"Content-Type": fault.content_type or ODATA_JSON_TYPE})
    status = fault.status or 500  # set for every status fault (Fault.__post_init__)
    headers = {"request-id": str(uuid.uuid4())}
    if fault.retry_after is not None:
        headers["Retry-After"] = str(fault.retry_after)
    if status == 429:
        headers["x-ms-throttle-scope"] = f"Tenant_Application/ReadWrite/{client_id}/{tenant_id}"
        headers["x-ms-throttle-information"] = "ResourceUnitLimitExceeded"
        code, message = "TooManyRequests", "Too many requests."
    elif status == 503:
        code, message = "serviceNotAvailable", "Service unavailable."
    elif status == 504:
        code, message = "UnknownError", "Gateway timeout."
    else:
        code, message = "InternalServerError", "Injected fault."
    return Reply.json(status, {"error": {"code": code, "message": message,
                                                "innerError": {"request-id": headers["request-id"]}}},
                      headers=headers)


def _rewrite_page(fault: Fault, reply: Reply, own_url: str) -> Reply:
    """The real Graph page ``reply`` broken as ``fault`` says; an error answer passes unchanged."""
    if reply.status != 200 or reply.stream is not None:
        return reply
    page = json.loads(reply.body)
    users = page.get("value") if isinstance(page, dict) else None
    if not isinstance(users, list):
        return reply
    if fault.kind == "next-link-loop":
        page.pop("@odata.deltaLink", None)
        page["@odata.nextLink"] = own_url
    elif fault.kind == "huge-value" and users:
        users[0]["displayName"] = "x" * fault.size
    elif fault.kind == "oversized-page" and users:
        head = {k: v for k, v in page.items() if k != "value"}
        return Reply(200, headers=dict(reply.headers), stream=_repeated_page(head, users, fault.items))
    return Reply.json(200, page, content_type=ODATA_JSON_TYPE, headers=reply.headers)


def _repeated_page(head: dict[str, Any], users: list[dict[str, Any]], items: int) -> Iterator[bytes]:
    """A page of ``items`` users (``users`` over and over), produced as it is sent: never held whole."""
    encoded = [json.dumps(u, separators=(",", ":")).encode() for u in users]
    opening = json.dumps(head, separators=(",", ":"))[:-1]
    yield (opening + ("," if head else "") + '"value":[').encode()
    batch = 256
    for start in range(0, items, batch):
        chunk = b",".join(encoded[i % len(encoded)] for i in range(start, min(items, start + batch)))
        yield (b"," if start else b"") + chunk
    yield b"]}"


class Servable(Protocol):
    """What ``serve`` runs: the Graph emulator, or the AIC one."""

    state_dir: Path

    @property
    def base_url(self) -> str: ...

    @property
    def port(self) -> int: ...

    def settings(self) -> dict[str, Any]: ...

    def start(self) -> Any: ...

    def stop(self) -> None: ...


_S = TypeVar("_S", bound=Servable)


def serve(emulator: _S, *, on_ready: Callable[[_S], None] | None = None,
          stop: threading.Event | None = None) -> None:
    """Run ``emulator`` in the foreground until SIGINT/SIGTERM (or ``stop``), with ``emulator.json``.

    ``emulator.json`` in the state directory (base_url, port, pid, settings) lets scripts find a running
    emulator; it is removed on the way out.
    """
    stop = stop or threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    info_path = emulator.state_dir / "emulator.json"
    try:
        emulator.start()
        try:
            info = {"base_url": emulator.base_url, "port": emulator.port, "pid": os.getpid(),
                    **emulator.settings()}
            tmp = info_path.with_name(info_path.name + ".tmp")
            tmp.write_text(json.dumps(info, indent=2) + "\n", "utf-8")
            os.replace(tmp, info_path)
            if on_ready is not None:
                on_ready(emulator)
            while not stop.wait(0.5):
                pass
        finally:
            emulator.stop()
    finally:
        with contextlib.suppress(OSError):  # never written, or the state directory was unusable
            info_path.unlink()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
