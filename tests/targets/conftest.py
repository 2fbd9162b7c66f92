"""A local target in a temporary repository root, initialised or not."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.targets import LocalTarget, open_target


def environment(name: str = "dev", path: str | None = None) -> dict:  # type: ignore[type-arg]
    """The canonical Environment resource ``open_target`` accepts (as applied state holds it)."""
    return {"apiVersion": "idmctl/v1", "kind": "Environment", "name": name,
            "spec": {"target": {"type": "local", "path": path or f".idmctl/{name}.db"}}}


@pytest.fixture
def fresh_target(tmp_path: Path):  # type: ignore[no-untyped-def]
    target = open_target(tmp_path, environment(), must_exist=False)
    yield target
    target.close()


@pytest.fixture
def target(fresh_target: LocalTarget) -> LocalTarget:
    fresh_target.init()
    return fresh_target
