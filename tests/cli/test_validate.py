"""`idmctl validate` through the real CLI entry point: exit codes, people's output, `--json`, usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller import __version__
from controller.cli import run
from tests.conftest import copy_environment

REPO = Path(__file__).resolve().parents[2]
SHIPPED = ["dev", "prod", "demo"]


def _copy(root: Path, *envs: str) -> Path:
    for env in envs:
        copy_environment(env, root)
    return root


@pytest.mark.parametrize("env", SHIPPED)
def test_shipped_environment_is_valid(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validate", "--env", env, "--root", str(REPO)]) == 0
    out, err = capsys.readouterr()
    assert f"✓ {env}: valid — 5 resources in 5 files" in out
    assert "error" not in err


@pytest.mark.parametrize("env", SHIPPED)
def test_json_output_shape(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validate", "--env", env, "--root", str(REPO), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)  # stdout holds the JSON and nothing else
    assert set(data) == {"valid", "environments"}
    assert data["valid"] is True
    [report] = data["environments"]
    assert set(report) == {"name", "valid", "files", "diagnostics"}
    assert report["name"] == env and report["valid"] is True
    assert report["files"] == [f"environments/{env}/{name}.yaml"
                               for name in ("application", "connector", "environment", "mapping", "schedule")]
    for diag in report["diagnostics"]:
        assert set(diag) == {"severity", "message", "hint", "file", "line", "column", "pointer", "related"}
        assert diag["severity"] in ("warning", "info")
        assert diag["file"].startswith(f"environments/{env}/")


def test_json_reports_what_the_source_filter_pushes_down(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validate", "--env", "dev", "--root", str(REPO), "--json"]) == 0
    [report] = json.loads(capsys.readouterr().out)["environments"]
    [info] = [d for d in report["diagnostics"] if d["pointer"] == "/spec/sourceFilter"]
    assert info["severity"] == "info"
    assert info["file"] == "environments/dev/mapping.yaml" and info["line"] == 17
    assert "pushed down to Graph" in info["message"]


def test_all_environments_mode(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validate", "--root", str(REPO), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    names = [r["name"] for r in data["environments"]]
    assert set(SHIPPED) <= set(names)
    assert names == sorted(names)
    assert data["valid"] is True


def test_all_environments_mode_fails_when_one_is_broken(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy(tmp_path, "dev", "prod")
    schedule = root / "environments" / "prod" / "schedule.yaml"
    schedule.write_text(schedule.read_text().replace('"0 0/15 * * * ?"', '"*/15 * * * *"'))
    assert run(["validate", "--root", str(root)]) == 1
    out, err = capsys.readouterr()
    assert "✓ dev: valid" in out
    assert "✗ prod: 1 error(s), 0 warning(s)" in out
    assert "error: environments/prod/schedule.yaml:12:9: /spec/cron: this is a 5-field Unix cron" in err

    assert run(["validate", "--root", str(root), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is False
    assert [(r["name"], r["valid"]) for r in data["environments"]] == [("dev", True), ("prod", False)]


def test_warnings_print_unless_quiet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy(tmp_path, "demo")  # no .emulator/ca.pem in tmp_path: the caBundle warning
    assert run(["validate", "--root", str(root), "--env", "demo"]) == 0
    out, err = capsys.readouterr()
    assert "environments/demo/connector.yaml:15:13: /spec/caBundle: warning: caBundle '.emulator/ca.pem'" in err
    assert "1 warning(s)" in out
    assert run(["validate", "--root", str(root), "--env", "demo", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "warning" not in err
    assert out == "" and err == ""  # -q: errors only, and there are none


def test_root_is_found_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _copy(tmp_path, "dev")
    (root / "environments" / "dev" / "nested").mkdir()
    monkeypatch.delenv("IDMCTL_ROOT", raising=False)
    monkeypatch.chdir(root / "environments" / "dev" / "nested")
    assert run(["validate", "--env", "dev"]) == 0
    assert "✓ dev: valid" in capsys.readouterr().out


def test_root_from_idmctl_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _copy(tmp_path / "repo", "prod")
    monkeypatch.setenv("IDMCTL_ROOT", str(root))
    monkeypatch.chdir(tmp_path)
    assert run(["validate", "--env", "prod"]) == 0
    assert "✓ prod: valid" in capsys.readouterr().out


# --- usage errors: exit 1 (2 is reserved for plan's "changes"), one line, no traceback -------------


def test_unknown_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validate", "--bogus"]) == 1
    out, err = capsys.readouterr()
    assert "No such option: --bogus" in err
    assert "Traceback" not in out + err


def test_unknown_environment(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validate", "--env", "staging", "--root", str(REPO)]) == 1
    out, err = capsys.readouterr()
    assert "error: no environment 'staging'" in err
    assert "Environments here: demo, demo-aic, dev, prod" in err
    assert "Traceback" not in out + err


def test_root_without_environments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validate", "--root", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert f"error: --root {tmp_path} has no environments/ folder" in err
    assert "Traceback" not in out + err


def test_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validat"]) == 1
    assert "Traceback" not in "".join(capsys.readouterr())


# --- the program itself ---------------------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"idmctl {__version__}"


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage: idmctl" in out
    assert "validate" in out


def test_validate_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validate", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--env", "--root", "--json"):
        assert option in out


def test_no_arguments_shows_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([]) == 0
    assert "Usage: idmctl" in "".join(capsys.readouterr())


def test_an_unavailable_secret_is_not_checked_not_an_error(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    # A pull request from a fork validates without production secrets.
    monkeypatch.delenv("ENTRA_CLIENT_SECRET", raising=False)
    monkeypatch.delenv("AIC_SA_KEY", raising=False)
    assert run(["validate", "--env", "prod", "--root", str(REPO)]) == 0
    err = capsys.readouterr().err
    assert "secret 'entra_client_secret' is not available here (environment variable ENTRA_CLIENT_SECRET): " \
           "not checked" in err
    assert "secret 'aic_sa_key' is not available here (environment variable AIC_SA_KEY): not checked" in err

    monkeypatch.setenv("ENTRA_CLIENT_SECRET", "a-secret-value-that-must-not-be-printed")
    monkeypatch.setenv("AIC_SA_KEY", '{"kty":"RSA","d":"a-private-key-that-must-not-be-printed"}')
    assert run(["validate", "--env", "prod", "--root", str(REPO), "--json"]) == 0
    out = capsys.readouterr().out
    assert "not checked" not in out and "a-secret-value-that-must-not-be-printed" not in out
    assert "a-private-key-that-must-not-be-printed" not in out
