"""Fixtures of the config tests: a private copy of a shipped environment to break or change."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import copy_environment


@pytest.fixture
def make_env(tmp_path: Path) -> Callable[..., Path]:
    """``make_env(env="dev")``: copy environments/<env> of the repository under tmp_path (the root);
    returns the copy's folder, tmp_path/environments/<env>."""

    def _make(env: str = "dev") -> Path:
        return copy_environment(env, tmp_path)

    return _make
