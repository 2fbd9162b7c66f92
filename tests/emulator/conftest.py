"""Helpers for emulator tests: a requests session pinned to the emulator's CA and msal-issued tokens."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msal
import pytest
import requests

from controller.emulator import Emulator


def pinned_session(emu: Emulator) -> requests.Session:
    """A session trusting only the emulator's CA; ``trust_env`` off so REQUESTS_CA_BUNDLE cannot win."""
    session = requests.Session()
    session.verify = str(emu.ca_path)
    session.trust_env = False
    return session


def acquire(emu: Emulator, session: requests.Session, client_id: str | None = None,
            secret: str | None = None, scope: str | None = None) -> dict[str, Any]:
    """msal's client-credentials flow against the emulator, exactly as the connector runs it."""
    app = msal.ConfidentialClientApplication(
        client_id or emu.client_id,
        client_credential=secret or emu.client_secret,
        authority=emu.authority,
        instance_discovery=False,
        azure_region=False,
        http_client=session,
    )
    return app.acquire_token_for_client([scope or f"{emu.graph_url}/.default"])


class Graph:
    """A bare Graph caller: bearer token, absolute or relative URLs, nothing clever."""

    def __init__(self, emu: Emulator, session: requests.Session, token: str) -> None:
        self.emu, self.session, self.token = emu, session, token

    def url(self, path: str) -> str:
        return path if path.startswith("https://") else f"{self.emu.graph_url}/v1.0/{path.lstrip('/')}"

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        return self.session.request(method, self.url(path), headers=headers, timeout=60, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def pages(self, path: str, **kw: Any) -> Iterator[dict[str, Any]]:
        """Follow ``@odata.nextLink`` to the end, yielding each page body."""
        url: str | None = path
        while url:
            resp = self.get(url, **kw)
            assert resp.status_code == 200, resp.text
            body = resp.json()
            yield body
            url = body.get("@odata.nextLink")


def graph_for(emu: Emulator, session: requests.Session, roles: list[str] | None = None) -> Graph:
    if roles is None:
        result = acquire(emu, session)
    else:
        client_id, secret = emu.add_app(roles)
        result = acquire(emu, session, client_id, secret)
    return Graph(emu, session, result["access_token"])


@pytest.fixture
def session(emulator: Emulator) -> Iterator[requests.Session]:
    with pinned_session(emulator) as s:
        yield s


@pytest.fixture
def graph(emulator: Emulator, session: requests.Session) -> Graph:
    """Graph with the default app (User.Read.All)."""
    return graph_for(emulator, session)


@pytest.fixture
def admin_graph(emulator: Emulator, session: requests.Session) -> Graph:
    """Graph with an app granted User.ReadWrite.All (what an Entra admin's tooling would hold)."""
    return graph_for(emulator, session, ["User.ReadWrite.All"])


@pytest.fixture(scope="session")
def shared_session(emulator_session: Emulator) -> Iterator[requests.Session]:
    with pinned_session(emulator_session) as s:
        yield s


@pytest.fixture(scope="session")
def shared_graph(emulator_session: Emulator, shared_session: requests.Session) -> Graph:
    """Read-only Graph on the per-process emulator."""
    return graph_for(emulator_session, shared_session)
