"""Checkouts of one configuration repository whose prod environment keeps its state in one PostgreSQL schema."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import STATE_SECRET, copy_environment
from tests.postgres_cluster import Cluster

Checkout = Callable[[str], Path]


@pytest.fixture
def checkout(tmp_path: Path, pg_cluster: Cluster, pg_schema: str, monkeypatch: pytest.MonkeyPatch) -> Checkout:
    """``checkout("a")``: a clone of environments/prod of its own, its state in the test's schema."""
    monkeypatch.setenv("ENTRA_CLIENT_SECRET", STATE_SECRET)
    monkeypatch.delenv("IDMCTL_ROOT", raising=False)

    def make(name: str) -> Path:
        root = tmp_path / name
        copy_environment("prod", root)
        pg_cluster.use_in(root, "prod", pg_schema)
        return root

    return make


def idmctl(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m controller ARGS --root ROOT`` as a process of its own."""
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "controller", *args, "--root", str(root)], env=env, text=True,
                          capture_output=True, timeout=timeout, cwd=root)
