"""Fixtures shared across test packages (each one small; keep additions additive)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# A distinctive client secret: tests that check secrets never leak grep every output for it.
STATE_SECRET = "Sup3r-S3cret-V4lue-7f1c9e"


@pytest.fixture
def state_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh configuration repository: copies of environments/dev and prod, no state, secret set."""
    root = tmp_path / "repo"
    for env in ("dev", "prod"):
        shutil.copytree(REPO / "environments" / env, root / "environments" / env)
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
