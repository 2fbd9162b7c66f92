"""What `validate` says about a mapping's filters: parse errors with their column, the Graph push-down,
and comparisons that can never match because the types differ (as in IDM)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from controller.config import validate_environment
from controller.diagnostics import Diagnostic

MAPPING = "environments/dev/mapping.yaml"


def _with_filter(make_env: Callable[..., Path], text: str) -> list[Diagnostic]:
    env_dir = make_env("dev")
    path = env_dir / "mapping.yaml"
    quoted = "'" + text.replace("'", "''") + "'"
    path.write_text(path.read_text(encoding="utf-8").replace("${var.source_filter}", quoted), encoding="utf-8")
    return [d for d in validate_environment(env_dir.parents[1], "dev").diagnostics
            if d.pointer == "/spec/sourceFilter"]


@pytest.mark.parametrize("opener", ["(", "not (", "not "])
def test_a_deeply_nested_filter_is_a_located_error(make_env: Callable[..., Path], opener: str) -> None:
    closer = ")" if opener.endswith("(") else ""
    [diag] = _with_filter(make_env, opener * 2000 + "mail pr" + closer * 2000)
    assert diag.severity == "error"
    assert (diag.pos.file, diag.pos.line) == (MAPPING, 17)
    assert diag.message == ("filter does not parse: the filter nests more than 100 levels of parentheses and "
                            f"'not' at column {len(opener) * 100 + 1}")
    assert diag.hint is not None and diag.hint.startswith("Flatten it")


def test_a_boolean_compared_with_a_string_is_a_warning_in_the_push_down_report(
        make_env: Callable[..., Path]) -> None:
    warning, info = _with_filter(make_env, 'mail pr and accountEnabled eq "true"')
    assert (warning.severity, warning.pos.line) == ("warning", 17)
    assert warning.message == ("'accountEnabled eq \"true\"' compares Graph's boolean property accountEnabled with "
                               "a string; values of different types never match (as in IDM)")
    assert warning.hint == "Write accountEnabled eq true"
    assert info.severity == "info"
    assert info.message == 'pushed down to Graph: none; evaluated locally: mail pr and accountEnabled eq "true"'


def test_nested_paths_are_evaluated_locally_not_pushed_down(make_env: Callable[..., Path]) -> None:
    [info] = _with_filter(make_env, 'onPremisesExtensionAttributes.extensionAttribute1 eq "Sales" and '
                                    'mail eq "scarter@example.com"')
    assert info.message == ("pushed down to Graph: mail eq 'scarter@example.com'; evaluated locally: "
                            'onPremisesExtensionAttributes/extensionAttribute1 eq "Sales"')


@pytest.mark.parametrize(("text", "message", "hint"), [
    ('jobtitle eq "Engineer"', "the filter reads 'jobtitle': 'jobtitle' is not a Microsoft Graph user property",
     "Did you mean 'jobTitle'?"),
    ('accountEnabld eq true', "the filter reads 'accountEnabld': 'accountEnabld' is not a Microsoft Graph user "
     "property", "Did you mean 'accountEnabled'?"),
    ('name.familyName eq "Carter"', "the filter reads 'name/familyName': 'name' is not a Microsoft Graph user "
     "property", "Did you mean 'surname'?"),
    ('xyzzy eq "1"', "the filter reads 'xyzzy': 'xyzzy' is not a Microsoft Graph user property",
     "Use a Microsoft Graph v1.0 user property"),
])
def test_a_property_graph_users_do_not_have_is_an_error_with_did_you_mean(
        make_env: Callable[..., Path], text: str, message: str, hint: str) -> None:
    [diag] = _with_filter(make_env, text)
    assert (diag.severity, diag.pos.line, diag.message) == ("error", 17, message)
    assert diag.hint is not None and diag.hint.startswith(hint)


def test_a_directory_extension_attribute_passes(make_env: Callable[..., Path]) -> None:
    [info] = _with_filter(make_env, 'extension_0a1b2c3d11114222833344445555666a_costCenter eq "42"')
    assert info.severity == "info"


def test_a_scim_extension_attribute_is_refused(make_env: Callable[..., Path]) -> None:
    [diag] = _with_filter(make_env, 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber pr')
    assert diag.severity == "error"
    assert diag.message.startswith("filter does not parse: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:"
                                   "User:employeeNumber' is an attribute of the schema")
