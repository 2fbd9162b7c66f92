"""A corpus of hostile inputs through the real CLI: `idmctl validate --json`, and the filters through
`idmctl identities search` on an environment with state. Whatever the input, the answer is a located
error (exit 1), `--json` prints JSON, and nothing says "internal error" or prints a secret.

The inputs are those of issue 15 (`test_hostile_input.py` asserts each diagnostic exactly); the billion
laughs is tests/config/hostile/billion-laughs.yaml, the rest is generated here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from controller.cli import run

HOSTILE = Path(__file__).parent / "hostile"
PASSWORD = "hunter2-never-printed"
OUTSIDE_SECRET = "TOPSECRET-content-of-a-file-outside"
LONG_NAME = "a" * 300


def _edit(name: str, old: str, new: str) -> Callable[[Path], None]:
    def apply(env_dir: Path) -> None:
        path = env_dir / name
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, (name, old)
        path.write_text(text.replace(old, new), encoding="utf-8")
    return apply


def _write(name: str, text: str) -> Callable[[Path], None]:
    return lambda env_dir: (env_dir / name).write_text(text, encoding="utf-8")  # type: ignore[func-returns-value]


def _filter(text: str) -> Callable[[Path], None]:
    return _edit("mapping.yaml", "${var.source_filter}", "'" + text.replace("'", "''") + "'")


def _link_outside(env_dir: Path) -> None:
    outside = env_dir.parents[2] / f"{env_dir.parents[1].name}-outside.yaml"
    outside.write_text(f"{OUTSIDE_SECRET}: [\n", encoding="utf-8")  # a syntax error would echo it
    (env_dir / "leak.yaml").symlink_to(outside)


@dataclass(frozen=True)
class Hostile:
    id: str
    change: Callable[[Path], None] | None = None
    env: str = "dev"


DEEP_FILTERS = {
    "deep-parentheses": "(" * 2000 + "mail pr" + ")" * 2000,
    "deep-not-parentheses": "not (" * 2000 + "mail pr" + ")" * 2000,
    "deep-not": "not " * 2000 + "mail pr",
    "deep-bang": "!" * 2000 + "mail pr",
    "huge-number-in-filter": "age gt " + "9" * 5000,
    "infinite-number-in-filter": "age gt 1e999",
    "scim-extension-attribute": 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1"',
}

CORPUS = [
    Hostile("billion-laughs", lambda d: (d / "laughs.yaml").write_bytes(  # type: ignore[func-returns-value]
        (HOSTILE / "billion-laughs.yaml").read_bytes())),
    Hostile("alias-containing-itself", _write("loop.yaml", "a: &loop [1, *loop]\n")),
    Hostile("deep-yaml-flow", _write("deep.yaml", "a: " + "[" * 3000 + "]" * 3000 + "\n")),
    Hostile("deep-yaml-block", _write("deep.yaml", "- " * 3000 + "x\n")),
    Hostile("many-documents", _write("many.yaml", "---\na: 1\n" * 1000)),
    Hostile("large-file", _write("large.yaml", "# " + "x" * (2 * 1024 * 1024) + "\n")),
    *(Hostile(name, _filter(text)) for name, text in DEEP_FILTERS.items()),
    Hostile("long-environment-name", env=LONG_NAME),
    Hostile("environment-name-traversal", env="../../etc"),
    Hostile("symlink-out-of-the-repository", _link_outside),
    Hostile("huge-max-deletes", _edit("mapping.yaml", "maxDeletes: 500", "maxDeletes: 99999999999999999999999999")),
    Hostile("huge-max-deletes-int64", _edit("mapping.yaml", "maxDeletes: 500", "maxDeletes: 9000000000000000000")),
    Hostile("integer-of-5000-digits", _edit("mapping.yaml", "maxDeletes: 500", "maxDeletes: " + "9" * 5000)),
    Hostile("nan-delete-percent", _edit("mapping.yaml", "maxDeletePercent: 5", "maxDeletePercent: .nan")),
    Hostile("secret-in-tenant-id", _edit("connector.yaml", "${var.entra_tenant_id}", "${secret.entra_client_secret}")),
    Hostile("secret-in-source-filter", _filter("${secret.entra_client_secret}")),
    Hostile("credentials-in-graph-url", _edit("connector.yaml", "${var.entra_graph}",
                                              f"https://svc:{PASSWORD}@graph.microsoft.com")),
    Hostile("credentials-in-url-variable", _edit("environment.yaml", "entra_login: https://login.microsoftonline.com",
                                                 f"entra_login: https://svc:{PASSWORD}@login.microsoftonline.com")),
    Hostile("unclosed-bracket", _edit("mapping.yaml", "  safety: {maxDeletes", "  safety: [maxDeletes")),
    Hostile("unclosed-quote", _edit("application.yaml", "displayName: Microsoft Entra ID",
                                    "displayName: 'Microsoft Entra ID")),
    Hostile("bad-explicit-tag", _edit("connector.yaml", "pageSize: 999", 'pageSize: !!int "lots"')),
    Hostile("lone-surrogate", _edit("application.yaml", "displayName: Microsoft Entra ID",
                                    'displayName: "Entra \\ud800"')),
]


@pytest.fixture
def repo(make_env: Callable[..., Path]) -> Path:
    """A copy of environments/dev with state (`idmctl init`), so that identities search has a store."""
    root = make_env("dev").parents[1]
    assert run(["init", "--env", "dev", "--root", str(root)]) == 0
    return root


def _clean(text: str) -> None:
    assert "internal error" not in text
    assert "Traceback" not in text
    assert PASSWORD not in text and OUTSIDE_SECRET not in text


def test_the_corpus_covers_the_issue() -> None:
    assert len({h.id for h in CORPUS}) == len(CORPUS) >= 25


@pytest.mark.parametrize("case", CORPUS, ids=[h.id for h in CORPUS])
def test_validate_json_answers_every_hostile_input(repo: Path, case: Hostile,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    if case.change is not None:
        case.change(repo / "environments" / "dev")
    capsys.readouterr()
    assert run(["validate", "--env", case.env, "--root", str(repo), "--json"]) == 1
    out, err = capsys.readouterr()
    _clean(out + err)
    data = json.loads(out)
    assert data["valid"] is False
    [report] = data["environments"]
    errors = [d for d in report["diagnostics"] if d["severity"] == "error"]
    assert errors, report
    for diag in errors:
        assert diag["message"] and diag["hint"], diag  # what, and what to do
        if case.env == "dev":
            assert diag["file"].startswith("environments/dev/"), diag  # where
            assert diag["line"] is not None
    # People get the same, one line each, on stderr.
    assert run(["validate", "--env", case.env, "--root", str(repo)]) == 1
    out, err = capsys.readouterr()
    _clean(out + err)
    assert any(line.startswith("error: ") for line in err.splitlines())
    assert all(len(line) < 1000 for line in err.splitlines())


@pytest.mark.parametrize("name", list(DEEP_FILTERS), ids=list(DEEP_FILTERS))
def test_identities_search_refuses_hostile_filters_with_their_column(repo: Path, name: str,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    for json_flag in ([], ["--json"]):
        assert run(["identities", "search", "--env", "dev", "--root", str(repo), DEEP_FILTERS[name], *json_flag]) == 1
        out, err = capsys.readouterr()
        _clean(out + err)
        if json_flag:  # --json: the error as JSON on stdout too
            error = json.loads(out)["error"]
            assert error["type"] == "FilterSyntaxError" and error["exitCode"] == 1
        else:
            assert out == ""
        [line] = err.splitlines()
        assert line.startswith("error: ") and " at column " in line and len(line) < 400


@pytest.mark.parametrize("text", ["(" * 100 + 'mail eq "x"' + ")" * 100, "not (" * 100 + "mail pr" + ")" * 100,
                                  'urn:ietf:params:scim:schemas:core:2.0:User:userName eq "app-owner"'],
                         ids=["100-parentheses", "100-not", "scim-urn"])
def test_identities_search_takes_filters_at_the_limit(repo: Path, text: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert run(["identities", "search", "--env", "dev", "--root", str(repo), text, "--json"]) == 0
    out, err = capsys.readouterr()
    _clean(out + err)
    assert json.loads(out) == []


def test_identities_search_refuses_scim_paths_alpha_user_does_not_have(repo: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    text = 'name.familyName co "O\'Malley" or emails.value ew "@example.com"'
    assert run(["identities", "search", "--env", "dev", "--root", str(repo), text]) == 1
    out, err = capsys.readouterr()
    _clean(out + err)
    assert "managed/alpha_user has no property 'emails'" in err and "Did you mean 'mail'?" in err


@pytest.mark.parametrize("env", [LONG_NAME, "../../etc"], ids=["long", "traversal"])
def test_identities_search_refuses_an_invalid_environment_name(repo: Path, env: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert run(["identities", "search", "--env", env, "--root", str(repo), "mail pr"]) == 1
    out, err = capsys.readouterr()
    _clean(out + err)
    assert "is not a valid environment name" in err
