"""A command imports what its verb needs and nothing else (issue 13): the laziness cannot silently regress.

Each command runs in a fresh interpreter (``controller.cli.run`` in a child ``python -c``) that reports
``sys.modules`` afterwards. Nothing here is timed; the check is structural: `runs list` on an embedded
environment must not load the aic platform, plans or the engine, `reconcile --help` not even the
models or the config loader. Each case also names modules that must be there, so a command that failed
early cannot pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from controller.cli import run as cli

_CHILD = """
import json, sys
from controller.cli import run
code = run(sys.argv[2:])
with open(sys.argv[1], "w") as fh:
    json.dump({"code": code, "modules": sorted(sys.modules)}, fh)
"""

# What no command on an embedded environment needs, unless it plans, renders or imports.
NOT_FOR_RUNS = ("controller.platforms.aic", "controller.plan", "controller.plan._model", "controller.commands._config",
                "controller.commands._import", "controller.commands._render", "deepdiff", "jwt", "cryptography.x509")
# ...and what only a run or a connector test needs.
NOT_FOR_QUERIES = (*NOT_FOR_RUNS, "controller.recon", "controller.recon._engine", "controller.connectors",
                   "controller.emulator", "requests", "msal", "rich.progress")


def _modules(root: Path, *argv: str) -> set[str]:
    """The modules loaded by `idmctl ARGV` in a fresh interpreter (it must succeed)."""
    report = root / "modules.json"
    env = {**os.environ, "IDMCTL_ROOT": str(root)}
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(report), *argv], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and report.is_file(), proc.stdout[-2000:] + proc.stderr[-2000:]
    result: dict[str, Any] = json.loads(report.read_text())
    assert result["code"] == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return set(result["modules"])


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """Those of ``names`` that are loaded, a package counting with any of its submodules."""
    return sorted(n for n in names if n in modules or any(m.startswith(n + ".") for m in modules))


@pytest.fixture
def demo(tmp_path: Path, emulator_session: Any, demo_repo: Any, monkeypatch: pytest.MonkeyPatch,
         capsys: pytest.CaptureFixture[str]) -> Path:
    """environments/demo (embedded, sqlite) aimed at the emulator, applied, with one run recorded."""
    root = demo_repo(tmp_path / "repo", emulator_session)
    monkeypatch.chdir(root)
    monkeypatch.delenv("IDMCTL_ROOT", raising=False)
    assert cli(["init", "--env", "demo"]) == 0
    assert cli(["apply", "--env", "demo", "--auto-approve"]) == 0
    capsys.readouterr()
    return root


def test_version_loads_no_command(tmp_path: Path) -> None:
    modules = _modules(tmp_path, "--version")
    assert "controller.cli" in modules
    assert _loaded(modules, ("controller.commands._operate", "controller.config.models", "controller.backends",
                             *NOT_FOR_QUERIES)) == []


def test_reconcile_help_loads_neither_the_models_nor_the_engine(demo: Path) -> None:
    modules = _modules(demo, "reconcile", "--env", "demo", "--help")
    assert {"controller.cli.reconcile", "controller.config._enums"} <= modules
    assert _loaded(modules, ("controller.commands._operate", "controller.config.models", "controller.config._loader",
                             "jsonschema", "controller.backends.sqlite", "controller.platforms._factory",
                             *NOT_FOR_QUERIES)) == []


@pytest.mark.parametrize("argv", [("runs", "list", "--env", "demo"),
                                  ("identities", "search", "--env", "demo", 'mail eq "scarter@example.com"')],
                         ids=["runs-list", "identities-search"])
def test_a_query_on_an_embedded_environment_loads_no_engine_plans_or_aic(demo: Path, argv: tuple[str, ...]) -> None:
    modules = _modules(demo, *argv)
    assert {"controller.config._loader", "controller.backends.sqlite", "controller.platforms.embedded"} <= modules
    assert _loaded(modules, NOT_FOR_QUERIES) == []


def test_a_reconcile_on_an_embedded_environment_loads_no_plans_or_aic(demo: Path) -> None:
    modules = _modules(demo, "reconcile", "--env", "demo", "--mapping", "entra-users", "--quiet")
    assert {"controller.recon._engine", "controller.connectors.msgraph", "controller.backends.sqlite"} <= modules
    assert _loaded(modules, NOT_FOR_RUNS) == []


def test_a_json_reconcile_loads_no_rich(demo: Path) -> None:
    """A run for a script prints JSON: no console, no table, no markup (rich is ~20 ms of its start-up)."""
    modules = _modules(demo, "reconcile", "--env", "demo", "--mapping", "entra-users", "--json")
    assert {"controller.recon._engine", "controller.cli._output", "controller.cli.reconcile"} <= modules
    assert _loaded(modules, ("rich", *NOT_FOR_RUNS)) == []


@pytest.mark.parametrize("argv", [("--help",), ("-h",), ()], ids=["help", "h", "no-args"])
def test_the_command_listing_loads_no_command_module(tmp_path: Path, argv: tuple[str, ...]) -> None:
    modules = _modules(tmp_path, *argv)
    assert {"controller.cli", "controller.cli._catalog", "typer"} <= modules
    assert sorted(m for m in modules if m.startswith("controller.cli.") and m not in
                  ("controller.cli._catalog", "controller.cli._common", "controller.cli._output")) == []
    assert _loaded(modules, ("controller.commands", "controller.config", "pydantic", "jsonschema",
                             *NOT_FOR_QUERIES)) == []


def _help_text(app: typer.Typer) -> str:
    result = CliRunner().invoke(app, ["--help"], prog_name="idmctl", env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    return result.output


def test_the_listing_says_what_the_full_app_says() -> None:
    """The catalog is the only copy of each summary: the app with every module lists exactly the same lines,
    in the same order, and every command module registers the commands the catalog gives it."""
    from controller.cli import _build, _catalog, _listing

    full = _build()
    assert _help_text(_listing()) == _help_text(full)
    assert list(typer.main.get_command(full).commands) == [e.name for e in _catalog.COMMANDS]  # type: ignore[attr-defined]


def test_an_unknown_command_is_named_with_the_usage_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["reconsile", "--env", "dev"]) == 1
    err = capsys.readouterr().err
    assert "No such command 'reconsile'" in err and "Usage: idmctl" in err
