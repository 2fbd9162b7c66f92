"""The implementations the contract suites run against, one parameter each.

A backend joins every contract test by adding its name to ``BACKENDS`` and a branch to
``_environment``: the tests themselves only know the ``StateBackend`` and ``Store`` protocols.
``postgres`` runs against the session's throwaway server, one schema per test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from controller.backends import StateBackend, Store, open_backend
from controller.config.models import EnvironmentResource

BACKENDS = ["sqlite", "postgres"]

OpenBackend = Callable[[], StateBackend]


def _environment(request: pytest.FixtureRequest, kind: str, name: str = "dev") -> EnvironmentResource:
    spec: dict[str, object]
    if kind == "sqlite":
        spec = {"state": {"backend": "sqlite", "path": f".idmctl/{name}.db"}}
    elif kind == "postgres":
        cluster = request.getfixturevalue("pg_cluster")
        spec = {"state": cluster.state(request.getfixturevalue("pg_schema")), "secrets": cluster.secrets()}
    else:
        spec = {"state": {"backend": kind}}
    return EnvironmentResource.model_validate(
        {"apiVersion": "idmctl/v1", "kind": "Environment", "metadata": {"name": name}, "spec": spec})


@pytest.fixture(params=BACKENDS)
def open_state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenBackend]:
    """Opens a new handle on one environment's state (each call: another process's view of it)."""
    kind: str = request.param
    environment = _environment(request, kind)
    opened: list[StateBackend] = []

    def _open() -> StateBackend:
        backend = open_backend(tmp_path, environment, must_exist=False)
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
