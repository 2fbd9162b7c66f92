"""ESVs: ``/environment/variables``, ``/environment/secrets`` (+ versions), ``count`` and ``startup`` (§4).

Every write is pending (``loaded: false``) until a restart; ``POST /environment/startup?_action=restart``
answers ``restarting`` and, ``restart_seconds`` later, every variable and secret is loaded and the
status is ``ready`` again. A restart while one runs is refused (409). Placeholders ``&{esv.a.b}`` read
``esv-a-b`` from the *loaded* values only: what IDM runs with, not what was last written. Deletes take
effect at once (never pending). Secret values are write-only.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from controller.emulator.aic._http import CrestError, json_body, query_params
from controller.emulator.aic._query import QueryError, compile_filter

__all__ = ["ESV_ID", "EsvStore", "Secret", "Variable", "esv_id_for"]

ESV_ID = re.compile(r"^esv-[a-z0-9_-]{1,124}$")
EXPRESSION_TYPES = ("string", "list", "array", "object", "bool", "int", "number", "base64encodedinlined",
                    "keyvaluelist")
ENCODINGS = ("generic", "pem", "base64hmac", "base64aes")
_MAX_PAGE = 100
_WHO = "3f8a6c2e-1b4d-4e7a-9c5f-8d2e0b6a4c1f"


def esv_id_for(placeholder_name: str) -> str:
    """``esv.a.b`` (a placeholder's name) -> ``esv-a-b``."""
    return placeholder_name.replace(".", "-")


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _decode(value: Any) -> str:
    if not isinstance(value, str):
        raise CrestError(400, "valueBase64 is required (a base64 string)", reason=False)
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise CrestError(400, "valueBase64 is not valid base64", reason=False) from None


def _set_description(record: Variable | Secret, body: bytes) -> None:
    data = json_body(body, reason=False)
    record.description = str(data.get("description") or "") if isinstance(data, dict) else ""


@dataclass
class Variable:
    id: str
    value_base64: str
    expression_type: str = "string"
    description: str = ""
    last_change: str = field(default_factory=_now)
    last_changed_by: str = _WHO
    loaded: bool = False
    loaded_base64: str | None = None

    def view(self) -> dict[str, Any]:
        return {"_id": self.id, "description": self.description, "expressionType": self.expression_type,
                "lastChangeDate": self.last_change, "lastChangedBy": self.last_changed_by,
                "loaded": self.loaded, "valueBase64": self.value_base64}


@dataclass
class Secret:
    id: str
    encoding: str = "generic"
    use_in_placeholders: bool = True
    description: str = ""
    versions: list[dict[str, Any]] = field(default_factory=list)  # oldest first: version, value, date, status
    loaded_version: str | None = None
    last_change: str = field(default_factory=_now)
    last_changed_by: str = _WHO

    @property
    def active_version(self) -> str | None:
        for version in reversed(self.versions):
            if version["status"] == "ENABLED":
                return str(version["version"])
        return None

    @property
    def loaded(self) -> bool:
        return self.loaded_version == self.active_version

    def version_view(self, version: dict[str, Any]) -> dict[str, Any]:
        return {"createDate": version["createDate"], "loaded": version["version"] == self.loaded_version,
                "status": version["status"], "version": version["version"]}

    def view(self) -> dict[str, Any]:
        return {"_id": self.id, "activeVersion": self.active_version or "", "description": self.description,
                "encoding": self.encoding, "lastChangeDate": self.last_change,
                "lastChangedBy": self.last_changed_by, "loaded": self.loaded,
                "loadedVersion": self.loaded_version or "", "useInPlaceholders": self.use_in_placeholders}

    def add_version(self, value_base64: str) -> dict[str, Any]:
        number = str(int(self.versions[-1]["version"]) + 1 if self.versions else 1)
        version = {"version": number, "valueBase64": value_base64, "createDate": _now(), "status": "ENABLED"}
        self.versions.append(version)
        self.last_change = version["createDate"]
        if not self.use_in_placeholders:
            self.loaded_version = number  # never pending: nothing in the config reads it
        return version


class EsvStore:
    """Variables, secrets and the restart state; ``changed`` is called after every write (persistence)."""

    def __init__(self, restart_seconds: float = 2.0) -> None:
        self.restart_seconds = restart_seconds
        self.lock = threading.RLock()
        self.variables: dict[str, Variable] = {}
        self.secrets: dict[str, Secret] = {}
        self._restart_until: float | None = None
        self._hang = False

    # -- restart -------------------------------------------------------------------------------
    def _tick(self) -> None:
        if self._restart_until is not None and not self._hang and time.monotonic() >= self._restart_until:
            self.finish_restart()

    def finish_restart(self) -> None:
        """Load every value now (the end of a restart; the admin API can force it)."""
        with self.lock:
            for var in self.variables.values():
                var.loaded, var.loaded_base64 = True, var.value_base64
            for secret in self.secrets.values():
                secret.loaded_version = secret.active_version
            self._restart_until, self._hang = None, False

    @property
    def status(self) -> str:
        with self.lock:
            self._tick()
            return "ready" if self._restart_until is None else "restarting"

    def restart(self, *, hang: bool = False) -> dict[str, str]:
        with self.lock:
            if self.status == "restarting":
                raise CrestError(409, "Restart already in progress. Current status: restarting; wait until "
                                      "GET /environment/startup says ready", reason=False)
            self._restart_until, self._hang = time.monotonic() + self.restart_seconds, hang
            return {"restartStatus": "restarting"}

    # -- placeholders --------------------------------------------------------------------------
    def resolve(self, esv_id: str) -> str | None:
        """The loaded value of ``esv_id`` (variable or secret), or None when nothing is loaded."""
        with self.lock:
            self._tick()
            var = self.variables.get(esv_id)
            if var is not None and var.loaded_base64 is not None:
                return base64.b64decode(var.loaded_base64).decode("utf-8")
            secret = self.secrets.get(esv_id)
            if secret is not None and secret.use_in_placeholders and secret.loaded_version is not None:
                for version in secret.versions:
                    if version["version"] == secret.loaded_version and version["status"] == "ENABLED":
                        return base64.b64decode(version["valueBase64"]).decode("utf-8")
            return None

    # -- persistence -------------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {"variables": [asdict(v) for v in self.variables.values()],
                    "secrets": [asdict(s) for s in self.secrets.values()]}

    def load(self, data: dict[str, Any]) -> None:
        with self.lock:
            self.variables = {v["id"]: Variable(**v) for v in data.get("variables", [])}
            self.secrets = {s["id"]: Secret(**s) for s in data.get("secrets", [])}

    # -- HTTP ------------------------------------------------------------------------------------
    def handle(self, method: str, parts: list[str], raw_query: str, body: bytes, *,
               hang: bool = False) -> tuple[int, Any, bool]:
        """``/environment/<parts>``: (status, JSON body or None for an empty body, whether it wrote);
        ``hang`` makes a restart started now never finish (the ``restart-hang`` fault)."""
        query = query_params(raw_query)
        with self.lock:
            self._tick()
            head = parts[0] if parts else ""
            if head == "startup" and len(parts) == 1:
                if method == "GET":
                    return 200, {"restartStatus": self.status}, False
                if method == "POST" and query.get("_action") == "restart":
                    return 200, self.restart(hang=hang), False
            if head == "count" and len(parts) == 1 and method == "GET":
                pending = query.get("_onlyPending") == "true"
                return 200, {"secrets": sum(1 for s in self.secrets.values() if not pending or not s.loaded),
                             "variables": sum(1 for v in self.variables.values() if not pending or not v.loaded)
                             }, False
            if head == "variables":
                return self._variables(method, parts[1:], query, body)
            if head == "secrets":
                return self._secrets(method, parts[1:], query, body)
        raise CrestError(404, f"Resource '/environment/{'/'.join(parts)}' not found", reason=False)

    def _list(self, items: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
        size_text = query.get("_pageSize")
        try:
            size = int(size_text) if size_text else 25
        except ValueError:
            raise CrestError(400, "_pageSize: must be a number", reason=False) from None
        if size > _MAX_PAGE:
            raise CrestError(400, "_pageSize: number must be at most 100", reason=False)
        if "_queryFilter" in query:
            try:
                keep = compile_filter(query["_queryFilter"])
            except QueryError as exc:
                raise CrestError(400, str(exc), reason=False) from None
            items = [i for i in items if keep(i)]
        if query.get("_onlyPending") == "true":
            items = [i for i in items if not i["loaded"]]
        items.sort(key=lambda i: str(i["_id"]))
        start = 0
        cookie = query.get("_pagedResultsCookie")
        if cookie:
            try:
                start = int(base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4)))
            except (ValueError, binascii.Error):
                raise CrestError(400, "_pagedResultsCookie is not valid", reason=False) from None
        page = items[start:start + size] if size > 0 else items[start:]
        more = size > 0 and start + size < len(items)
        nxt = base64.urlsafe_b64encode(str(start + size).encode()).decode().rstrip("=") if more else None
        return {"pagedResultsCookie": nxt, "remainingPagedResults": -1, "result": page, "resultCount": len(page),
                "totalPagedResults": -1, "totalPagedResultsPolicy": "NONE"}

    @staticmethod
    def _check_id(esv_id: str) -> None:
        if not ESV_ID.match(esv_id):
            raise CrestError(400, f"{esv_id}: string doesn't match the regular expression "
                                  f"\"{ESV_ID.pattern}\"", reason=False)

    def _variables(self, method: str, rest: list[str], query: dict[str, str],
                   body: bytes) -> tuple[int, Any, bool]:
        if not rest:
            if method == "GET":
                return 200, self._list([v.view() for v in self.variables.values()], query), False
            raise CrestError(405, f"Method {method} is not allowed on /environment/variables", reason=False)
        esv_id = rest[0]
        var = self.variables.get(esv_id)
        if len(rest) == 1 and method == "PUT":
            self._check_id(esv_id)
            data = json_body(body, reason=False)
            if not isinstance(data, dict):
                raise CrestError(400, "The request body must be a JSON object", reason=False)
            _decode(data.get("valueBase64"))
            kind = str(data.get("expressionType") or (var.expression_type if var else "string"))
            if kind not in EXPRESSION_TYPES:
                raise CrestError(400, f"expressionType must be one of {', '.join(EXPRESSION_TYPES)}", reason=False)
            if var is not None and kind != var.expression_type:
                raise CrestError(400, "Changing the type of an existing variable is not permitted", reason=False)
            if var is None:
                var = self.variables[esv_id] = Variable(esv_id, str(data["valueBase64"]), kind)
            var.value_base64 = str(data["valueBase64"])
            if "description" in data:
                var.description = str(data.get("description") or "")
            var.last_change, var.loaded = _now(), False
            return 200, var.view(), True
        if var is None:
            raise CrestError(404, "The variable does not exist", reason=False)
        if len(rest) == 1 and method == "GET":
            return 200, var.view(), False
        if len(rest) == 1 and method == "DELETE":
            del self.variables[esv_id]
            return 200, var.view(), True
        if len(rest) == 1 and method == "POST" and query.get("_action") == "setDescription":
            _set_description(var, body)
            return 200, None, True  # AIC answers setDescription with an empty body
        raise CrestError(400, f"Unsupported request {method} on variable {esv_id}", reason=False)

    def _secrets(self, method: str, rest: list[str], query: dict[str, str],
                 body: bytes) -> tuple[int, Any, bool]:
        if not rest:
            if method == "GET":
                return 200, self._list([s.view() for s in self.secrets.values()], query), False
            raise CrestError(405, f"Method {method} is not allowed on /environment/secrets", reason=False)
        esv_id = rest[0]
        secret = self.secrets.get(esv_id)
        if len(rest) == 1 and method == "PUT":
            return self._create_secret(esv_id, secret, body)
        if secret is None:
            message = ("Failed to create secret version" if rest[1:] == ["versions"] and method == "POST"
                       else "The secret does not exist or does not have a version")
            raise CrestError(404, message, reason=False)
        if len(rest) == 1 and method == "GET":
            return 200, secret.view(), False
        if len(rest) == 1 and method == "DELETE":
            del self.secrets[esv_id]
            return 200, secret.view(), True
        if len(rest) == 1 and method == "POST" and query.get("_action") == "setDescription":
            _set_description(secret, body)
            return 200, None, True  # AIC answers setDescription with an empty body
        if rest[1:] == ["versions"]:
            if method == "GET":
                return 200, [secret.version_view(v) for v in reversed(secret.versions)], False
            if method == "POST" and query.get("_action") == "create":
                data = json_body(body, reason=False)
                value = data.get("valueBase64") if isinstance(data, dict) else None
                _decode(value)
                latest = secret.versions[-1] if secret.versions else None
                if latest is not None and latest["status"] == "ENABLED" and latest["valueBase64"] == value:
                    return 200, secret.version_view(latest), False  # AIC dedupes an unchanged value
                return 200, secret.version_view(secret.add_version(str(value))), True
        if len(rest) == 3 and rest[1] == "versions":
            return self._version(method, secret, rest[2], query, body)
        raise CrestError(400, f"Unsupported request {method} on secret {esv_id}", reason=False)

    def _create_secret(self, esv_id: str, secret: Secret | None, body: bytes) -> tuple[int, Any, bool]:
        self._check_id(esv_id)
        if secret is not None:
            raise CrestError(400, "Failed to create secret, the secret already exists", reason=False)
        data = json_body(body, reason=False)
        if not isinstance(data, dict):
            raise CrestError(400, "The request body must be a JSON object", reason=False)
        _decode(data.get("valueBase64"))
        encoding = str(data.get("encoding") or "generic")
        if encoding not in ENCODINGS:
            raise CrestError(400, f"encoding must be one of {', '.join(ENCODINGS)}", reason=False)
        if not isinstance(data.get("useInPlaceholders"), bool):
            raise CrestError(400, "useInPlaceholders is required (true or false)", reason=False)
        secret = Secret(esv_id, encoding, bool(data["useInPlaceholders"]), str(data.get("description") or ""))
        secret.add_version(str(data["valueBase64"]))
        self.secrets[esv_id] = secret
        return 200, secret.view(), True

    @staticmethod
    def _version(method: str, secret: Secret, number: str, query: dict[str, str],
                 body: bytes) -> tuple[int, Any, bool]:
        version = next((v for v in secret.versions if v["version"] == number), None)
        if version is None:
            raise CrestError(404, "The secret version does not exist", reason=False)
        if method == "GET":
            return 200, secret.version_view(version), False
        if method == "DELETE":
            if version["version"] == secret.active_version:
                raise CrestError(400, "Cannot destroy the latest secret version", reason=False)
            version["status"] = "DESTROYED"
            return 200, secret.version_view(version), True
        if method == "POST" and query.get("_action") == "changestatus":
            data = json_body(body, reason=False)
            status = data.get("status") if isinstance(data, dict) else None
            if status not in ("ENABLED", "DISABLED"):
                raise CrestError(400, "status must be ENABLED or DISABLED", reason=False)
            if status == "DISABLED" and version["version"] == secret.active_version:
                raise CrestError(400, "Cannot disable latest secret version", reason=False)
            version["status"] = status
            return 200, secret.version_view(version), True
        raise CrestError(400, f"Unsupported request {method} on secret version {number}", reason=False)
