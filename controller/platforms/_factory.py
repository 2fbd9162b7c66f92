"""Opening an environment: its state backend and its platform, as its ``Environment`` resource names them.

This module and ``controller.backends._factory`` are the only places that import concrete backends and
platforms (an import-linter contract says so); everything else talks to the protocols.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from controller.backends import StateBackend, open_backend
from controller.config import ResourceSet, environment_dir, load_environment
from controller.config.models import EnvironmentResource, EnvironmentSpec, Metadata
from controller.errors import ConfigError, UsageError
from controller.platforms._protocol import Platform
from controller.platforms.embedded import EmbeddedPlatform
from controller.recon import ConnectorFactory

__all__ = ["OpenEnvironment", "open_environment", "open_platform"]


def open_platform(root: Path, environment: EnvironmentResource, backend: StateBackend,
                  working: ResourceSet | None = None, *,
                  connector_factory: ConnectorFactory | None = None) -> Platform:
    """The platform ``environment`` names, over its state ``backend``."""
    spec = environment.spec.platform
    if spec.type != "embedded":
        raise UsageError(f"environment {environment.metadata.name!r} uses platform {spec.type!r}, which is not "
                         "available in this version of idmctl",
                         hint="Use `platform: {type: embedded}` in its environment.yaml")
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


def open_environment(root: Path, env: str, *, connector_factory: ConnectorFactory | None = None) -> OpenEnvironment:
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
        platform = open_platform(root, environment, backend, working, connector_factory=connector_factory)
    except BaseException:
        backend.close()
        raise
    return OpenEnvironment(env, root, backend, platform, working, warnings)
