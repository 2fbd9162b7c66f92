"""A local target in a temporary repository root, initialised or not."""

from __future__ import annotations

from pathlib import Path

import pytest
from backend_docs import environment

from controller.backends import open_backend
from controller.backends.sqlite import SqliteBackend


@pytest.fixture
def fresh_target(tmp_path: Path):  # type: ignore[no-untyped-def]
    target = open_backend(tmp_path, environment(), must_exist=False)
    yield target
    target.close()


@pytest.fixture
def target(fresh_target: SqliteBackend) -> SqliteBackend:
    fresh_target.init()
    return fresh_target
