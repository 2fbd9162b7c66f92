"""The implementations the contract suites run against, one parameter each.

A new backend (PostgreSQL) joins every contract test by adding its name to ``BACKENDS`` and a branch
to ``_open``: the tests themselves only know the ``StateBackend`` and ``Store`` protocols.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from controller.backends import StateBackend, Store, open_backend
from controller.config.models import EnvironmentResource

BACKENDS = ["sqlite"]

OpenBackend = Callable[[], StateBackend]


def _environment(kind: str, name: str = "dev") -> EnvironmentResource:
    state = {"backend": "sqlite", "path": f".idmctl/{name}.db"} if kind == "sqlite" else {"backend": kind}
    return EnvironmentResource.model_validate(
        {"apiVersion": "idmctl/v1", "kind": "Environment", "metadata": {"name": name}, "spec": {"state": state}})


@pytest.fixture(params=BACKENDS)
def open_state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenBackend]:
    """Opens a new handle on one environment's state (each call: another process's view of it)."""
    kind: str = request.param
    opened: list[StateBackend] = []

    def _open() -> StateBackend:
        backend = open_backend(tmp_path, _environment(kind), must_exist=False)
        opened.append(backend)
        return backend

    yield _open
    for backend in opened:
        backend.close()


@pytest.fixture
def backend(open_state: OpenBackend) -> StateBackend:
    """An initialised state."""
    state = open_state()
    state.init()
    return state


@pytest.fixture
def store(backend: StateBackend) -> Store:
    """The store in an initialised state."""
    return backend.store()
