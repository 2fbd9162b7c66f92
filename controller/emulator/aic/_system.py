"""The MS Graph connector at work: ``/openidm/system`` test and ``User`` queries (§3.2, §9 rows 8-9).

A real tenant's connector calls Microsoft; so does this one. The connector's configuration is read
from ``config/provisioner.openicf/<name>`` with its ``&{esv…}`` placeholders resolved from the
*loaded* ESVs (``&{esv.x|default}`` falls back to the default) and its ``$crypto`` values decrypted.
With the resolved ``tenant``, ``clientId`` and ``clientSecret`` it gets a client-credentials token at
``<login>/<tenant>/oauth2/v2.0/token`` (scope ``<graph>/.default``) and reads
``<graph>/v1.0/users`` page by page (``@odata.nextLink``) with ``$select``. Where Microsoft is (the
login and Graph URLs, and a CA to trust) comes from the emulator's flags.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from controller.emulator.aic._http import CrestError

__all__ = ["GraphConnector", "Unavailable", "connector_status", "resolve_placeholders", "unavailable"]

MICROSOFT_LOGIN = "https://login.microsoftonline.com"
MICROSOFT_GRAPH = "https://graph.microsoft.com"
_PLACEHOLDER = re.compile(r"&\{([^}|]+)(?:\|([^}]*))?\}")
_SELECTABLE = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
# Connector attributes that are not Graph user properties (groups, roles, licences, the manager link).
_NOT_SELECTABLE = frozenset({"memberOf", "manager", "id"})
_TIMEOUT = 15.0


class Unavailable(Exception):
    """The connector cannot work: an ESV not loaded, a refused secret, Graph unreachable (the message says)."""


def resolve_placeholders(value: Any, lookup: Callable[[str], str | None], missing: list[str]) -> Any:
    """``value`` with every ``&{name}`` / ``&{name|default}`` replaced; unresolved names go to ``missing``."""
    if isinstance(value, dict):
        return {k: resolve_placeholders(v, lookup, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_placeholders(v, lookup, missing) for v in value]
    if not isinstance(value, str) or "&{" not in value:
        return value

    def one(match: re.Match[str]) -> str:
        name, default = match.group(1).strip(), match.group(2)
        found = lookup(name.replace(".", "-")) if name.startswith("esv.") else None
        if found is not None:
            return found
        if default is not None:
            return default
        missing.append(match.group(0))
        return match.group(0)

    return _PLACEHOLDER.sub(one, value)


@dataclass(frozen=True)
class _Token:
    value: str
    expires_at: float


class GraphConnector:
    """Calls Microsoft's login and Graph (or what the flags name) for a resolved MS Graph connector."""

    def __init__(self, login_url: str = MICROSOFT_LOGIN, graph_url: str = MICROSOFT_GRAPH,
                 ca_bundle: str | None = None) -> None:
        self.login_url = login_url.rstrip("/")
        self.graph_url = graph_url.rstrip("/")
        self.verify: str | bool = ca_bundle or True
        self._session = requests.Session()  # trust_env on: HTTPS_PROXY / NO_PROXY apply, as for a tenant
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str, str], _Token] = {}

    def close(self) -> None:
        self._session.close()

    def _request(self, method: str, url: str, **kw: Any) -> requests.Response:
        try:
            return self._session.request(method, url, timeout=_TIMEOUT, verify=self.verify, **kw)
        except requests.exceptions.SSLError as exc:
            raise Unavailable(f"TLS to {url.split('?')[0]} failed ({type(exc).__name__}): the emulator does not "
                              "trust its certificate (pass --entra-ca)") from None
        except requests.RequestException as exc:
            raise Unavailable(f"Unable to reach {url.split('?')[0]}: {type(exc).__name__}") from None

    def token(self, props: dict[str, Any]) -> str:
        tenant, client_id, secret = (props.get("tenant"), props.get("clientId"), props.get("clientSecret"))
        for name, value in (("tenant", tenant), ("clientId", client_id), ("clientSecret", secret)):
            if not isinstance(value, str) or not value:
                raise Unavailable(f"configuration property {name} is not set")
        assert isinstance(tenant, str) and isinstance(client_id, str) and isinstance(secret, str)
        key = (tenant, client_id, hashlib.sha256(secret.encode()).hexdigest())
        with self._lock:
            cached = self._tokens.get(key)
            if cached is not None and cached.expires_at > time.time() + 60:
                return cached.value
        url = f"{self.login_url}/{tenant}/oauth2/v2.0/token"
        resp = self._request("POST", url, data={"grant_type": "client_credentials", "client_id": client_id,
                                                "client_secret": secret, "scope": f"{self.graph_url}/.default"})
        try:
            data = resp.json()
        except ValueError:
            data = {}
        if resp.status_code != 200 or not isinstance(data, dict) or "access_token" not in data:
            described = data.get("error_description") if isinstance(data, dict) else None
            reason = str(described or resp.reason or resp.status_code).splitlines()[0]
            raise Unavailable(f"Microsoft Entra refused the client credentials ({resp.status_code}): {reason}")
        token = _Token(str(data["access_token"]), time.time() + float(data.get("expires_in") or 3599))
        with self._lock:
            self._tokens[key] = token
        return token.value

    def _get(self, url: str, token: str) -> dict[str, Any]:
        resp = self._request("GET", url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
        try:
            data = resp.json()
        except ValueError:
            data = None
        if resp.status_code != 200 or not isinstance(data, dict):
            error = data.get("error") if isinstance(data, dict) else None
            detail = (f"{error.get('code')}: {error.get('message')}" if isinstance(error, dict)
                      else f"HTTP {resp.status_code}")
            raise Unavailable(f"Microsoft Graph answered {resp.status_code} for {url.split('?')[0]}: {detail}")
        return data

    def test(self, props: dict[str, Any]) -> None:
        """Raise Unavailable unless a token is issued and ``/v1.0/users`` can be read."""
        token = self.token(props)
        self._get(f"{self.graph_url}/v1.0/users?$top=1&$select=id", token)

    @staticmethod
    def _natives(object_type: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
        properties = object_type.get("properties") if isinstance(object_type.get("properties"), dict) else {}
        natives = {name: str(spec.get("nativeName") or name) if isinstance(spec, dict) else name
                   for name, spec in (properties or {}).items()}
        select = sorted({n for n in natives.values() if _SELECTABLE.match(n) and n not in _NOT_SELECTABLE})
        return natives, select

    @staticmethod
    def _object(user: dict[str, Any], natives: dict[str, str]) -> dict[str, Any]:
        obj: dict[str, Any] = {"_id": str(user["id"])}
        if natives:
            for name, native in natives.items():
                if user.get(native) is not None:
                    obj[name] = user[native]
        else:
            obj.update({k: v for k, v in user.items() if k != "id" and not k.startswith("@")})
        return obj

    def _pages(self, url: str | None, token: str) -> list[dict[str, Any]]:
        """Every page from ``url`` on, following ``@odata.nextLink``; the last one holds any deltaLink."""
        pages: list[dict[str, Any]] = []
        seen: set[str] = set()
        while url:
            if url in seen:
                raise Unavailable("Microsoft Graph sent a next page link it had sent before (a paging loop)")
            seen.add(url)
            page = self._get(url, token)
            pages.append(page)
            nxt = page.get("@odata.nextLink")
            url = str(nxt) if isinstance(nxt, str) and nxt else None
        return pages

    def users(self, props: dict[str, Any], object_type: dict[str, Any]) -> list[dict[str, Any]]:
        """Every Graph user as the connector's object (``_id`` = Graph id, attributes by name)."""
        token = self.token(props)
        natives, select = self._natives(object_type)
        url = f"{self.graph_url}/v1.0/users?$top=999" + (f"&$select={','.join(['id', *select])}" if select else "")
        return [self._object(user, natives) for page in self._pages(url, token)
                for user in page.get("value") or [] if isinstance(user, dict) and "id" in user]

    def user(self, props: dict[str, Any], object_type: dict[str, Any], user_id: str) -> dict[str, Any] | None:
        """One Graph user as the connector's object, or None when Graph has no such user (404)."""
        token = self.token(props)
        natives, select = self._natives(object_type)
        url = f"{self.graph_url}/v1.0/users/{user_id}" + (f"?$select={','.join(['id', *select])}" if select else "")
        try:
            return self._object(self._get(url, token), natives)
        except Unavailable as exc:
            if " answered 404 " in str(exc):
                return None
            raise

    def delta(self, props: dict[str, Any], object_type: dict[str, Any],
              token_link: str | None) -> tuple[list[dict[str, Any]], str]:
        """Graph users delta: with no token, ``$deltatoken=latest`` (no history, only the position); else the
        changes since ``token_link`` (items as Graph sends them, ``@removed`` kept) and the new deltaLink."""
        token = self.token(props)
        _, select = self._natives(object_type)
        if token_link is None:
            url = f"{self.graph_url}/v1.0/users/delta?$deltatoken=latest" + (
                f"&$select={','.join(['id', *select])}" if select else "")
        else:
            url = token_link
        pages = self._pages(url, token)
        link = pages[-1].get("@odata.deltaLink") if pages else None
        if not isinstance(link, str) or not link:
            raise Unavailable("Microsoft Graph ended a users delta round without an @odata.deltaLink")
        items = [u for page in pages for u in page.get("value") or [] if isinstance(u, dict) and "id" in u]
        return ([] if token_link is None else items), link


def connector_status(name: str, config: dict[str, Any], *, ok: bool, error: str | None) -> dict[str, Any]:
    """The ``?_action=test`` answer for ``name`` (§3.2): what the console shows as Connected."""
    ref = config.get("connectorRef") if isinstance(config.get("connectorRef"), dict) else {}
    types = config.get("objectTypes") if isinstance(config.get("objectTypes"), dict) else {}
    native = sorted({str(spec.get("id") or key) if isinstance(spec, dict) else str(key)
                     for key, spec in (types or {}).items()})
    enabled = config.get("enabled", True)
    out: dict[str, Any] = {"name": name, "enabled": enabled if isinstance(enabled, bool) else True,
                           "config": f"config/provisioner.openicf/{name}", "connectorRef": ref or {},
                           "displayName": (ref or {}).get("displayName"),
                           "objectTypes": [*native, "__ALL__"] if native else [], "ok": ok}
    if error is not None:
        out["error"] = error
    return out


def unavailable(exc: Unavailable) -> CrestError:
    return CrestError(503, str(exc))
