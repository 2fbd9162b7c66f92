"""Environment resources for the backend tests (a module of its own: `conftest` is ambiguous)."""

from __future__ import annotations

from controller.config.models import EnvironmentResource


def environment(name: str = "dev", path: str | None = None) -> EnvironmentResource:
    """The Environment resource ``open_backend`` takes: a sqlite state at ``path``."""
    return EnvironmentResource.model_validate({
        "apiVersion": "idmctl/v1", "kind": "Environment", "metadata": {"name": name},
        "spec": {"state": {"backend": "sqlite", "path": path or f".idmctl/{name}.db"}}})
