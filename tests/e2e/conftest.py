"""End-to-end helpers: a demo repository aimed at an emulator, initialised and applied, driven through the CLI.

``idm(emulator, ...)`` gives an ``Idm``: the repository and one method per thing a user does —
``cli`` (any command, as ``controller.cli.run`` sees it), ``reconcile``, ``identities``, ``run_record``,
``edit_mapping`` + ``apply`` — plus ``store_rows`` to compare what the SQLite file holds byte for byte.
Nothing here mocks msal, requests, the store or the engine.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from controller.cli import run as cli_run
from controller.emulator import Emulator
from tests.conftest import REPO

ENV = "demo"
MAPPING = "entra-users"


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


# Modules whose situations run on both state backends say ``pytestmark = BOTH_BACKENDS``.
BOTH_BACKENDS = pytest.mark.parametrize("state_backend", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def state_backend(request: pytest.FixtureRequest) -> str:
    """Where ``idm`` keeps the state: ``sqlite`` unless a module parametrises it (``BOTH_BACKENDS``)."""
    return str(getattr(request, "param", "sqlite"))


class Idm:
    """One configuration repository (environments/demo aimed at ``emu``) and the commands a user runs on it."""

    def __init__(self, root: Path, emu: Emulator, capsys: pytest.CaptureFixture[str], edit: Callable[..., None],
                 pg: tuple[Any, str] | None = None):
        self.root = root
        self.emu = emu
        self._capsys = capsys
        self._edit = edit
        self.pg = pg  # (cluster, schema) when the state is in PostgreSQL
        self.transcript: list[str] = []  # every output, for the secret scan

    @property
    def db(self) -> Path:
        return self.root / ".idmctl" / "demo.db"

    def cli(self, *args: str) -> Result:
        """``idmctl ARGS --root ROOT`` in this process; what it printed and its exit code."""
        self._capsys.readouterr()
        code = cli_run([*args, "--root", str(self.root)])
        out, err = self._capsys.readouterr()
        self.transcript.append(out + err)
        return Result(code, out, err)

    def json(self, *args: str) -> Any:
        result = self.cli(*args, "--json")
        assert result.code == 0, result.text
        return json.loads(result.out)

    def reconcile(self, *args: str, env: str = ENV) -> tuple[int, dict[str, Any]]:
        """``idmctl reconcile --mapping entra-users ARGS --json``: the exit code and the run."""
        result = self.cli("reconcile", "--env", env, "--mapping", MAPPING, "--json", *args)
        return result.code, json.loads(result.out)

    def identities(self, query: str | None = None) -> list[dict[str, Any]]:
        return self.json("identities", "search", "--env", ENV, *([query] if query else []))  # type: ignore[no-any-return]

    def by_user_name(self) -> dict[str, dict[str, Any]]:
        """``{userName: properties}`` of the managed store (ids and revisions aside)."""
        return {o["userName"]: {k: v for k, v in o.items() if not k.startswith("_")} for o in self.identities()}

    def get(self, object_id: str) -> dict[str, Any]:
        return self.json("identities", "get", "--env", ENV, object_id)  # type: ignore[no-any-return]

    def run_record(self, run_id: str, *filters: str) -> dict[str, Any]:
        return self.json("runs", "show", "--env", ENV, run_id, *filters)  # type: ignore[no-any-return]

    def edit_mapping(self, **changes: Any) -> None:
        self._edit(self.root, **changes)

    def apply(self) -> Result:
        result = self.cli("apply", "--env", ENV, "--auto-approve")
        assert result.code == 0, result.text
        return result

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        """``python -m controller ARGS`` as a process of its own (to signal or kill it), rooted here."""
        env = {**os.environ, "IDMCTL_ROOT": str(self.root), "COLUMNS": "200"}
        return subprocess.Popen([sys.executable, "-m", "controller", *args], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def store_rows(self) -> dict[str, list[tuple[Any, ...]]]:
        """The managed objects and links exactly as stored (ids, revisions, timestamps included)."""
        if self.pg is not None:
            cluster, schema = self.pg
            return {
                "alpha_user": cluster.query(f'SELECT id, rev, username_lower, properties::text FROM "{schema}".'
                                            "alpha_user ORDER BY id"),
                "links": cluster.query(f'SELECT mapping, source_id, target_id, created FROM "{schema}".links '
                                       "ORDER BY mapping, source_id"),
            }
        return store_rows(self.db)


def store_rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {
            "alpha_user": conn.execute("SELECT id, rev, username_lower, properties FROM alpha_user "
                                       "ORDER BY id").fetchall(),
            "links": conn.execute("SELECT mapping, source_id, target_id, created FROM links "
                                  "ORDER BY mapping, source_id").fetchall(),
        }
    finally:
        conn.close()


@pytest.fixture
def idm(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        demo_repo: Any, state_backend: str, request: pytest.FixtureRequest) -> Callable[..., Idm]:
    """``idm(emulator, source_filter=..., mapping={...})``: a demo repository for ``emulator``, init'ed and applied."""
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at 80 columns when output is captured
    monkeypatch.delenv("IDMCTL_ROOT", raising=False)
    made = 0

    def make(emu: Emulator, **options: Any) -> Idm:
        nonlocal made
        made += 1
        root = demo_repo(tmp_path / f"repo{made}", emu, **options)
        pg = None
        if state_backend == "postgres":
            cluster = request.getfixturevalue("pg_cluster")
            schema = cluster.new_schema("e2e")
            request.addfinalizer(lambda: cluster.drop_schema(schema))
            cluster.use_in(root, ENV, schema)
            pg = (cluster, schema)
        env = Idm(root, emu, capsys, demo_repo.edit_mapping, pg)
        assert env.cli("init", "--env", ENV).code == 0
        env.apply()
        return env

    return make


class EntraAdmin:
    """What an Entra administrator does in the portal, as Microsoft Graph calls over HTTPS (msal + requests)."""

    def __init__(self, emu: Emulator) -> None:
        import msal
        import requests

        client_id, secret = emu.add_app(["User.ReadWrite.All"])
        self.base = emu.base_url
        self.session = requests.Session()
        self.session.verify = str(emu.ca_path)
        self.session.trust_env = False
        app = msal.ConfidentialClientApplication(client_id, client_credential=secret,
                                                 authority=f"{emu.base_url}/{emu.tenant_id}",
                                                 http_client=self.session, instance_discovery=False,
                                                 validate_authority=False)
        token = app.acquire_token_for_client(scopes=[f"{emu.base_url}/.default"])
        assert "access_token" in token, token.get("error_description")
        self.session.headers["Authorization"] = f"Bearer {token['access_token']}"

    def find(self, mail: str) -> dict[str, Any]:
        resp = self.session.get(f"{self.base}/v1.0/users", timeout=10,
                                params={"$filter": f"mail eq '{mail}'", "$select": "id,userPrincipalName,givenName"})
        resp.raise_for_status()
        [user] = resp.json()["value"]
        return user  # type: ignore[no-any-return]

    def patch(self, user_id: str, changes: dict[str, Any]) -> None:
        resp = self.session.patch(f"{self.base}/v1.0/users/{user_id}", json=changes, timeout=10)
        assert resp.status_code == 204, resp.text

    def delete(self, user_id: str) -> None:
        resp = self.session.delete(f"{self.base}/v1.0/users/{user_id}", timeout=10)
        assert resp.status_code == 204, resp.text

    def close(self) -> None:
        self.session.close()


@pytest.fixture
def entra_admin(emulator: Emulator) -> Any:
    """An Entra administrator of ``emulator``'s tenant (an app granted User.ReadWrite.All)."""
    admin = EntraAdmin(emulator)
    yield admin
    admin.close()


# -- environments/demo-aic aimed at the AIC emulator and the Graph emulator its connector calls -------

AIC_ENV = "demo-aic"


@dataclass
class TenantRepo:
    """environments/demo-aic copied to ``root`` and aimed at the two emulators; ``cli`` runs idmctl in it."""

    root: Path
    aic: Any
    graph: Any
    capsys: pytest.CaptureFixture[str]
    transcript: list[str] = field(default_factory=list)

    def cli(self, *args: str) -> Result:
        self.capsys.readouterr()
        code = cli_run([*args, "--root", str(self.root)])
        out, err = self.capsys.readouterr()
        self.transcript.append(out + err)
        return Result(code, out, err)

    def plan_json(self, env: str = AIC_ENV) -> dict[str, Any]:
        result = self.cli("plan", "--env", env, "--json")
        assert result.code == 0, result.text
        data: dict[str, Any] = json.loads(result.out)
        return data

    def apply(self, *args: str, env: str = AIC_ENV) -> Result:
        result = self.cli("apply", "--env", env, "--auto-approve", *args)
        assert result.code == 0, result.text
        return result

    def tenant_config(self, config_id: str) -> dict[str, Any]:
        found = self.aic.config.objects.get(config_id)
        assert found is not None, f"{config_id} is not on the tenant"
        return dict(found)

    def secrets(self) -> list[str]:
        """Values that must appear nowhere idmctl writes: the client secret, the service account's key."""
        key = json.loads(Path(self.aic.service_account_jwk_path).read_text())
        return [self.graph.client_secret_path.read_text().strip(), key["d"], key["p"], key["q"]]


def aim(root: Path, env: str, aic: Any, graph: Any) -> None:
    """``environments/demo-aic`` copied as ``env`` under ``root``, pointed at these emulators."""
    target = root / "environments" / env
    shutil.copytree(REPO / "environments" / AIC_ENV, target)
    env_file = target / "environment.yaml"
    text = env_file.read_text()
    for old, new in (("https://127.0.0.1:48443", aic.base_url), (".emulator-aic/ca.pem", str(aic.ca_path)),
                     (".emulator-aic/service-account.jwk", str(aic.service_account_jwk_path)),
                     ("https://127.0.0.1:47443", graph.base_url), (".emulator/ca.pem", str(graph.ca_path)),
                     (".emulator/client_secret", str(graph.client_secret_path)),
                     ("3f8a6c2e-1b4d-4e7a-9c5f-8d2e0b6a4c1f", aic.service_account_id),
                     ("5b0e4c2a-8f3d-4e61-9a7c-2d1f6b8e0c47", graph.client_id),
                     ("name: demo-aic", f"name: {env}"), (".idmctl/demo-aic.db", f".idmctl/{env}.db")):
        text = text.replace(old, new)
    env_file.write_text(text)


@pytest.fixture
def tenant(tmp_path: Path, aic_with_graph: Any, emulator: Any, capsys: pytest.CaptureFixture[str],
           monkeypatch: pytest.MonkeyPatch) -> TenantRepo:
    monkeypatch.delenv("IDMCTL_ROOT", raising=False)
    root = tmp_path / "repo"
    aim(root, AIC_ENV, aic_with_graph, emulator)
    return TenantRepo(root, aic_with_graph, emulator, capsys)
