"""An in-memory Graph source and a real SQLite identity store for engine tests (no network)."""

from __future__ import annotations

import copy
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controller.backends.sqlite import IDENTITY_DDL, SqliteScheduleState, SqliteStore
from controller.backends.sqlite._database import split_statements
from controller.config.models import MappingSpec
from controller.errors import DeltaExpired, GraphError
from controller.filters import compile_filter, parse_filter
from controller.recon import compile_mapping, reconcile

TENANT = "contoso.onmicrosoft.com"


def user(uid: str, given: str, sn: str, *, mail: str | None = "", upn: str | None = None,
         enabled: bool = True, **extra: Any) -> dict[str, Any]:
    """A Graph user as /users returns it (mail defaults to <given>.<sn>@example.com)."""
    login = upn or f"{given[0].lower()}{sn.lower()}@{TENANT}"
    if mail == "":
        mail = f"{given.lower()}.{sn.lower()}@example.com"
    return {"id": uid, "givenName": given, "surname": sn, "mail": mail, "userPrincipalName": login,
            "accountEnabled": enabled, "displayName": f"{given} {sn}", **extra}


SAM = user("5f1b2c3d-0000-4000-8000-000000000001", "Sam", "Carter", mail="scarter@example.com",
           upn=f"scarter@{TENANT}")
PEOPLE = [
    SAM,
    user("5f1b2c3d-0000-4000-8000-000000000002", "Adele", "Vance"),
    user("5f1b2c3d-0000-4000-8000-000000000003", "Alex", "Wilber"),
    user("5f1b2c3d-0000-4000-8000-000000000004", "Diego", "Siciliani"),
    user("5f1b2c3d-0000-4000-8000-000000000005", "Grady", "Archie"),
    user("5f1b2c3d-0000-4000-8000-000000000006", "Isaiah", "Langer"),
    user("5f1b2c3d-0000-4000-8000-000000000007", "Johanna", "Lorenz"),
]
# A conference room: no surname and no given name, as in the sample tenant.
ROOM = {"id": "5f1b2c3d-0000-4000-8000-00000000r001", "givenName": None, "surname": None,
        "mail": "Rainier@contoso.com", "userPrincipalName": f"Rainier@{TENANT}", "accountEnabled": False,
        "displayName": "Conference Room Rainier"}

DEMO_SPEC: dict[str, Any] = {
    "source": {"connector": "entra", "objectType": "User"},
    "target": "managed/alpha_user",
    "properties": [
        {"source": "givenName", "target": "givenName"},
        {"source": "mail", "target": "mail"},
        {"source": "surname", "target": "sn"},
        {"source": "userPrincipalName", "target": "userName"},
    ],
    "correlation": {"any": ["userName"]},
    "sourceFilter": None,
    "validSource": None,
    "targetScope": "linked",
    "policies": {"base": "default", "rules": {"LINK_ONLY": "UNLINK"}},
    "safety": {"maxDeletes": 500, "maxDeletePercent": 5, "allowEmptySource": False},
}


@dataclass
class Page:
    users: list[dict[str, Any]]
    removed: list[tuple[str, str]]
    delta_link: str | None = None


class FakeGraph:
    """Users in memory with Graph's read surface: paged listing, get by id, delta with @removed.

    ``scope`` stands in for Graph's $filter: when a pushdown is given, listing returns only users it
    accepts. ``fail_after`` makes a listing raise after that many pages (a read that does not complete).
    """

    def __init__(self, users: list[dict[str, Any]] = (), *, page_size: int = 3) -> None:  # type: ignore[assignment]
        self.users: dict[str, dict[str, Any]] = {u["id"]: copy.deepcopy(u) for u in users}
        self.log: list[tuple[str, str, str | None]] = []  # (kind, id, reason)
        self.page_size = page_size
        self.scope: Callable[[Mapping[str, Any]], bool] | None = None
        self.expired: set[str] = set()
        self.fail_after: int | None = None
        self.gets: list[str] = []  # every id read by id, in order
        self.batches: list[list[str]] = []  # the ids of each get_users call
        self.pushdowns: list[str | None] = []

    # -- changes (what Entra ID would record) --
    def add(self, u: dict[str, Any]) -> None:
        self.users[u["id"]] = copy.deepcopy(u)
        self.log.append(("changed", u["id"], None))

    def update(self, uid: str, **changes: Any) -> None:
        self.users[uid].update(changes)
        self.log.append(("changed", uid, None))

    def delete(self, uid: str, reason: str = "changed") -> None:
        del self.users[uid]
        self.log.append(("removed", uid, reason))

    # -- the connector's read surface --
    def _project(self, u: Mapping[str, Any], select: list[str]) -> dict[str, Any]:
        return {"id": u["id"], **{a: u.get(a) for a in select}}

    def iter_users(self, select: list[str], pushdown: str | None = None) -> Iterator[list[dict[str, Any]]]:
        self.pushdowns.append(pushdown)
        users = [u for u in self.users.values() if pushdown is None or self.scope is None or self.scope(u)]
        for n, start in enumerate(range(0, len(users), self.page_size)):
            if self.fail_after is not None and n >= self.fail_after:
                raise GraphError("Graph answered 503 Service Unavailable after retries", status=503)
            yield [self._project(u, select) for u in users[start:start + self.page_size]]

    def get_users(self, uids: Iterable[str], select: list[str]) -> dict[str, dict[str, Any]]:
        """The connector's batched read by id: the users that exist (a 404 is left out)."""
        asked = list(uids)
        self.gets.extend(asked)
        self.batches.append(asked)
        return {uid: self._project(self.users[uid], select) for uid in asked if uid in self.users}

    def latest_delta_link(self, select: list[str], pushdown: str | None = None) -> str:
        self.select = select
        return f"delta:{len(self.log)}"

    def read_delta(self, link: str) -> Iterator[Page]:
        if link in self.expired:
            raise DeltaExpired("the delta token has expired", status=410, code="syncStateNotFound")
        start = int(link.split(":")[1])
        latest: dict[str, tuple[str, str | None]] = {}
        for kind, uid, reason in self.log[start:]:
            latest.pop(uid, None)
            latest[uid] = (kind, reason)
        items = list(latest.items())
        pages = [items[i:i + 2] for i in range(0, len(items), 2)] or [[]]
        for n, chunk in enumerate(pages):
            users = [self._project(self.users[uid], self.select) for uid, (kind, _) in chunk if kind == "changed"]
            removed = [(uid, reason or "deleted") for uid, (kind, reason) in chunk if kind == "removed"]
            yield Page(users, removed, f"delta:{len(self.log)}" if n == len(pages) - 1 else None)


def open_store(path: Path) -> SqliteStore:
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in split_statements(IDENTITY_DDL):
        conn.execute(statement)
    return SqliteStore(conn, SqliteScheduleState(conn))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = open_store(tmp_path / "state.db")
    yield s
    s.conn.close()


@pytest.fixture
def graph() -> FakeGraph:
    return FakeGraph(PEOPLE)


def spec(**changes: Any) -> dict[str, Any]:
    """The demo mapping spec with top-level fields replaced."""
    out = copy.deepcopy(DEMO_SPEC)
    out.update(changes)
    return out


class Runner:
    """Runs reconciliations of one mapping spec against a fake graph and a store."""

    def __init__(self, store: SqliteStore, graph: FakeGraph) -> None:
        self.store = store
        self.graph = graph
        self.spec = copy.deepcopy(DEMO_SPEC)

    def __call__(self, mode: str = "full", **kw: Any):
        mapping = compile_mapping(kw.pop("name", "entra-users"), MappingSpec.model_validate(self.spec))
        if mapping.source_filter and self.graph.scope is None:
            self.graph.scope = compile_filter(parse_filter(mapping.source_filter))
        return reconcile(self.store, self.graph, mapping, mode=mode, batch_size=kw.pop("batch_size", 2), **kw)


@pytest.fixture
def recon(store: SqliteStore, graph: FakeGraph) -> Runner:
    return Runner(store, graph)


def snapshot(store: SqliteStore) -> dict[str, Any]:
    """Objects (by userName) and links, without generated ids, for convergence comparisons."""
    objs = {o.id: o for o in store.iter_objects()}
    links = store.conn.execute("SELECT mapping, source_id, target_id FROM links ORDER BY 1, 2").fetchall()
    return {
        "objects": sorted((o.properties["userName"].lower(), o.rev, tuple(sorted(o.properties.items())))
                          for o in objs.values()),
        "links": sorted((m, s, objs[t].properties["userName"].lower() if t in objs else None) for m, s, t in links),
    }
