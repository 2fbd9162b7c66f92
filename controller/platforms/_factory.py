"""Opening an environment: its state backend and its platform, as its ``Environment`` resource names them.

This module and ``controller.backends._factory`` are the only places that import concrete backends and
platforms (an import-linter contract says so); everything else talks to the protocols.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from controller.backends import StateBackend, open_backend
from controller.config import ResourceSet, environment_dir, load_environment
from controller.config.models import AicPlatformSpec, EnvironmentResource, EnvironmentSpec, Metadata
from controller.errors import ConfigError, UsageError
from controller.platforms._protocol import Platform
from controller.platforms.embedded import EmbeddedPlatform

if TYPE_CHECKING:
    from controller.platforms.aic import TenantApi
    from controller.recon import ConnectorFactory

__all__ = ["OpenEnvironment", "TenantFactory", "open_environment", "open_platform", "open_tenant"]

TenantFactory = Callable[[AicPlatformSpec, str, Path], "TenantApi"]
"""Connects to a tenant: (platform spec, the service account's key, the repository root) -> TenantApi."""


def _connect(spec: AicPlatformSpec, key: str, base_dir: Path) -> TenantApi:
    from controller.platforms.aic import connect

    return connect(spec, key, base_dir=base_dir)


def open_tenant(root: Path, resources: ResourceSet, *, tenant_factory: TenantFactory | None = None) -> TenantApi:
    """The tenant of an environment on the aic platform, authenticated with its service account's key
    (read from its secret now, never kept)."""
    spec = resources.environment.spec.platform
    if not isinstance(spec, AicPlatformSpec):
        raise UsageError(f"environment {resources.name!r} is on the {spec.type} platform, not aic",
                         hint="Only an environment with `platform: {type: aic, ...}` has a tenant")
    key = resources.secret(spec.serviceAccountKey)
    return (tenant_factory or _connect)(spec, key, root)


def open_platform(root: Path, environment: EnvironmentResource, backend: StateBackend,
                  working: ResourceSet | None = None, *,
                  connector_factory: ConnectorFactory | None = None,
                  tenant_factory: TenantFactory | None = None, tenant: TenantApi | None = None) -> Platform:
    """The platform ``environment`` names, over its state ``backend``.

    On aic the tenant is connected on first use, so commands that do not need it never read its key;
    ``tenant`` is one already connected (the caller closes it).
    """
    spec = environment.spec.platform
    if isinstance(spec, AicPlatformSpec):
        # Imported here: the aic platform (requests, jwt, cryptography, its renderers) costs ~0.1 s of
        # start-up that embedded environments never need.
        from controller.platforms.aic import AicPlatform

        resources = working if working is not None else ResourceSet(environment=environment, root=root)
        return AicPlatform(root, backend, spec, tenant if tenant is not None else
                           (lambda: open_tenant(root, resources, tenant_factory=tenant_factory)), working)
    return EmbeddedPlatform(root, backend, working, connector_factory=connector_factory)


@dataclass
class OpenEnvironment:
    """An environment opened for a command: its state, its platform, its working tree (when it loads)."""

    name: str
    root: Path
    backend: StateBackend
    platform: Platform
    working: ResourceSet | None  # the files, when they load; runs use the applied state either way
    warnings: list[str] = field(default_factory=list)

    def close(self) -> None:
        self.platform.close()
        self.backend.close()

    def __enter__(self) -> OpenEnvironment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_environment(root: Path, env: str, *, connector_factory: ConnectorFactory | None = None,
                     tenant_factory: TenantFactory | None = None) -> OpenEnvironment:
    """Open ``env``'s state and platform for runs and queries.

    They work from applied state even when the working tree does not load: then the state is looked
    for where the default Environment would keep it, and a warning says so.
    """
    warnings: list[str] = []
    try:
        loaded = load_environment(root, env)
    except ConfigError as exc:
        environment_dir(root, env)  # a clear error when there is no such environment at all
        environment = EnvironmentResource(apiVersion="idmctl/v1", kind="Environment", metadata=Metadata(name=env),
                                          spec=EnvironmentSpec())
        backend = open_backend(root, environment)
        warnings.append(f"the working tree of {env!r} does not load ({exc}); using applied state at "
                        f"{backend.location}")
        working = None
    else:
        environment, working = loaded.resources.environment, loaded.resources
        backend = open_backend(root, environment)
    try:
        platform = open_platform(root, environment, backend, working, connector_factory=connector_factory,
                                 tenant_factory=tenant_factory)
    except BaseException:
        backend.close()
        raise
    return OpenEnvironment(env, root, backend, platform, working, warnings)
