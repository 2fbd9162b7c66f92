"""Fixtures for connector tests: connectors wired to an emulator, and a recorded sleep."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from controller.connectors.msgraph import GraphConnector, GraphSettings


class Sleeps(list[float]):
    """Records the waits the retry policy asks for instead of waiting (the emulator counts faults,
    not time, so the retried request succeeds at once)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def _emulator_settings(emu: Any, **overrides: Any) -> GraphSettings:
    """Settings for ``emu``'s default app registration, as `idmctl emulator` prints them."""
    values: dict[str, Any] = {
        "tenant_id": emu.tenant_id,
        "client_id": emu.client_id,
        "client_secret": emu.client_secret,
        "authority_host": emu.base_url,
        "graph_url": emu.graph_url,
        "ca_bundle": emu.ca_path,
        "name": "entra",
    }
    values.update(overrides)
    return GraphSettings(**values)


@pytest.fixture(scope="session")
def settings_for() -> Callable[..., GraphSettings]:
    """``settings_for(emu, **overrides)``: GraphSettings for an emulator's default app."""
    return _emulator_settings


@pytest.fixture
def connect(sleeps: Sleeps) -> Iterator[Callable[..., GraphConnector]]:
    """``connect(emu, **settings_overrides)``: a connector on ``emu``, closed after the test."""
    made: list[GraphConnector] = []

    def make(emu: Any, **overrides: Any) -> GraphConnector:
        connector = GraphConnector(_emulator_settings(emu, **overrides), sleep=sleeps)
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()
