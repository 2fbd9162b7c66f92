"""Opens the connector a configuration names, with its secret, and runs its connection test.

This is the one place that turns a `Connector` resource into a live connector, so the CLI, the
reconciliation engine and the scheduler read secrets and resolve types the same way.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from controller.connectors.msgraph import ConnectionReport, GraphConnector
from controller.errors import ConnectorError, UsageError

__all__ = ["SUPPORTED_TYPES", "connector_test", "open_connector", "pick_connector", "secret_name"]

SUPPORTED_TYPES = ("microsoft-graph",)
_SECRET_REF = re.compile(r"^\$\{secret\.([A-Za-z0-9_.-]+)\}$")


def field_of(obj: Any, name: str, default: Any = None) -> Any:
    """``obj.name`` or ``obj[name]``: resources arrive as models or as canonical dicts."""
    value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
    return default if value is None else value


def secret_name(connector: Any) -> str:
    """The name of the secret ``spec.clientSecret`` refers to (``${secret.x}`` or its canonical form)."""
    name = field_of(connector.metadata, "name", "?")
    ref = field_of(connector.spec, "clientSecret")
    if isinstance(ref, str):
        match = _SECRET_REF.match(ref.strip())
        if match:
            return match.group(1)
    else:
        for attr in ("secret", "name"):
            value = field_of(ref, attr) if ref is not None else None
            if isinstance(value, str) and value:
                return value
    raise ConnectorError(
        f"connector {name!r}: spec.clientSecret is not a secret reference",
        hint="Write clientSecret: ${secret.<name>} and declare the secret in environment.yaml",
    )


def pick_connector(resources: Any, name: str | None) -> Any:
    """The `Connector` resource called ``name``, or the only one when ``name`` is None."""
    connectors: dict[str, Any] = dict(resources.connectors)
    if name is None:
        if len(connectors) == 1:
            return next(iter(connectors.values()))
        if not connectors:
            raise UsageError("this environment declares no Connector",
                             hint="Add a `kind: Connector` resource to the environment's files")
        raise UsageError(f"this environment has {len(connectors)} connectors; name one",
                         hint=f"Use one of: {', '.join(sorted(connectors))}")
    if name not in connectors:
        known = ", ".join(sorted(connectors)) or "none"
        raise UsageError(f"no connector named {name!r} in this environment",
                         hint=f"Known connectors: {known}")
    return connectors[name]


def open_connector(resources: Any, name: str | None, *, base_dir: Path | None = None,
                   **kw: Any) -> GraphConnector:
    """A live connector for ``name`` (its secret read now, from where the environment says)."""
    connector = pick_connector(resources, name)
    kind = field_of(connector.spec, "type", "microsoft-graph")
    if kind not in SUPPORTED_TYPES:
        raise ConnectorError(
            f"connector {connector.metadata.name!r}: type {kind!r} is not supported",
            hint=f"Supported types: {', '.join(SUPPORTED_TYPES)}",
        )
    secret = resources.secret(secret_name(connector))
    if base_dir is None:
        base_dir = getattr(resources, "root", None)
    return GraphConnector.from_resource(connector, secret, base_dir=base_dir, **kw)


def connector_test(resources: Any, name: str | None = None, *, base_dir: Path | None = None,
                   **kw: Any) -> ConnectionReport:
    """Token, tenant, granted vs needed roles and one read for connector ``name`` (see `check()`)."""
    with open_connector(resources, name, base_dir=base_dir, **kw) as connector:
        return connector.check()
