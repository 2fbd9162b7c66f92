"""The settings of one Microsoft Graph connector, resolved from its `Connector` resource.

Endpoints are normalised here once (no trailing slash, no ``/v1.0`` on the Graph URL) so that the
rest of the package can compare hosts and build URLs without second-guessing the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from controller.config.models import ConnectorResource, ConnectorSpec
from controller.errors import ConnectorError
from controller.transport import Timeouts

__all__ = [
    "DEFAULT_AUTHORITY_HOST",
    "DEFAULT_GRAPH_URL",
    "MICROSOFT_AUTHORITY_HOSTS",
    "GraphSettings",
    "Timeouts",
    "origin",
]

# The defaults are the Connector model's (the one source of them); settings built by hand get the same.
_FIELDS = ConnectorSpec.model_fields
DEFAULT_AUTHORITY_HOST: str = _FIELDS["authorityHost"].default
DEFAULT_GRAPH_URL: str = _FIELDS["graphUrl"].default
DEFAULT_PAGE_SIZE: int = _FIELDS["pageSize"].default
DEFAULT_MAX_RETRY_WAIT = float(_FIELDS["maxRetryWaitSeconds"].default)

# The login hosts Microsoft runs (public, US Government, China, sovereign clouds). Only these get
# msal's instance discovery and authority validation: for any other host (a private emulator, a
# test server) discovery would phone login.microsoftonline.com, which is wrong and often unreachable.
MICROSOFT_AUTHORITY_HOSTS = frozenset({
    "login.microsoftonline.com",
    "login.microsoft.com",
    "login.windows.net",
    "sts.windows.net",
    "login.microsoftonline.us",
    "login.usgovcloudapi.net",
    "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn",
    "login.microsoftonline.de",
    "login.sovcloud-identity.fr",
    "login.sovcloud-identity.de",
    "login.sovcloud-identity.sg",
})


def origin(url: str) -> tuple[str, str, int]:
    """Scheme, lower-case host and effective port of ``url``: what "the same server" means."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = 443 if scheme == "https" else 80
    return scheme, (parts.hostname or "").lower(), port


def _https_url(value: str, field_name: str, where: str) -> str:
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise ConnectorError(
            f"{where}: {field_name} {value!r} is not an https URL",
            hint=f"Set spec.{field_name} to an https URL such as "
            + (DEFAULT_GRAPH_URL if field_name == "graphUrl" else DEFAULT_AUTHORITY_HOST),
        )
    return url


@dataclass(frozen=True, slots=True)
class GraphSettings:
    """Everything the connector needs to talk to one tenant; ``client_secret`` never shows in repr."""

    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    authority_host: str = DEFAULT_AUTHORITY_HOST
    graph_url: str = DEFAULT_GRAPH_URL
    token_scope: str | None = None
    ca_bundle: Path | None = None
    page_size: int = DEFAULT_PAGE_SIZE
    timeouts: Timeouts = field(default_factory=Timeouts)
    max_retry_wait: float = DEFAULT_MAX_RETRY_WAIT
    name: str = "msgraph"
    read_concurrency: int = 1

    def __post_init__(self) -> None:
        where = f"connector {self.name!r}"
        object.__setattr__(self, "authority_host", _https_url(self.authority_host, "authorityHost", where))
        graph = _https_url(self.graph_url, "graphUrl", where)
        if graph.lower().endswith("/v1.0"):
            graph = graph[: -len("/v1.0")]
        object.__setattr__(self, "graph_url", graph)
        if not 1 <= self.page_size <= 999:
            raise ConnectorError(
                f"{where}: pageSize {self.page_size} is out of range",
                hint="Microsoft Graph pages hold 1 to 999 users; use 999 unless you have a reason",
            )
        for name in ("tenant_id", "client_id"):
            if not getattr(self, name):
                raise ConnectorError(f"{where}: {name} is empty", hint="Set spec.tenantId and spec.clientId")
        if not self.client_secret:
            raise ConnectorError(
                f"{where}: the client secret is empty",
                hint="Set the secret that spec.clientSecret refers to (its Value, not its Secret ID)",
            )

    @property
    def authority(self) -> str:
        return f"{self.authority_host}/{self.tenant_id}"

    @property
    def scope(self) -> str:
        return self.token_scope or f"{self.graph_url}/.default"

    @property
    def api_base(self) -> str:
        return f"{self.graph_url}/v1.0"

    @property
    def is_microsoft_authority(self) -> bool:
        return origin(self.authority_host)[1] in MICROSOFT_AUTHORITY_HOSTS

    @classmethod
    def from_resource(cls, connector: ConnectorResource, secret: str, *, base_dir: Path | None = None) -> GraphSettings:
        """Build settings from a `Connector` resource; a relative ``caBundle`` is resolved against
        ``base_dir`` (the repository root)."""
        spec, name = connector.spec, connector.metadata.name
        ca_bundle: Path | None = None
        if spec.caBundle:
            ca_bundle = Path(spec.caBundle).expanduser()
            if not ca_bundle.is_absolute() and base_dir is not None:
                ca_bundle = base_dir / ca_bundle
            if not ca_bundle.is_file():
                raise ConnectorError(
                    f"connector {name!r}: caBundle {str(ca_bundle)!r} is not a readable file",
                    hint="Point spec.caBundle at a PEM file (relative paths are from the repository root)",
                )
        read_timeout = float(spec.timeoutSeconds)
        return cls(
            tenant_id=spec.tenantId,
            client_id=spec.clientId,
            client_secret=secret,
            authority_host=spec.authorityHost,
            graph_url=spec.graphUrl,
            token_scope=spec.tokenScope,
            ca_bundle=ca_bundle,
            page_size=spec.pageSize,
            timeouts=Timeouts.of(read_timeout),
            max_retry_wait=float(spec.maxRetryWaitSeconds),
            name=name,
            read_concurrency=int(getattr(spec, "readConcurrency", 1)),
        )
