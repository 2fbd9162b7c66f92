"""A local target in a temporary repository root, initialised or not."""

from __future__ import annotations

from pathlib import Path

import pytest
from targets_docs import environment

from controller.targets import LocalTarget, open_target


@pytest.fixture
def fresh_target(tmp_path: Path):  # type: ignore[no-untyped-def]
    target = open_target(tmp_path, environment(), must_exist=False)
    yield target
    target.close()


@pytest.fixture
def target(fresh_target: LocalTarget) -> LocalTarget:
    fresh_target.init()
    return fresh_target
