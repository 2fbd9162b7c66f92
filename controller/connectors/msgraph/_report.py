"""What `connector test` found: the token, the tenant, granted versus needed roles, and one read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from controller.errors import ConnectorError, GraphError

__all__ = ["LEAST_PRIVILEGE_ROLE", "WRITE_ROLES", "ConnectionReport", "ReadOutcome"]

LEAST_PRIVILEGE_ROLE = "User.Read.All"
# The provisioning guide asks for write permissions too; reading users never needs them.
WRITE_ROLES = frozenset({"User.ReadWrite.All", "Directory.ReadWrite.All", "User.ManageIdentities.All",
                         "User.EnableDisableAccount.All", "Group.ReadWrite.All"})


def _error_dict(exc: ConnectorError | None) -> dict[str, Any] | None:
    if exc is None:
        return None
    out: dict[str, Any] = {"type": type(exc).__name__, "code": exc.code, "message": exc.message,
                           "hint": exc.hint}
    if isinstance(exc, GraphError):
        out["status"] = exc.status
        out["requestId"] = exc.request_id
    return out


@dataclass(frozen=True, slots=True)
class ReadOutcome:
    """The one Graph read of a connection test."""

    ok: bool
    request: str
    error: ConnectorError | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "request": self.request, "error": _error_dict(self.error)}


@dataclass(frozen=True, slots=True)
class ConnectionReport:
    """The outcome of ``GraphConnector.check()``; ``connected`` is the one-word verdict."""

    connector: str
    authority: str
    graph_url: str
    client_id: str
    scope: str
    token_ok: bool
    tenant_id: str | None = None
    app_name: str | None = None
    granted_roles: tuple[str, ...] = ()
    needed_roles: tuple[str, ...] = ()
    read: ReadOutcome | None = None
    error: ConnectorError | None = None
    advice: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "advice", tuple(self._advice()))

    @property
    def can_read(self) -> bool:
        """Whether the granted roles include one that reads users."""
        return bool(set(self.granted_roles) & set(self.needed_roles))

    @property
    def connected(self) -> bool:
        return self.token_ok and self.read is not None and self.read.ok

    @property
    def failure(self) -> ConnectorError | None:
        """The error that decides the verdict: the token's, else the read's."""
        if self.error is not None:
            return self.error
        return self.read.error if self.read is not None else None

    def _advice(self) -> list[str]:
        # No needed roles: the roles were not seen (an AIC tenant's connector holds the token, not idmctl).
        if not self.token_ok or not self.needed_roles:
            return []
        if not self.can_read:
            granted = ", ".join(self.granted_roles) or "none"
            return [f"The token grants no role that reads users (granted: {granted}). Grant the "
                    f"application permission {LEAST_PRIVILEGE_ROLE} (Microsoft Graph, Application) "
                    "and grant admin consent."]
        advice = []
        extra = [r for r in self.granted_roles if r != LEAST_PRIVILEGE_ROLE]
        if extra:
            advice.append(f"{LEAST_PRIVILEGE_ROLE} alone is enough to read users (least privilege); "
                          f"consider removing {', '.join(extra)}.")
        else:
            advice.append(f"{LEAST_PRIVILEGE_ROLE} alone: least privilege for reading users.")
        if set(self.granted_roles) & WRITE_ROLES:
            advice.append("The guide's write permissions are not needed to read users; idmctl only reads "
                          "from Microsoft Entra ID.")
        else:
            advice.append("The guide's write permissions are not needed to read users.")
        return advice

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape of ``idmctl connector test --json``."""
        return {
            "connector": self.connector,
            "connected": self.connected,
            "authority": self.authority,
            "graphUrl": self.graph_url,
            "clientId": self.client_id,
            "scope": self.scope,
            "token": {"ok": self.token_ok, "error": _error_dict(self.error)},
            "tenantId": self.tenant_id,
            "appName": self.app_name,
            "roles": {
                "granted": list(self.granted_roles),
                "neededAnyOf": list(self.needed_roles),
                "canRead": self.can_read,
            },
            "read": self.read.to_dict() if self.read is not None else None,
            "advice": list(self.advice),
        }
