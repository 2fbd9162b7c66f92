"""IDM's config (``/openidm/config``) and managed objects (``/openidm/managed``), as AIC answers them.

Config (§2.1): PUT is an upsert (201 with AIC's doubled-path ``Location``, then 200), the body is
stored verbatim and echoed, there is no ``_rev`` and If-Match does nothing. A plaintext value of a
confidential connector property (``clientSecret``, ``httpProxyPassword``) in ``provisioner.openicf/*``
is encrypted on write and reads back as a ``$crypto`` object (§3.1); an ``&{esv…}`` placeholder stays
as written. The emulator keeps the plaintext to itself, as IDM can decrypt its own ``$crypto``.

Managed objects (§6, §9 rows 10 and 16): every object has a ``_rev``, changed on every write;
``If-None-Match: *`` makes a PUT create-only and ``If-Match: <rev>`` a conditional update (412 when it
does not hold). Relationship fields (``owners`` …) are stored as given and, as in IDM, returned only
when ``_fields`` names them.
"""

from __future__ import annotations

import copy
import itertools
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from controller.emulator.aic._http import CrestError, json_body, query_params
from controller.emulator.aic._query import QueryError, compile_filter, paged_result, project_fields

__all__ = [
    "CONFIDENTIAL_PROPERTIES",
    "ConfigStore",
    "ManagedStore",
    "apply_patch",
    "fields_of",
    "managed_view",
    "query_answer",
]

CONFIDENTIAL_PROPERTIES = ("clientSecret", "httpProxyPassword")
_MANAGED_TYPE = re.compile(r"^(?:[a-z][a-z0-9]*_)?(?:user|application|role|group|assignment|organization)$")
_RELATIONSHIPS = frozenset({"owners", "members", "roles", "ownerOfApp", "manager", "reports", "authzRoles",
                            "assignments", "applications", "memberOfOrg", "adminOfOrg", "ownerOfOrg"})


def _is_placeholder(value: str) -> bool:
    return value.startswith("&{") and value.endswith("}")


def _filter(query: dict[str, str]) -> Callable[[dict[str, Any]], bool]:
    text = query.get("_queryFilter")
    if text is None:
        if query.get("_queryId") in ("query-all-ids", "query-all"):
            return lambda o: True
        raise CrestError(400, "Query request must specify _queryFilter or _queryId")
    try:
        return compile_filter(text)
    except QueryError as exc:
        raise CrestError(400, str(exc)) from None


def _page_args(query: dict[str, str]) -> tuple[int | None, str | None, int | None, bool]:
    try:
        size = int(query["_pageSize"]) if query.get("_pageSize") else None
        offset = int(query["_pagedResultsOffset"]) if query.get("_pagedResultsOffset") else None
    except ValueError:
        raise CrestError(400, "_pageSize and _pagedResultsOffset must be integers") from None
    return size, query.get("_pagedResultsCookie") or None, offset, query.get("_totalPagedResultsPolicy") == "EXACT"


def fields_of(query: dict[str, str]) -> list[str] | None:
    text = query.get("_fields")
    return [f.strip() for f in text.split(",") if f.strip()] if text else None


def _sort_key(name: str) -> Callable[[dict[str, Any]], tuple[bool, str]]:
    return lambda o: (o.get(name) is None, str(o.get(name, "")).casefold())


def query_answer(items: Sequence[dict[str, Any]], query: dict[str, str],
                 view: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """Filter, sort and page ``items`` as ``query`` asks (CREST paged results), each shown through ``view``."""
    keep = _filter(query)
    try:
        found = [i for i in items if keep(i)]
    except QueryError as exc:
        raise CrestError(400, str(exc)) from None
    for key in reversed([k.strip() for k in (query.get("_sortKeys") or "").split(",") if k.strip()]):
        found.sort(key=_sort_key(key.lstrip("+-").strip("/")), reverse=key.startswith("-"))
    size, cookie, offset, exact = _page_args(query)
    try:
        answer = paged_result(found, page_size=size, cookie=cookie, offset=offset, exact=exact)
    except QueryError as exc:
        raise CrestError(400, str(exc)) from None
    answer["result"] = [view(o) for o in answer["result"]]
    return answer


def _pointer(field: str) -> list[str]:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in field.strip("/").split("/") if p != ""]
    if not parts:
        raise CrestError(400, f"Invalid patch field {field!r}")
    return parts


def apply_patch(obj: dict[str, Any], operations: Any) -> dict[str, Any]:
    """CREST patch (``add``, ``replace``, ``remove``, ``increment``) on a copy of ``obj``."""
    if not isinstance(operations, list):
        raise CrestError(400, "A patch request must be a JSON array of operations")
    out = copy.deepcopy(obj)
    for op in operations:
        if not isinstance(op, dict) or not isinstance(op.get("field"), str):
            raise CrestError(400, f"Invalid patch operation {op!r}")
        kind = op.get("operation")
        *parents, last = _pointer(op["field"])
        target: Any = out
        for part in parents:
            target = target.setdefault(part, {}) if isinstance(target, dict) else None
            if not isinstance(target, dict):
                raise CrestError(400, f"Cannot patch {op['field']!r}: a parent is not an object")
        if kind == "replace" or (kind == "add" and last != "-"):
            if kind == "add" and isinstance(target.get(last), list) and not isinstance(op.get("value"), list):
                target[last].append(op.get("value"))
            else:
                target[last] = op.get("value")
        elif kind == "add":  # field ".../-": append to the parent list
            raise CrestError(400, "Appending with '-' is not supported by the emulator")
        elif kind == "remove":
            target.pop(last, None)
        elif kind == "increment":
            target[last] = (target.get(last) or 0) + op.get("value", 0)
        else:
            raise CrestError(400, f"Unsupported patch operation {kind!r}")
    return out


class ConfigStore:
    """``config/<id>`` objects by id, in memory; ``crypto`` maps a ``$crypto`` value to its plaintext."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.objects: dict[str, dict[str, Any]] = {}
        self.crypto: dict[str, str] = {}

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {"objects": copy.deepcopy(self.objects), "crypto": dict(self.crypto)}

    def load(self, data: dict[str, Any]) -> None:
        with self.lock:
            self.objects = dict(data.get("objects", {}))
            self.crypto = dict(data.get("crypto", {}))

    def get(self, config_id: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.objects.get(config_id)
            return copy.deepcopy(found) if found is not None else None

    def decrypt(self, value: Any) -> Any:
        """The plaintext behind a ``$crypto`` object this store made, else ``value`` unchanged."""
        if isinstance(value, dict) and isinstance(value.get("$crypto"), dict):
            data = value["$crypto"].get("value", {}).get("data")
            with self.lock:
                return self.crypto.get(str(data), value)
        return value

    def _encrypt(self, plaintext: str) -> dict[str, Any]:
        data = secrets.token_urlsafe(24)
        self.crypto[data] = plaintext
        return {"$crypto": {"type": "x-simple-encryption", "value": {
            "cipher": "AES/CBC/PKCS5Padding", "data": data, "iv": secrets.token_urlsafe(16), "keySize": 16,
            "mac": secrets.token_urlsafe(16), "purpose": "idm.config.encryption", "salt": secrets.token_urlsafe(16),
            "stableId": "openidm-sym-default"}}}

    def prepare(self, config_id: str, body: Any) -> dict[str, Any]:
        """What a PUT of ``body`` stores: ``_id`` first, no ``_rev``, plaintext connector secrets encrypted."""
        if not isinstance(body, dict):
            raise CrestError(400, "The request body must be a JSON object")
        stored = {"_id": config_id, **{k: v for k, v in body.items() if k not in ("_id", "_rev")}}
        props = stored.get("configurationProperties")
        if config_id.startswith("provisioner.openicf/") and isinstance(props, dict):
            props = stored["configurationProperties"] = dict(props)
            for name in CONFIDENTIAL_PROPERTIES:
                value = props.get(name)
                if isinstance(value, str) and value and not _is_placeholder(value):
                    with self.lock:
                        props[name] = self._encrypt(value)
        return stored

    def handle(self, method: str, config_id: str, raw_query: str, body: bytes, *, base_url: str,
               lose_write: bool = False) -> tuple[int, Any, dict[str, str], bool]:
        """``/openidm/config[/<id>]``: (status, JSON, headers, whether the store changed)."""
        query = query_params(raw_query)
        with self.lock:
            if not config_id:
                if method != "GET":
                    raise CrestError(405, f"Method {method} is not allowed on /openidm/config")
                if "_queryFilter" in query or "_queryId" in query:
                    objects = [copy.deepcopy(self.objects[k]) for k in sorted(self.objects)]
                    return 200, query_answer(objects, query, lambda o: project_fields(o, fields_of(query))), {}, False
                return 200, {"_id": "", "configurations": [
                    {"_id": k, "pid": k.replace("/", "."), "factoryPid": k.split("/")[0] if "/" in k else None}
                    for k in sorted(self.objects)]}, {}, False
            current = self.objects.get(config_id)
            if method == "PUT":
                stored = self.prepare(config_id, json_body(body))
                if not lose_write:
                    self.objects[config_id] = stored
                if current is None:
                    parent = "/".join(quote(p, safe="") for p in config_id.split("/")[:-1])
                    location = f"{base_url}/openidm/config/{parent + '/' if parent else ''}" + \
                        "/".join(quote(p, safe="") for p in config_id.split("/"))
                    return 201, copy.deepcopy(stored), {"Location": location}, not lose_write
                return 200, copy.deepcopy(stored), {}, not lose_write
            if current is None:
                raise CrestError(404, "Not Found")
            if method == "GET":
                return 200, project_fields(copy.deepcopy(current), fields_of(query)), {}, False
            if method == "DELETE":
                del self.objects[config_id]
                return 200, copy.deepcopy(current), {}, True
            if method == "PATCH":
                patched = self.prepare(config_id, apply_patch(current, json_body(body)))
                if not lose_write:
                    self.objects[config_id] = patched
                return 200, copy.deepcopy(patched), {}, not lose_write
        raise CrestError(405, f"Method {method} is not allowed on /openidm/config/{config_id}")


# What AIC fills in on a service account it creates (reference §1.1, the recorded create).
_SVCACCT_DEFAULTS = {"maxCachingTime": "15", "maxIdleTime": "15", "maxSessionTime": "15", "quotaLimit": "5"}


def _service_account(data: dict[str, Any]) -> dict[str, Any]:
    """A service-account record as AIC stores it: ``jwks`` a non-empty string, AIC's defaults filled in."""
    jwks = data.get("jwks")
    if not isinstance(jwks, str) or not jwks.strip():
        raise CrestError(400, "Invalid Attribute Syntax: jwks: a service account needs its JWKS as a JSON string; "
                              "a zero-length value is not allowed")
    return {**data, **{k: v for k, v in _SVCACCT_DEFAULTS.items() if k not in data}}


def _is_relationship(name: str, value: Any) -> bool:
    if name in _RELATIONSHIPS:
        return True
    if isinstance(value, dict):
        return "_ref" in value
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and "_ref" in v for v in value)


def managed_view(obj: dict[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    """What IDM returns of ``obj``: by default no relationship fields; ``_fields`` picks (``*`` = defaults,
    ``*_ref`` = the relationships too, a name = that field)."""
    fields = list(fields or ["*"])
    out: dict[str, Any] = {k: obj[k] for k in ("_id", "_rev") if k in obj}
    for key, value in obj.items():
        if key in out:
            continue
        relationship = _is_relationship(key, value)
        if (("*" in fields and not relationship) or (relationship and "*_ref" in fields)
                or key in [f.strip("/").split("/")[0] for f in fields]):
            out[key] = copy.deepcopy(value)
    return out


class ManagedStore:
    """``managed/<type>/<id>`` objects by type; types follow AIC's ``<realm>_user`` … and ``svcacct``."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.collections: dict[str, dict[str, dict[str, Any]]] = {}
        self._revs = itertools.count(1)

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {"collections": copy.deepcopy(self.collections)}

    def load(self, data: dict[str, Any]) -> None:
        with self.lock:
            self.collections = {k: dict(v) for k, v in data.get("collections", {}).items()}

    @staticmethod
    def known_type(name: str) -> bool:
        return name == "svcacct" or bool(_MANAGED_TYPE.match(name))

    def _new_rev(self) -> str:
        return f"{uuid.uuid4()}-{next(self._revs)}"

    def collection(self, name: str) -> dict[str, dict[str, Any]]:
        if not self.known_type(name):
            raise CrestError(404, f"Resource 'managed/{name}' not found")
        return self.collections.setdefault(name, {})

    def get(self, name: str, obj_id: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.collections.get(name, {}).get(obj_id)
            return copy.deepcopy(found) if found is not None else None

    def find(self, name: str, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(o) for o in self.collections.get(name, {}).values() if predicate(o)]

    def put(self, name: str, obj_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Store ``body`` as ``managed/<name>/<obj_id>`` with a new ``_rev``; (stored, created)."""
        with self.lock:
            items = self.collection(name)
            created = obj_id not in items
            stored = {"_id": obj_id, "_rev": self._new_rev(),
                      **{k: copy.deepcopy(v) for k, v in body.items() if k not in ("_id", "_rev")}}
            items[obj_id] = stored
            return copy.deepcopy(stored), created

    def delete(self, name: str, obj_id: str) -> dict[str, Any] | None:
        with self.lock:
            return self.collections.get(name, {}).pop(obj_id, None)

    def handle(self, method: str, name: str, obj_id: str, raw_query: str, headers: dict[str, str], body: bytes,
               *, base_url: str, lose_write: bool = False) -> tuple[int, Any, dict[str, str], bool]:
        """``/openidm/managed/<name>[/<id>]``: (status, JSON, headers, whether the store changed)."""
        query = query_params(raw_query)
        fields = fields_of(query)
        with self.lock:
            items = self.collection(name)
            if not obj_id:
                if method == "GET":
                    return 200, query_answer(list(items.values()), query, lambda o: managed_view(o, fields)), {}, False
                if method == "POST" and query.get("_action") == "create":
                    data = json_body(body)
                    if not isinstance(data, dict):
                        raise CrestError(400, "The request body must be a JSON object")
                    new_id = str(data.get("_id") or uuid.uuid4())
                    if new_id in items:
                        raise CrestError(412, f"The resource with ID '{new_id}' could not be created because "
                                              "there is already another resource with the same ID")
                    return self._write(name, new_id, data, fields, base_url, created=True, lose_write=lose_write)
                raise CrestError(400, f"Unsupported request {method} on managed/{name}")
            current = items.get(obj_id)
            if_match = headers.get("if-match")
            if_none = headers.get("if-none-match")
            if method == "PUT":
                data = json_body(body)
                if not isinstance(data, dict):
                    raise CrestError(400, "The request body must be a JSON object")
                if if_none is not None and if_none.strip() == "*" and current is not None:
                    raise CrestError(412, f"The resource with ID '{obj_id}' could not be created because "
                                          "there is already another resource with the same ID")
                self._check_rev(obj_id, current, if_match)
                return self._write(name, obj_id, data, fields, base_url, created=current is None,
                                   lose_write=lose_write)
            if current is None:
                raise CrestError(404, f"Object {obj_id} not found in managed/{name}")
            if method == "GET":
                return 200, managed_view(current, fields), {"ETag": f'"{current["_rev"]}"'}, False
            self._check_rev(obj_id, current, if_match)
            if method == "PATCH":
                patched = apply_patch(current, json_body(body))
                return self._write(name, obj_id, patched, fields, base_url, created=False, lose_write=lose_write)
            if method == "DELETE":
                del items[obj_id]
                return 200, managed_view(current, fields), {}, True
        raise CrestError(405, f"Method {method} is not allowed on managed/{name}/{obj_id}")

    @staticmethod
    def _check_rev(obj_id: str, current: dict[str, Any] | None, if_match: str | None) -> None:
        if if_match is None:
            return
        if current is None:
            raise CrestError(404, f"Object {obj_id} not found")
        wanted = if_match.strip().strip('"')
        if wanted != "*" and wanted != current["_rev"]:
            raise CrestError(412, "The resource version does not match the version provided")

    def _write(self, name: str, obj_id: str, data: dict[str, Any], fields: Sequence[str] | None, base_url: str,
               *, created: bool, lose_write: bool) -> tuple[int, Any, dict[str, str], bool]:
        if name == "svcacct":
            data = _service_account(data)
        if lose_write:  # answered as if stored (the AIC read-after-write loss), but never kept
            stored = {"_id": obj_id, "_rev": self._new_rev(),
                      **{k: v for k, v in data.items() if k not in ("_id", "_rev")}}
        else:
            stored, _ = self.put(name, obj_id, data)
        headers = {"ETag": f'"{stored["_rev"]}"'}
        if created:
            headers["Location"] = f"{base_url}/openidm/managed/{name}/{quote(obj_id, safe='')}"
        return (201 if created else 200), managed_view(stored, fields), headers, not lose_write
