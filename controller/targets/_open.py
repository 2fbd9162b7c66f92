"""Choosing and opening the target an ``Environment`` resource names (``spec.target``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from controller.errors import UsageError
from controller.targets._base import Target
from controller.targets.local import LocalTarget

__all__ = ["open_target"]


def _environment_parts(env: Any) -> tuple[str, Any]:
    """(name, target spec) from a LoadedEnvironment, ResourceSet, EnvironmentResource or canonical dict."""
    if isinstance(env, dict):  # canonical form {"kind": "Environment", "name", "spec": {...}}
        spec = env.get("spec") or {}
        return env["name"], spec.get("target") or {"type": "local"}
    name = getattr(env, "name", None)
    if hasattr(env, "resources"):  # LoadedEnvironment
        env = env.resources.environment
    elif hasattr(env, "environment"):  # ResourceSet
        env = env.environment
    name = env.metadata.name if not isinstance(name, str) else name
    return name, env.spec.target


def _field(spec: Any, key: str) -> Any:
    return spec.get(key) if isinstance(spec, dict) else getattr(spec, key, None)


def open_target(root: Path, environment: Any, *, must_exist: bool = True) -> Target:
    """The target of ``environment`` (a loaded environment, its Environment resource, or its canonical
    dict), with paths relative to the repository ``root``.

    With ``must_exist`` (every command but ``init``), a missing state raises ``StateNotInitialized``
    and an older schema is upgraded in place.
    """
    name, spec = _environment_parts(environment)
    kind = _field(spec, "type") or "local"
    if kind != "local":
        raise UsageError(
            f"environment {name!r} uses target type {kind!r}, which this idmctl does not implement yet",
            hint="Use `target: {type: local, path: .idmctl/<env>.db}` in its environment.yaml")
    path = Path(_field(spec, "path") or f".idmctl/{name}.db")
    target = LocalTarget(name, path if path.is_absolute() else (Path(root) / path).resolve())
    return target.open_existing() if must_exist else target
