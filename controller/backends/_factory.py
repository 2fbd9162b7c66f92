"""Opening the state backend an ``Environment`` resource names (``spec.state``)."""

from __future__ import annotations

from pathlib import Path

from controller.backends._protocol import StateBackend
from controller.backends.sqlite import SqliteBackend
from controller.config.models import EnvironmentResource
from controller.errors import UsageError

__all__ = ["default_state_path", "open_backend"]


def default_state_path(env: str) -> str:
    """Where a sqlite state lives when ``spec.state.path`` is not given (relative to the repository root)."""
    return f".idmctl/{env}.db"


def open_backend(root: Path, environment: EnvironmentResource, *, must_exist: bool = True) -> StateBackend:
    """The state backend of ``environment``, with paths relative to the repository ``root``.

    With ``must_exist`` (every command but ``init``), a missing state raises ``StateNotInitialized``
    and an older schema is upgraded in place.
    """
    name, spec = environment.metadata.name, environment.spec.state
    if spec.backend != "sqlite":
        # validate reports this first; a state written by a newer idmctl can still name it
        raise UsageError(f"environment {name!r} uses state backend {spec.backend!r}, which is not available "
                         "in this version of idmctl",
                         hint=f"Use `state: {{backend: sqlite, path: {default_state_path(name)}}}` in its "
                              "environment.yaml")
    path = Path(spec.path or default_state_path(name))
    backend = SqliteBackend(name, path if path.is_absolute() else (Path(root) / path).resolve())
    return backend.open_existing() if must_exist else backend
