"""Opens the connector a configuration names, with its secret, and runs its connection test.

This is the one place that turns a `Connector` resource into a live connector, so the CLI, the
reconciliation engine and the scheduler read secrets and resolve types the same way.
"""

from __future__ import annotations

import re
from pathlib import Path

import requests

from controller.config import ResourceSet
from controller.config.models import ConnectorResource
from controller.connectors.msgraph import ConnectionReport, GraphConnector
from controller.errors import ConnectorError, UsageError

__all__ = ["SUPPORTED_TYPES", "connector_test", "open_connector", "pick_connector", "secret_name"]

SUPPORTED_TYPES = ("microsoft-graph",)
_SECRET_REF = re.compile(r"^\$\{secret\.([A-Za-z0-9_.-]+)\}$")


def secret_name(connector: ConnectorResource) -> str:
    """The name of the secret ``spec.clientSecret`` refers to (``${secret.x}``)."""
    match = _SECRET_REF.match(connector.spec.clientSecret.strip())
    if match:
        return match.group(1)
    raise ConnectorError(
        f"connector {connector.metadata.name!r}: spec.clientSecret is not a secret reference",
        hint="Write clientSecret: ${secret.<name>} and declare the secret in environment.yaml",
    )


def pick_connector(resources: ResourceSet, name: str | None) -> ConnectorResource:
    """The `Connector` resource called ``name``, or the only one when ``name`` is None."""
    connectors = resources.connectors
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


def open_connector(resources: ResourceSet, name: str | None, *, base_dir: Path | None = None,
                   session: requests.Session | None = None) -> GraphConnector:
    """A live connector for ``name`` (its secret read now, from where the environment says)."""
    connector = pick_connector(resources, name)
    kind = connector.spec.type
    if kind not in SUPPORTED_TYPES:
        raise ConnectorError(
            f"connector {connector.metadata.name!r}: type {kind!r} is not supported",
            hint=f"Supported types: {', '.join(SUPPORTED_TYPES)}",
        )
    secret = resources.secret(secret_name(connector))
    return GraphConnector.from_resource(connector, secret, base_dir=base_dir or resources.root, session=session)


def connector_test(resources: ResourceSet, name: str | None = None, *, base_dir: Path | None = None,
                   session: requests.Session | None = None) -> ConnectionReport:
    """Token, tenant, granted vs needed roles and one read for connector ``name`` (see `check()`)."""
    with open_connector(resources, name, base_dir=base_dir, session=session) as connector:
        return connector.check()
