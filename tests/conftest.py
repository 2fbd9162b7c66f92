"""Fixtures shared across test packages (each one small; keep additions additive)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.postgres_cluster import PASSWORD_ENV, Cluster, from_environment, server_bin

REPO = Path(__file__).resolve().parent.parent

EMBEDDED = REPO / "tests" / "fixtures" / "embedded"


def copy_environment(name: str, root: Path) -> Path:
    """Copy environments/<name> of this repository to root/environments/<name>; its folder.

    The shipped dev and prod are AIC tenants; tests of the embedded engine keep using their resources
    with the embedded Environment they had (tests/fixtures/embedded/<name>/environment.yaml).
    """
    target = root / "environments" / name
    shutil.copytree(REPO / "environments" / name, target)
    if (EMBEDDED / name / "environment.yaml").is_file():
        shutil.copy(EMBEDDED / name / "environment.yaml", target / "environment.yaml")
    return target


def copy_environments(root: Path) -> None:
    """Every shipped environment (``copy_environment`` each: dev and prod embedded)."""
    for folder in sorted((REPO / "environments").iterdir()):
        if folder.is_dir():
            copy_environment(folder.name, root)


# A distinctive client secret: tests that check secrets never leak grep every output for it.
STATE_SECRET = "Sup3r-S3cret-V4lue-7f1c9e"


@pytest.fixture
def state_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh configuration repository: copies of environments/dev and prod, no state, secret set."""
    root = tmp_path / "repo"
    for env in ("dev", "prod"):
        copy_environment(env, root)
    monkeypatch.setenv("ENTRA_CLIENT_SECRET", STATE_SECRET)
    monkeypatch.delenv("IDMCTL_ROOT", raising=False)
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def state_secret() -> str:
    """The secret value ``state_repo`` exports as ENTRA_CLIENT_SECRET."""
    return STATE_SECRET


# -- the local Entra + Graph emulator (owner: emulator) -------------------------------------------


@pytest.fixture
def emulator(tmp_path_factory: pytest.TempPathFactory):
    """A running emulator of its own (sample tenant + Sam Carter), for tests that change users."""
    from controller.emulator import Emulator

    with Emulator(tmp_path_factory.mktemp("emulator")) as emu:
        yield emu


@pytest.fixture(scope="session")
def emulator_session(tmp_path_factory: pytest.TempPathFactory):
    """One emulator per test process (xdist worker) for read-only tests; do not change its users."""
    from controller.emulator import Emulator

    with Emulator(tmp_path_factory.mktemp("emulator-session")) as emu:
        yield emu


# -- a configuration repository made from environments/demo, aimed at an emulator ------------------

_KEEP: object = object()


class DemoRepo:
    """Writes configuration repositories copied from ``environments/demo`` and pointed at an emulator.

    ``source_filter`` replaces the demo's filter variable (``None``: no filter, prod's setting);
    ``mapping`` holds Mapping spec fields to replace (``policies``, ``safety``, ``correlation``,
    ``properties`` ...). Nothing is initialised or applied here: that is the caller's story.
    """

    def __call__(self, root: Path, emu: Any, *, client_id: str | None = None, secret_file: Path | None = None,
                 source_filter: object = _KEEP, mapping: dict[str, object] | None = None) -> Path:
        shutil.copytree(REPO / "environments" / "demo", root / "environments" / "demo")
        env_file = root / "environments" / "demo" / "environment.yaml"
        text = env_file.read_text()
        text = text.replace("https://127.0.0.1:47443", emu.base_url)
        text = text.replace(".emulator/ca.pem", str(emu.ca_path))
        text = text.replace(".emulator/client_secret", str(secret_file or emu.client_secret_path))
        text = re.sub(r"(entra_client_id: )\S+", lambda m: m.group(1) + (client_id or emu.client_id), text)
        if source_filter is not _KEEP:
            value = "null" if source_filter is None else "'" + str(source_filter).replace("'", "''") + "'"
            text, n = re.subn(r"(source_filter: ).*", lambda m: m.group(1) + value, text)
            assert n == 1, "environments/demo/environment.yaml has no source_filter variable any more"
        env_file.write_text(text)
        if mapping:
            self.edit_mapping(root, **mapping)
        return root

    @staticmethod
    def edit_mapping(root: Path, **changes: object) -> None:
        """Replace fields of the demo Mapping's spec in place, keeping the file's comments."""
        from ruamel.yaml import YAML

        path = root / "environments" / "demo" / "mapping.yaml"
        yaml = YAML()
        doc = yaml.load(path.read_text())
        doc["spec"].update(changes)
        with path.open("w") as fh:
            yaml.dump(doc, fh)


@pytest.fixture
def demo_repo() -> DemoRepo:
    """``demo_repo(root, emulator, ...)``: environments/demo copied to ``root`` and aimed at ``emulator``."""
    return DemoRepo()


# -- a throwaway PostgreSQL server (owner: backends/postgres) --------------------------------------

NO_POSTGRES = ("PostgreSQL tests skipped: no PostgreSQL server binaries (initdb) on this machine; install "
               "Debian's postgresql package or set IDMCTL_TEST_PG_DSN")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """One PostgreSQL server per test process (xdist worker): a throwaway cluster, or IDMCTL_TEST_PG_DSN's.

    Without server binaries the postgres tests skip with one line saying why; with CI=true they fail,
    because a skip there would hide a missing install.
    """
    given = from_environment()
    if given is not None:
        if given.password:
            os.environ[PASSWORD_ENV] = given.password
        yield given
        return
    bindir = server_bin()
    if bindir is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI=true but " + NO_POSTGRES.split(": ", 1)[1] + " (.ci/run installs it)")
        pytest.skip(NO_POSTGRES)
    cluster = Cluster.start(bindir)
    assert cluster.password is not None
    os.environ[PASSWORD_ENV] = cluster.password  # what the environments' secret pg_password reads
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_schema(pg_cluster: Cluster) -> Iterator[str]:
    """A schema name of its own for one test (created by `idmctl init`), dropped afterwards."""
    schema = pg_cluster.new_schema()
    yield schema
    pg_cluster.drop_schema(schema)


# -- the local AIC tenant emulator (owner: emulator/aic) ------------------------------------------


@pytest.fixture(scope="session")
def _aic_key_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Key material (CA, server certificate, service-account key) made once per process and copied into each
    AIC emulator's state directory: generating RSA keys per test would cost more than the test."""
    from controller.emulator.aic import AicEmulator

    template = tmp_path_factory.mktemp("aic-keys")
    with AicEmulator(template):
        pass
    (template / "tenant.json").unlink()
    return template


def aic_state_dir(tmp_path_factory: pytest.TempPathFactory, template: Path) -> Path:
    """A fresh AIC emulator state directory holding ``template``'s key material (files keep mode 0600)."""
    state = tmp_path_factory.mktemp("aic-emulator")
    for item in template.iterdir():
        shutil.copy2(item, state / item.name)
    return state


@pytest.fixture
def aic_emulator(tmp_path_factory: pytest.TempPathFactory, _aic_key_template: Path):
    """A running AIC emulator of its own (fresh tenant, restarts that end at once); its MS Graph connector
    points at Microsoft, so use ``aic_with_graph`` for tests that test or query a connector."""
    from controller.emulator.aic import AicEmulator

    with AicEmulator(aic_state_dir(tmp_path_factory, _aic_key_template), restart_seconds=0) as emu:
        yield emu


@pytest.fixture
def aic_with_graph(tmp_path_factory: pytest.TempPathFactory, _aic_key_template: Path, emulator: Any):
    """A running AIC emulator whose MS Graph connector calls the ``emulator`` fixture's Entra + Graph."""
    from controller.emulator.aic import AicEmulator

    with AicEmulator(aic_state_dir(tmp_path_factory, _aic_key_template), restart_seconds=0,
                     entra_login=emulator.base_url, entra_graph=emulator.graph_url,
                     entra_ca=emulator.ca_path) as emu:
        yield emu
