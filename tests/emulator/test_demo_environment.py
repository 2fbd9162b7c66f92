"""environments/demo points at what `idmctl emulator` serves by default, so `make demo` needs no edits."""

from __future__ import annotations

from pathlib import Path

from controller.config import load_environment
from controller.emulator import DEFAULT_CLIENT_ID, DEFAULT_TENANT_ID

REPO = Path(__file__).resolve().parents[2]


def test_demo_environment_matches_the_emulator_defaults() -> None:
    demo = load_environment(REPO, "demo").resources
    connector = demo.connectors["entra"].spec
    assert connector.tenantId == DEFAULT_TENANT_ID
    assert connector.clientId == DEFAULT_CLIENT_ID
    assert connector.authorityHost == connector.graphUrl == "https://127.0.0.1:47443"
    assert connector.caBundle == ".emulator/ca.pem"
    source = demo.environment.spec.secrets["entra_client_secret"]
    assert source.fromFile == ".emulator/client_secret"


def test_the_emulator_command_listens_where_the_demo_looks() -> None:
    import typer.main

    from controller.cli import app

    command = typer.main.get_command(app).commands["emulator"]  # type: ignore[attr-defined]
    defaults = {p.name: p.default for p in command.params}
    assert defaults["port"] == 47443
    assert str(defaults["state_dir"]) == ".emulator"
