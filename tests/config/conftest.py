"""Fixtures of the config tests: a private copy of a shipped environment to break or change."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def make_env(tmp_path: Path) -> Callable[..., Path]:
    """``make_env(env="dev")``: copy environments/<env> of the repository under tmp_path (the root);
    returns the copy's folder, tmp_path/environments/<env>."""

    def _make(env: str = "dev") -> Path:
        target = tmp_path / "environments" / env
        shutil.copytree(REPO / "environments" / env, target)
        return target

    return _make
