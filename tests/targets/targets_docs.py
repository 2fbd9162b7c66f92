"""Canonical Environment documents for the target tests (a module of its own: `conftest` is ambiguous)."""

from __future__ import annotations


def environment(name: str = "dev", path: str | None = None) -> dict:  # type: ignore[type-arg]
    """The canonical Environment resource ``open_target`` accepts (as applied state holds it)."""
    return {"apiVersion": "idmctl/v1", "kind": "Environment", "name": name,
            "spec": {"target": {"type": "local", "path": path or f".idmctl/{name}.db"}}}
