"""The Microsoft Graph connector: reads users (paged, filtered, by id) and their delta rounds.

Every Graph call goes through one method that adds the token, follows only links on the configured
Graph host, and maps error answers to typed errors; callers see lists of plain dicts.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import requests

from controller.config.models import ConnectorResource
from controller.connectors.msgraph._errors import READ_ROLES, graph_error
from controller.connectors.msgraph._report import ConnectionReport, ReadOutcome
from controller.connectors.msgraph._settings import GraphSettings, origin
from controller.connectors.msgraph._token import TokenProvider, token_claims
from controller.connectors.msgraph._transport import RetryPolicy, Transport
from controller.errors import ConnectorError, GraphError

__all__ = ["DeltaPage", "GraphConnector"]

# Graph's delta query accepts $filter only on id (`id eq '…' or id eq '…'`, at most 50).
_ID_ONLY_FILTER = re.compile(r"^\s*(\(?\s*id\s+(eq\s+'[^']*'|in\s*\([^)]*\))\s*\)?\s*(\s+or\s+|$))+$", re.I)


@dataclass(frozen=True, slots=True)
class DeltaPage:
    """One page of a delta round: changed users, removed ``(id, reason)``, the deltaLink on the last page."""

    users: list[dict[str, Any]]
    removed: list[tuple[str, str]]
    delta_link: str | None = None


def _select(select: Iterable[str]) -> str:
    seen: dict[str, None] = {"id": None}
    for attr in select:
        seen.setdefault(attr, None)
    return ",".join(seen)


def _query(params: dict[str, Any]) -> str:
    # Graph's own links keep `$` and `,` literal; quote the rest (`#` in guest UPNs must be %23).
    return urlencode({k: v for k, v in params.items() if v is not None}, quote_via=quote, safe="$,()'")


class GraphConnector:
    """One tenant's users through Microsoft Graph v1.0, authenticated as an application."""

    def __init__(
        self,
        settings: GraphSettings,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.settings = settings
        self._transport = Transport(settings, session=session, sleep=sleep, policy=policy)
        self._tokens = TokenProvider(settings, self._transport)

    @classmethod
    def from_resource(
        cls, connector: ConnectorResource, secret: str, *, base_dir: Path | None = None,
        session: requests.Session | None = None,
    ) -> GraphConnector:
        """A connector for a `Connector` resource; ``secret`` is the client secret's value."""
        return cls(GraphSettings.from_resource(connector, secret, base_dir=base_dir), session=session)

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> GraphConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GraphConnector({self.settings.name!r}, {self.settings.graph_url})"

    # -- tokens ---------------------------------------------------------------------------------

    def token(self) -> str:
        """A valid access token (cached by msal, refreshed when near expiry)."""
        return self._tokens.token()

    def token_claims(self) -> dict[str, Any]:
        """The current token's payload (unverified; for tenant and roles diagnostics)."""
        return token_claims(self.token())

    # -- HTTP -----------------------------------------------------------------------------------

    def _check_link(self, url: str) -> None:
        if origin(url) != origin(self.settings.graph_url):
            scheme, host, port = origin(url)
            raise ConnectorError(
                f"connector {self.settings.name!r}: Graph returned a link to {scheme}://{host}:{port}, "
                f"not the configured graphUrl {self.settings.graph_url}; refusing to send the token there",
                code="FOREIGN_LINK",
                hint="Check spec.graphUrl: it must be the host Graph's links point to",
            )

    def _get(self, url: str, *, headers: dict[str, str] | None = None) -> dict[str, Any]:
        self._check_link(url)
        retried_auth = False
        while True:
            hdrs = {"Authorization": f"Bearer {self.token()}", "Accept": "application/json"}
            hdrs.update(headers or {})
            response = self._transport.request("GET", url, headers=hdrs)
            if response.status_code == 401 and not retried_auth:
                # A token can be revoked or rotated before its stated expiry: get a fresh one once.
                retried_auth = True
                self._tokens.invalidate()
                continue
            if response.status_code >= 400:
                raise graph_error(response, self.settings)
            try:
                body = response.json()
            except ValueError:
                raise GraphError(
                    f"connector {self.settings.name!r}: Graph answered {response.status_code} "
                    f"with a body that is not JSON",
                    status=response.status_code,
                    hint="Check spec.graphUrl: it must be the Microsoft Graph root, without /v1.0",
                ) from None
            if not isinstance(body, dict):
                raise GraphError(
                    f"connector {self.settings.name!r}: Graph answered with unexpected JSON",
                    status=response.status_code,
                )
            return body

    # -- users ----------------------------------------------------------------------------------

    def users_url(self, select: Iterable[str], pushdown: str | None = None, *, top: int | None = None) -> str:
        params = {"$select": _select(select), "$top": top or self.settings.page_size, "$filter": pushdown}
        return f"{self.settings.api_base}/users?{_query(params)}"

    def iter_users(
        self, select: Iterable[str], pushdown: str | None = None, *, page_size: int | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of users with ``select`` + ``id``, filtered by Graph with ``pushdown`` when given."""
        url: str | None = self.users_url(select, pushdown, top=page_size)
        while url:
            body = self._get(url)
            users = body.get("value") or []
            if users:
                yield users
            url = body.get("@odata.nextLink")

    def get_user(self, user_id: str, select: Iterable[str]) -> dict[str, Any]:
        """One user by id or userPrincipalName; raises ``GraphNotFound`` when it does not exist."""
        query = _query({"$select": _select(select)})
        return self._get(f"{self.settings.api_base}/users/{quote(user_id, safe='@')}?{query}")

    # -- delta ----------------------------------------------------------------------------------

    def delta_start_link(self, select: Iterable[str], pushdown: str | None = None) -> str:
        """The URL of an initial delta round (every current user, then a deltaLink).

        Graph's delta accepts ``$filter`` only on id, so any other ``pushdown`` is dropped here and
        the caller applies its filter locally to the pages.
        """
        params = {"$select": _select(select)}
        if pushdown and _ID_ONLY_FILTER.match(pushdown):
            params["$filter"] = pushdown
        return f"{self.settings.api_base}/users/delta?{_query(params)}"

    def latest_delta_link(self, select: Iterable[str], pushdown: str | None = None) -> str:
        """A deltaLink from now on (``$deltatoken=latest``): no users are read."""
        url: str | None = self.delta_start_link(select, pushdown) + "&$deltatoken=latest"
        while url:
            body = self._get(url)
            link = body.get("@odata.deltaLink")
            if link:
                self._check_link(link)
                return str(link)
            url = body.get("@odata.nextLink")
        raise GraphError(
            f"connector {self.settings.name!r}: Graph ended a $deltatoken=latest round without a deltaLink",
            status=200,
        )

    def read_delta(self, delta_link: str) -> Iterator[DeltaPage]:
        """Follow a delta round from ``delta_link`` (or a start link); raises ``DeltaExpired``."""
        url: str | None = delta_link
        while url:
            body = self._get(url)
            users: list[dict[str, Any]] = []
            removed: list[tuple[str, str]] = []
            for item in body.get("value") or []:
                gone = item.get("@removed")
                if gone is not None:
                    reason = gone.get("reason", "deleted") if isinstance(gone, dict) else "deleted"
                    removed.append((str(item.get("id")), str(reason)))
                else:
                    users.append(item)
            # Graph keeps paging even when `value` is empty; a page never carries both links.
            url = body.get("@odata.nextLink")
            link = None if url else body.get("@odata.deltaLink")
            if link:
                self._check_link(link)
            yield DeltaPage(users=users, removed=removed, delta_link=link)
            if not url and not link:
                raise GraphError(
                    f"connector {self.settings.name!r}: a delta page had neither nextLink nor deltaLink",
                    status=200,
                    hint="The round is incomplete: run a full reconciliation",
                )

    # -- diagnostics ----------------------------------------------------------------------------

    def check(self) -> ConnectionReport:
        """Token, tenant, granted roles against the roles needed, and one read; never raises."""
        s = self.settings
        base = {"connector": s.name, "authority": s.authority, "graph_url": s.graph_url,
                "client_id": s.client_id, "scope": s.scope}
        try:
            claims = self.token_claims()
        except ConnectorError as exc:
            return ConnectionReport(**base, token_ok=False, error=exc)
        roles = claims.get("roles")
        granted = tuple(sorted(roles)) if isinstance(roles, list) else ()
        try:
            next(iter(self.iter_users(["id"], page_size=1)), [])
            read = ReadOutcome(ok=True, request=f"GET {s.api_base}/users?$top=1&$select=id")
        except ConnectorError as exc:
            read = ReadOutcome(ok=False, request=f"GET {s.api_base}/users?$top=1&$select=id", error=exc)
        return ConnectionReport(
            **base,
            token_ok=True,
            tenant_id=claims.get("tid"),
            app_name=claims.get("app_displayname"),
            granted_roles=granted,
            needed_roles=READ_ROLES,
            read=read,
        )
