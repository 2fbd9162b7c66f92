"""Emulated Microsoft Graph v1.0 for users: list, get, delta, create, update, delete, deleted items.

Every answer carries Graph's headers (request-id, client-request-id) and every error Graph's body
``{"error": {"code", "message", "innerError": {...}}}``. Paging and delta tokens are opaque, signed
and bound to this emulator run: a token from another run, a tampered one, or one issued before
``expire_delta_tokens()`` is answered ``syncStateNotFound``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote

from controller.emulator import _odata
from controller.emulator._batch import Send, answer_batch, parse_batch
from controller.emulator._directory import Change, Directory
from controller.emulator._login import GRAPH_APP_ID, LoginService, Tenant, TokenClaims
from controller.emulator._properties import (
    DEFAULT_SELECT,
    NOT_ON_COLLECTIONS,
    canonical_name,
    project,
    project_sparse,
)
from controller.emulator._reply import ODATA_JSON_TYPE, Reply
from controller.errors import EmulatorHTTPError

__all__ = ["READ_ROLES", "WRITE_ROLES", "GraphService"]

READ_ROLES = frozenset({"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"})
WRITE_ROLES = frozenset({"User.ReadWrite.All", "Directory.ReadWrite.All"})
_ORG_ROLES = frozenset({"Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All",
                        "Directory.ReadWrite.All"})
_ODATA_PARAMS = ("select", "filter", "top", "count", "search", "orderby", "skiptoken", "deltatoken",
                 "expand", "skip", "format")
_DEFAULT_PAGE = 100
_MAX_PAGE = 999
_REQUIRED_ON_CREATE = ("accountEnabled", "displayName", "mailNickname", "userPrincipalName", "passwordProfile")
_SYNC_STATE_GONE = ("The sync state generation is not found. The delta token is expired and data must be "
                    "synchronized again.")


def _deny() -> EmulatorHTTPError:
    return EmulatorHTTPError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


def _not_found(key: str) -> EmulatorHTTPError:
    return EmulatorHTTPError(
        404, "Request_ResourceNotFound",
        f"Resource '{key}' does not exist or one of its queried reference-property objects are not present.",
    )


def _bad_request(message: str, code: str = "Request_BadRequest") -> EmulatorHTTPError:
    return EmulatorHTTPError(400, code, message)


class GraphService:
    """The Graph half of the emulator; routes ``/v1.0/...`` for the tenant named in the bearer token."""

    def __init__(self, login: LoginService, *, delta_token_ttl: float = 7 * 86400, page_latency: float = 0.0) -> None:
        self.login = login
        self.delta_token_ttl = delta_token_ttl
        # Seconds each round trip that reads waits before it is answered: a listing or delta page, a
        # `$batch`, a user read by id on its own (not one inside a batch: the batch is the round trip).
        self.page_latency = page_latency
        # The emulator's whole routing (faults included), through which a `$batch` answers each request.
        self.batch_send: Send | None = None
        self._in_batch = threading.local()
        self._key = secrets.token_bytes(32)
        self._generation = 0
        self._expired_status = 400
        self._lock = threading.Lock()
        self._changes_cache: tuple[Directory, int, int, list[Change]] | None = None

    # -- tokens ----------------------------------------------------------------------------------
    def expire_delta_tokens(self, status: int = 400) -> None:
        """Invalidate every delta and skip token issued so far; later use gets ``status`` (400 or 410)."""
        if status not in (400, 410):
            raise ValueError("delta tokens expire with 400 (syncStateNotFound) or 410 (resyncRequired)")
        with self._lock:
            self._generation += 1
            self._expired_status = status

    def _encode(self, payload: dict[str, Any]) -> str:
        payload["g"] = self._generation
        raw = json.dumps(payload, separators=(",", ":")).encode()
        mac = hmac.new(self._key, raw, hashlib.sha256).digest()[:12]
        return base64.urlsafe_b64encode(raw + mac).decode().rstrip("=")

    def _decode(self, token: str) -> dict[str, Any] | None:
        try:
            blob = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except ValueError:
            return None
        raw, mac = blob[:-12], blob[-12:]
        if len(blob) <= 12 or not hmac.compare_digest(mac, hmac.new(self._key, raw, hashlib.sha256).digest()[:12]):
            return None
        try:
            payload = json.loads(raw)
        except ValueError:
            return None
        return payload if isinstance(payload, dict) else None

    def _gone(self, base: str) -> EmulatorHTTPError:
        if self._expired_status == 410:
            return EmulatorHTTPError(410, "resyncRequired", _SYNC_STATE_GONE,
                                     headers={"Location": f"{base}/v1.0/users/delta?$deltatoken="})
        return EmulatorHTTPError(400, "syncStateNotFound", _SYNC_STATE_GONE)

    # -- entry point -----------------------------------------------------------------------------
    def handle(self, method: str, path: str, raw_query: str, headers: Mapping[str, str], body: bytes) -> Reply:
        request_id = str(uuid.uuid4())
        client_request_id = headers.get("client-request-id") or request_id
        base = self.login.base_url
        out_headers = {
            "request-id": request_id,
            "client-request-id": client_request_id,
            "x-ms-ags-diagnostic": json.dumps(
                {"ServerInfo": {"DataCenter": "Local", "Slice": "E", "Ring": "0", "ScaleUnit": "000",
                                "RoleInstance": "idmctl-emulator"}}, separators=(",", ":")),
            "OData-Version": "4.0",
            "Cache-Control": "no-cache",
            "Strict-Transport-Security": "max-age=31536000",
        }
        try:
            reply = self._route(method, path, raw_query, headers, body, base)
        except EmulatorHTTPError as exc:
            reply = Reply.json(exc.status, {
                "error": {
                    "code": exc.code,
                    "message": exc.message,
                    "innerError": {
                        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                        "request-id": request_id,
                        "client-request-id": client_request_id,
                    },
                }
            }, content_type=ODATA_JSON_TYPE, headers=exc.headers)
            if exc.status == 401:
                reply.headers["WWW-Authenticate"] = (
                    f'Bearer realm="", authorization_uri="{base}/common/oauth2/authorize", '
                    f'client_id="{GRAPH_APP_ID}"'
                )
        reply.headers = {**out_headers, **reply.headers}
        return reply

    def _auth(self, headers: Mapping[str, str]) -> tuple[Tenant, TokenClaims]:
        claims = self.login.validate(headers.get("Authorization"))
        if isinstance(claims, str):
            raise EmulatorHTTPError(401, "InvalidAuthenticationToken", claims)
        tenant = self.login.tenant(claims.tenant_id)
        assert tenant is not None  # validate() checked it
        return tenant, claims

    def _route(self, method: str, path: str, raw_query: str, headers: Mapping[str, str], body: bytes,
               base: str) -> Reply:
        segments = [unquote(s) for s in path.split("/")[2:] if s]
        tenant, claims = self._auth(headers)
        query = _parse_query(raw_query)
        directory = tenant.directory
        head = segments[0].lower() if segments else ""
        if head == "$batch" and len(segments) == 1:
            if method != "POST":
                raise _method_not_allowed()
            return self._batch(headers, body)
        if head == "users":
            rest = segments[1:]
            if not rest:
                if method == "GET":
                    self._need(claims, READ_ROLES)
                    return self._list(directory, query, raw_query, headers, base)
                if method == "POST":
                    self._need(claims, WRITE_ROLES)
                    return self._create(tenant, body, base)
                raise _method_not_allowed()
            if len(rest) == 1 and rest[0].lower() in ("delta", "microsoft.graph.delta", "delta()",
                                                       "microsoft.graph.delta()"):
                if method != "GET":
                    raise _method_not_allowed()
                self._need(claims, READ_ROLES)
                return self._delta(directory, query, headers, base)
            if len(rest) == 1 and rest[0] == "$count":
                self._need(claims, READ_ROLES)
                if headers.get("ConsistencyLevel", "").lower() != "eventual":
                    raise _bad_request("Count is not currently supported.")
                with directory.lock:
                    count = directory.live_count
                return Reply(200, str(count).encode(), {"Content-Type": "text/plain"})
            if len(rest) == 1:
                key = rest[0]
                if method == "GET":
                    self._need(claims, READ_ROLES)
                    return self._get(directory, key, query, base)
                if method == "PATCH":
                    self._need(claims, WRITE_ROLES)
                    patch = _json_body(body)
                    self._check_domain(tenant, patch)
                    directory.update(key, patch)
                    return Reply(204)
                if method == "DELETE":
                    self._need(claims, WRITE_ROLES)
                    directory.delete(key)
                    return Reply(204)
                raise _method_not_allowed()
            raise _bad_request(f"Resource not found for the segment '{rest[1]}'.", "BadRequest")
        if head == "directory" and len(segments) >= 3 and segments[1].lower() == "deleteditems":
            return self._deleted_items(directory, claims, method, segments[2:], base)
        if head == "organization" and len(segments) == 1 and method == "GET":
            self._need(claims, _ORG_ROLES)
            return Reply.json(200, {
                "@odata.context": f"{base}/v1.0/$metadata#organization",
                "value": [{"id": tenant.tenant_id, "displayName": tenant.display_name,
                           "verifiedDomains": [{"name": tenant.domain, "isDefault": True,
                                                "isInitial": True, "type": "Managed"}]}],
            }, content_type=ODATA_JSON_TYPE)
        if head == "me":
            raise _bad_request("/me request is only valid with delegated authentication flow.", "BadRequest")
        raise _bad_request(f"Resource not found for the segment '{segments[0] if segments else ''}'.",
                           "BadRequest")

    @staticmethod
    def _need(claims: TokenClaims, roles: frozenset[str]) -> None:
        if not claims.roles & roles:
            raise _deny()

    def _batch(self, headers: Mapping[str, str], body: bytes) -> Reply:
        requests = parse_batch(body)
        if self.page_latency > 0:
            time.sleep(self.page_latency)
        send = self.batch_send
        assert send is not None, "the emulator sets batch_send when it starts"
        self._in_batch.on = True
        try:
            return answer_batch(requests, headers, send)
        finally:
            self._in_batch.on = False

    # -- list / get ------------------------------------------------------------------------------
    def _list(self, directory: Directory, query: dict[str, str], raw_query: str, headers: Mapping[str, str],
              base: str) -> Reply:
        if self.page_latency > 0:
            time.sleep(self.page_latency)  # outside any lock: concurrent readers each wait their own
        if "skip" in query:
            raise _bad_request("'$skip' is not supported by the service.")
        if "expand" in query:
            raise _bad_request("Expanding navigation properties is not supported by this emulator.",
                               "Request_UnsupportedQuery")
        select = _parse_select(query.get("select"), collection=True)
        top = _parse_top(query.get("top"))
        eventual = headers.get("ConsistencyLevel", "").lower() == "eventual"
        counted = eventual and query.get("count", "").lower() == "true"
        predicates: list[_odata.Predicate] = []
        positions = None
        node = None
        if "filter" in query:
            node = _odata.parse_filter(query["filter"])
            _odata.check_filter(node, advanced=counted)
            predicates.append(_odata.compile_filter(node))
        if "search" in query:
            if not eventual:
                raise _bad_request(
                    "Request with $search query parameter only works through MSGraph with a special request "
                    "header: 'ConsistencyLevel: eventual'", "Request_UnsupportedQuery")
            predicates.append(_odata.compile_search(query["search"]))
        order = None
        if "orderby" in query:
            order = _odata.parse_orderby(query["orderby"], advanced=counted)
            if node is not None and not counted:
                raise _bad_request("Sorting not supported for current query.", "Request_UnsupportedQuery")
        predicate = _all_of(predicates)
        state = self._decode(query["skiptoken"]) if "skiptoken" in query else {"p": 0}
        if state is None or ("p" not in state and "o" not in state):
            raise _bad_request("Invalid $skiptoken value.", "Request_BadRequest")
        with directory.lock:
            if node is not None and (keys := _odata.equality_keys(node)) is not None:
                positions = directory.positions_for(keys)
            elif node is not None and (firsts := _odata.upn_first_characters(node)) is not None:
                positions = directory.first_character_positions(*firsts)
            if order is None:
                found, resume = directory.scan(int(state.get("p", 0)), top, predicate, positions)
                users = [u for _, u in found]
                next_state = None if resume is None else {"p": resume}
            else:
                every, _ = directory.scan(0, directory.end + 1, predicate, positions)
                ranked = _sorted([u for _, u in every], order)
                offset = int(state.get("o", 0))
                users = ranked[offset:offset + top]
                next_state = {"o": offset + top} if offset + top < len(ranked) else None
            count = None
            if counted:
                count = directory.live_count if predicate is None else len(
                    directory.scan(0, directory.end + 1, predicate, positions)[0])
        page: dict[str, Any] = {"@odata.context": _context(base, select)}
        if count is not None:
            page["@odata.count"] = count
        if next_state is not None:
            kept = "&".join(p for p in raw_query.split("&") if p and not p.lower().lstrip("$").startswith("skiptoken="))
            token = self._encode(next_state)
            page["@odata.nextLink"] = f"{base}/v1.0/users?{kept + '&' if kept else ''}$skiptoken={token}"
        page["value"] = [project(u, select) for u in users]
        return Reply.json(200, page, content_type=ODATA_JSON_TYPE)

    def _get(self, directory: Directory, key: str, query: dict[str, str], base: str) -> Reply:
        if self.page_latency > 0 and not getattr(self._in_batch, "on", False):
            time.sleep(self.page_latency)
        select = _parse_select(query.get("select"), collection=False)
        with directory.lock:
            pos = directory.position(key)
            user = directory.get(pos) if pos is not None else None
        if user is None:
            raise _not_found(key)
        body = {"@odata.context": _context(base, select) + "/$entity", **project(user, select)}
        return Reply.json(200, body, content_type=ODATA_JSON_TYPE)

    # -- writes ----------------------------------------------------------------------------------
    def _create(self, tenant: Tenant, body: bytes, base: str) -> Reply:
        data = _json_body(body)
        for name in _REQUIRED_ON_CREATE:
            if data.get(name) in (None, ""):
                raise _bad_request(f"Invalid value specified for property '{name}' of resource 'User'.")
        self._check_domain(tenant, data)
        user = tenant.directory.create(data)
        reply = Reply.json(201, {"@odata.context": f"{base}/v1.0/$metadata#users/$entity",
                                 **project(user, None)}, content_type=ODATA_JSON_TYPE)
        reply.headers["Location"] = f"{base}/v1.0/users/{user['id']}"
        return reply

    @staticmethod
    def _check_domain(tenant: Tenant, data: Mapping[str, Any]) -> None:
        upn = data.get("userPrincipalName")
        if not isinstance(upn, str) or "#EXT#" in upn.upper():
            return
        if upn.rpartition("@")[2].lower() != tenant.domain.lower():
            raise _bad_request(
                "The domain portion of the userPrincipalName property is invalid. You must use one of the "
                "verified domain names in your organization.")

    def _deleted_items(self, directory: Directory, claims: TokenClaims, method: str, rest: list[str],
                       base: str) -> Reply:
        key = rest[0]
        if len(rest) == 2 and rest[1].lower() in ("restore", "microsoft.graph.restore") and method == "POST":
            self._need(claims, WRITE_ROLES)
            user = directory.restore(key)
            return Reply.json(200, {"@odata.context": f"{base}/v1.0/$metadata#directoryObjects/$entity",
                                    "@odata.type": "#microsoft.graph.user", **project(user, None)},
                              content_type=ODATA_JSON_TYPE)
        if len(rest) != 1:
            raise _bad_request(f"Resource not found for the segment '{rest[1]}'.", "BadRequest")
        if method == "GET":
            self._need(claims, READ_ROLES)
            with directory.lock:
                found = directory.deleted(key)
            if found is None:
                raise _not_found(key)
            user = found
            return Reply.json(200, {"@odata.context": f"{base}/v1.0/$metadata#directoryObjects/$entity",
                                    "@odata.type": "#microsoft.graph.user",
                                    **project(user, (*DEFAULT_SELECT, "deletedDateTime"))},
                              content_type=ODATA_JSON_TYPE)
        if method == "DELETE":
            self._need(claims, WRITE_ROLES)
            with directory.lock:
                if directory.deleted(key) is None:
                    raise _not_found(key)
                directory.delete(key, permanent=True)
            return Reply(204)
        raise _method_not_allowed()

    # -- delta -----------------------------------------------------------------------------------
    def _delta(self, directory: Directory, query: dict[str, str], headers: Mapping[str, str], base: str) -> Reply:
        if self.page_latency > 0:
            time.sleep(self.page_latency)
        prefer = {p.strip().split("=", 1)[0].lower(): p.strip().partition("=")[2]
                  for p in headers.get("Prefer", "").split(",") if p.strip()}
        minimal = prefer.get("return", "").lower() == "minimal"
        page_size = _DEFAULT_PAGE
        if "odata.maxpagesize" in prefer and prefer["odata.maxpagesize"].isdigit():
            page_size = max(1, min(_MAX_PAGE, int(prefer["odata.maxpagesize"])))
        applied = [p for p, on in (("return=minimal", minimal),
                                   (f"odata.maxpagesize={page_size}", "odata.maxpagesize" in prefer)) if on]
        with directory.lock:
            state = self._delta_state(directory, query, base)
            page = self._delta_page(directory, state, page_size, minimal, base)
        extra = {"Preference-Applied": ", ".join(applied)} if applied else None
        return Reply.json(200, page, content_type=ODATA_JSON_TYPE, headers=extra)

    def _round_changes(self, directory: Directory, since: int, until: int) -> list[Change]:
        """The merged changes of one delta round, kept for the round's next pages.

        The change log is append-only, so the merge of ``(since, until]`` never changes; merging it
        again for every page made a round of P pages cost P times the whole round.
        """
        cached = self._changes_cache
        if cached is not None and cached[0] is directory and cached[1] == since and cached[2] == until:
            return cached[3]
        changes = directory.changes(since, until)
        self._changes_cache = (directory, since, until, changes)
        return changes

    def _delta_state(self, directory: Directory, query: dict[str, str], base: str) -> dict[str, Any]:
        token = query.get("deltatoken", query.get("skiptoken"))
        if token is None:
            for name in ("top", "orderby", "expand", "search", "skip"):
                if name in query:
                    raise _bad_request(f"Unsupported query option '${name}' for delta.", "Request_UnsupportedQuery")
            select = _parse_select(query.get("select"), collection=True)
            ids = _delta_ids(query["filter"]) if "filter" in query else None
            return {"k": "i", "p": 0, "s": directory.seq, "sel": select, "ids": ids}
        if token.lower() == "latest" and "deltatoken" in query:
            select = _parse_select(query.get("select"), collection=True)
            ids = _delta_ids(query["filter"]) if "filter" in query else None
            return {"k": "c", "f": directory.seq, "u": directory.seq, "o": 0, "sel": select, "ids": ids}
        state = self._decode(token)
        if state is None or state.get("g") != self._generation or state.get("k") not in ("i", "c", "d"):
            raise self._gone(base)
        if state["k"] == "d":
            if time.time() - float(state.get("t", 0)) > self.delta_token_ttl:
                raise self._gone(base)
            state = {"k": "c", "f": state["s"], "u": directory.seq, "o": 0, "sel": state.get("sel"),
                     "ids": state.get("ids")}
        return state

    def _delta_page(self, directory: Directory, state: dict[str, Any], page_size: int, minimal: bool,
                    base: str) -> dict[str, Any]:
        select: list[str] | None = state.get("sel")
        ids: list[str] | None = state.get("ids")
        values: list[dict[str, Any]] = []
        next_state: dict[str, Any] | None = None
        if state["k"] == "i":
            positions = directory.positions_for({"id": set(ids)}) if ids is not None else None
            found, resume = directory.scan(int(state["p"]), page_size, None, positions)
            values = [project_sparse(u, select) for _, u in found]
            if resume is not None:
                next_state = {**state, "p": resume}
            upto = int(state["s"])
        else:
            # "o" is a cursor into the round's merged change list: a page projects only its own
            # entries, and the list itself is merged once per round (see _round_changes).
            tracked = set(select or DEFAULT_SELECT) - {"id"}
            wanted = {i.lower() for i in ids} if ids is not None else None
            changes = self._round_changes(directory, int(state["f"]), int(state["u"]))
            cursor = int(state["o"])
            while cursor < len(changes):
                pos, kind, props = changes[cursor]
                entry = _delta_entry(directory, pos, kind, props, tracked, wanted, select, minimal,
                                     project_now=len(values) < page_size)
                if entry is not None:
                    if len(values) == page_size:
                        next_state = {**state, "o": cursor}  # one more entry follows: resume here
                        break
                    values.append(entry)
                cursor += 1
            upto = int(state["u"])
        page: dict[str, Any] = {"@odata.context": _context(base, select)}
        if next_state is not None:
            page["@odata.nextLink"] = f"{base}/v1.0/users/delta?$skiptoken={self._encode(next_state)}"
        else:
            token = self._encode({"k": "d", "s": upto, "t": int(time.time()), "sel": select, "ids": ids})
            page["@odata.deltaLink"] = f"{base}/v1.0/users/delta?$deltatoken={token}"
        page["value"] = values
        return page


_SKIP: dict[str, Any] = {}  # what _delta_entry returns for an entry it was asked not to project


def _delta_entry(directory: Directory, pos: int, kind: str, props: frozenset[str] | None, tracked: set[str],
                 wanted: set[str] | None, select: list[str] | None, minimal: bool,
                 project_now: bool) -> dict[str, Any] | None:
    """The delta item for one merged change, or None when the round does not show it.

    With ``project_now`` False only whether it is shown is decided (``_SKIP`` stands for the item).
    """
    if kind in ("soft", "hard"):
        removed_id = directory.removed_id(pos)
        if removed_id is None or (wanted is not None and removed_id not in wanted):
            return None
        return {"id": removed_id, "@removed": {"reason": "changed" if kind == "soft" else "deleted"}}
    user = directory.get(pos)
    if user is None or (wanted is not None and user["id"] not in wanted):
        return None
    if props is not None and not props & tracked:
        return None
    if not project_now:
        return _SKIP
    if minimal and props is not None:
        return {**project(user, sorted(props & tracked)), "id": user["id"]}
    return project_sparse(user, select, props & tracked if props else None)


def _method_not_allowed() -> EmulatorHTTPError:
    return EmulatorHTTPError(405, "Request_BadRequest", "The requested HTTP method is not supported on this resource.")


def _parse_query(raw: str) -> dict[str, str]:
    """Query options by lower-case name without the ``$`` (Graph accepts both spellings)."""
    out: dict[str, str] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        name = key.lower().lstrip("$")
        if key.startswith("$") or name in _ODATA_PARAMS:
            out[name] = value
    return out


def _parse_select(text: str | None, *, collection: bool) -> list[str] | None:
    if text is None:
        return None
    names: list[str] = []
    for raw in text.split(","):
        if not raw.strip():
            continue
        name = canonical_name(raw)
        if name is None:
            raise _bad_request(f"Could not find a property named '{raw.strip()}' on type 'microsoft.graph.user'.")
        if collection and name in NOT_ON_COLLECTIONS:
            raise EmulatorHTTPError(501, "NotImplemented", "This operation target is not yet supported.")
        if name not in names:
            names.append(name)
    return names or None


def _parse_top(text: str | None) -> int:
    if text is None:
        return _DEFAULT_PAGE
    try:
        top = int(text)
    except ValueError:
        top = -1
    if not 1 <= top <= _MAX_PAGE:
        raise _bad_request(f"Invalid page size specified: '{text}'. Must be between 1 and 999 inclusive.")
    return top


def _delta_ids(text: str) -> list[str]:
    node = _odata.parse_filter(text)
    clauses = node[1] if node[0] == "or" else [node]
    ids: list[str] = []
    for clause in clauses:
        if clause[0] != "cmp" or clause[1] != "eq" or clause[2] != "id" or not isinstance(clause[3], str):
            raise _bad_request("Delta query on users supports only $filter=id eq '...' or id eq '...'.",
                               "Request_UnsupportedQuery")
        ids.append(clause[3].lower())
    if len(ids) > 50:
        raise _bad_request("Delta query $filter supports at most 50 ids.", "Request_UnsupportedQuery")
    return ids


def _context(base: str, select: list[str] | None) -> str:
    suffix = f"({','.join(select)})" if select else ""
    return f"{base}/v1.0/$metadata#users{suffix}"


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except ValueError as exc:
        raise _bad_request(f"Unable to read JSON request payload: {exc}.", "BadRequest") from None
    if not isinstance(data, dict):
        raise _bad_request("Unable to read JSON request payload: expected an object.", "BadRequest")
    return data


def _all_of(predicates: list[_odata.Predicate]) -> _odata.Predicate | None:
    if not predicates:
        return None
    if len(predicates) == 1:
        return predicates[0]
    return lambda u: all(p(u) for p in predicates)


def _sorted(users: list[dict[str, Any]], order: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    for prop, descending in reversed(order):
        def key(u: dict[str, Any], p: str = prop) -> tuple[bool, str]:
            return u.get(p) is None, str(u.get(p) or "").lower()

        users.sort(key=key, reverse=descending)
    return users

