"""Input that must not hurt (issue 15): each hostile file is a located diagnostic, found fast, never a crash.

Resource-exhaustion files (billion laughs, deep nesting, many documents, huge numbers), syntax errors
that point where the problem starts, symbolic links out of the repository, environment names that are
no folder name, secrets in fields that are not secret, numbers beyond what the models allow, and
credentials in URLs. `test_hostile_corpus.py` drives the same inputs through the CLI.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.config import _yaml as yaml_module
from controller.config import load_environment, resource_files, validate_environment
from controller.config._yaml import MAX_ALIASES, MAX_DEPTH, MAX_DOCUMENTS, MAX_FILE_BYTES, MAX_NODES, load_file
from controller.diagnostics import Diagnostic
from controller.errors import ConfigError, UsageError

HOSTILE = Path(__file__).parent / "hostile"
CONNECTOR = "environments/dev/connector.yaml"
MAPPING = "environments/dev/mapping.yaml"
ENVIRONMENT = "environments/dev/environment.yaml"


def _load(tmp_path: Path, text: str, name: str = "x.yaml") -> list[Diagnostic]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    docs, diags = load_file(path, name)
    assert not (docs and diags)
    return diags


def _one(diags: list[Diagnostic]) -> Diagnostic:
    [diag] = diags
    assert diag.severity == "error" and diag.pos is not None
    return diag


def _errors(root: Path) -> list[Diagnostic]:
    return [d for d in validate_environment(root, "dev").diagnostics if d.severity == "error"]


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, (path, old)
    path.write_text(text.replace(old, new), encoding="utf-8")


# --- resource exhaustion: limits of one file -----------------------------------------------------


def test_billion_laughs_trips_the_node_limit_before_any_expansion(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    laughs = HOSTILE / "billion-laughs.yaml"
    assert laughs.stat().st_size < 1000

    def expand(*args: object) -> object:
        raise AssertionError("the aliases were expanded")

    monkeypatch.setattr(yaml_module, "_convert", expand)  # the only place aliased values are copied
    started = time.monotonic()
    docs, diags = load_file(laughs, "environments/dev/laughs.yaml")
    assert time.monotonic() - started < 5  # generous: it takes milliseconds
    diag = _one(diags)
    assert docs == []
    assert diag.message == (f"the file holds more than {MAX_NODES:,} values (an alias counts as every value "
                            "it repeats)")
    assert diag.hint is not None and "remove the aliases that multiply a block" in diag.hint
    assert (diag.pos.file, diag.pos.line) == ("environments/dev/laughs.yaml", 11)  # f: crosses 100,000


def test_billion_laughs_in_an_environment_is_one_config_error(make_env: Callable[..., Path]) -> None:
    env_dir = make_env("dev")
    (env_dir / "laughs.yaml").write_bytes((HOSTILE / "billion-laughs.yaml").read_bytes())
    [diag] = _errors(env_dir.parents[1])
    assert diag.format().startswith("environments/dev/laughs.yaml:11:")
    with pytest.raises(ConfigError):
        load_environment(env_dir.parents[1], "dev")


def test_aliases_within_the_limits_still_load(tmp_path: Path) -> None:
    assert _load(tmp_path, "base: &b {source: mail, target: mail}\nlist: [*b, *b, *b]\nmerged: {<<: *b, x: 1}\n") \
        == []


def test_a_value_that_contains_itself_is_refused(tmp_path: Path) -> None:
    diag = _one(_load(tmp_path, "spec:\n  a: &loop [1, *loop]\n"))
    assert diag.message == "alias *loop is used inside the value it names"
    assert (diag.pos.line, diag.pos.column) == (2, 16)


def test_too_many_aliases(tmp_path: Path) -> None:
    diag = _one(_load(tmp_path, "a: &a 1\nb: [" + "*a, " * (MAX_ALIASES + 1) + "]\n"))
    assert diag.message == f"more than {MAX_ALIASES} aliases in one file"
    assert diag.pos.line == 2


def test_too_many_values_without_aliases(tmp_path: Path) -> None:
    diag = _one(_load(tmp_path, "a:\n" + "- 1\n" * MAX_NODES))
    assert diag.message.startswith(f"the file holds more than {MAX_NODES:,} values")
    # the mapping, the key, the list and 99,998 items make 100,001: the item on line 99,999 crosses it
    assert diag.pos.line == MAX_NODES - 1


def test_too_many_documents(tmp_path: Path) -> None:
    diag = _one(_load(tmp_path, "---\na: 1\n" * (MAX_DOCUMENTS + 1)))
    assert diag.message == f"more than {MAX_DOCUMENTS} documents in one file"
    assert diag.pos.line == 2 * MAX_DOCUMENTS + 1
    assert _load(tmp_path, "---\na: 1\n" * MAX_DOCUMENTS) == []


def test_a_file_larger_than_a_resource_file_is_not_read(tmp_path: Path) -> None:
    diag = _one(_load(tmp_path, "# " + "x" * MAX_FILE_BYTES + "\n"))
    assert diag.message.startswith(f"file is {MAX_FILE_BYTES + 3:,} bytes, more than a resource file may be")
    assert diag.pos.line == 1


@pytest.mark.parametrize("text", [
    "a: " + "[" * 3000 + "]" * 3000 + "\n",  # flow, one line
    "a: " + "[\n" * 3000 + "]" * 3000 + "\n",  # flow, one bracket a line
    "a: " + "{b: " * 3000 + "}" * 3000 + "\n",
    "".join("  " * i + "k:\n" for i in range(300)) + "  " * 300 + "k: 1\n",  # block mappings
    "- " * 3000 + "x\n",  # block sequences
], ids=["flow-line", "flow-lines", "flow-mappings", "block-mappings", "block-sequences"])
def test_nesting_deeper_than_the_limit_is_refused(tmp_path: Path, text: str) -> None:
    started = time.monotonic()
    diag = _one(_load(tmp_path, text))
    assert time.monotonic() - started < 5  # ruamel's scanner alone takes half a second on the first
    assert diag.message == f"values are nested more than {MAX_DEPTH} levels deep"
    assert diag.hint == "Resource files nest a few levels; flatten this structure"


def test_flow_nesting_is_refused_at_the_bracket_that_crosses_the_limit(tmp_path: Path) -> None:
    diag = _one(_load(tmp_path, "a: 1\nb: " + "[" * 3000 + "]" * 3000 + "\n"))
    assert (diag.pos.line, diag.pos.column) == (2, 4 + MAX_DEPTH)  # the 51st '['


def test_brackets_in_strings_and_comments_are_not_nesting(tmp_path: Path) -> None:
    many = "[" * (MAX_DEPTH + 10)
    assert _load(tmp_path, f"a: '{many}'\nb: \"\\\"{many}\"\nc: 'it''s {many}'\n# {many}\nd: 1 # {many}\n") == []


def test_nesting_at_the_limit_validates_and_canonicalises(make_env: Callable[..., Path]) -> None:
    env_dir = make_env("dev")
    deep = "{k: " * (MAX_DEPTH - 3) + "1" + "}" * (MAX_DEPTH - 3)  # document, spec, variables: 3 levels
    _edit(env_dir / "environment.yaml", "  variables:\n", f"  variables:\n    deep: {deep}\n")
    loaded = load_environment(env_dir.parents[1], "dev")
    assert loaded.resources.canonical(b"k" * 32)


@pytest.mark.parametrize(("text", "message"), [
    ("n: " + "9" * 5000 + "\n", "the number 999999999999...999999 (5000 digits) is too large"),
    ("n: 99999999999999999999999999\n", "the number 99999999999999999999999999 is too large"),
    ("n: 9223372036854775808\n", "the number 9223372036854775808 is too large"),
    ("n: -9223372036854775809\n", "the number -9223372036854775809 is too large"),
    ("n: 0x10000000000000000\n", "the number 0x10000000000000000 is too large"),
    ("n: .nan\n", "'.nan' is not a finite number"),
    ("n: -.inf\n", "'-.inf' is not a finite number"),
    ("n: 1e400\n", "'1e400' is not a finite number"),
])
def test_numbers_json_cannot_hold_are_refused_where_they_stand(tmp_path: Path, text: str, message: str) -> None:
    diag = _one(_load(tmp_path, "a: 1\n" + text))
    assert diag.message == message
    assert (diag.pos.line, diag.pos.column) == (2, 4)


def test_numbers_at_the_edges_load(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("a: 9223372036854775807\nb: -9223372036854775808\nc: '99999999999999999999'\nd: 1.5e300\n")
    [doc], diags = load_file(path, "x.yaml")
    assert diags == []
    assert doc.data == {"a": 2**63 - 1, "b": -(2**63), "c": "99999999999999999999", "d": 1.5e300}


# --- syntax errors point where the problem starts --------------------------------------------------


def test_an_unclosed_bracket_is_reported_where_it_opens_and_where_it_was_noticed(
        make_env: Callable[..., Path]) -> None:
    env_dir = make_env("dev")
    text = (env_dir / "mapping.yaml").read_text(encoding="utf-8").splitlines(keepends=True)
    assert text[21].startswith("  safety: {")  # line 22
    text[21] = "  safety: [maxDeletes, 500\n"
    text.insert(22, "  renamedFrom: null\n")  # noticed at line 23 (the ':' of "renamedFrom:")
    (env_dir / "mapping.yaml").write_text("".join(text), encoding="utf-8")
    [diag] = _errors(env_dir.parents[1])
    assert diag.message == "YAML syntax error: this '[' is never closed (noticed at line 23)"
    assert (diag.pos.file, diag.pos.line, diag.pos.column) == (MAPPING, 22, 11)
    assert [(p.line, p.column) for p in diag.related] == [(23, 14)]
    assert diag.hint == "Close the list with ']' where it ends (line 23 says: expected ',' or ']', but got ':')"


@pytest.mark.parametrize(("text", "message", "line", "noticed"), [
    ("a: 1\nb: [x, y\nc: 2\nd: 3\n", "YAML syntax error: this '[' is never closed (noticed at line 3)", 2, 3),
    ("a: {x: 1\n\n\nb: 2\n", "YAML syntax error: this '{' is never closed (noticed at line 4)", 1, 4),
    ("a: 1\n---\n[1, 2\n", "YAML syntax error: this '[' is never closed (noticed at line 4)", 3, 4),
    ("a: 'abc\nb: 2\n", "YAML syntax error: this ' string is never closed (noticed at line 3)", 1, 3),
    ('a: "abc\nb: 2\n', 'YAML syntax error: this " string is never closed (noticed at line 3)', 1, 3),
    ("a:\n  - x\n - y\n", "YAML syntax error: expected <block end>, but found '<block sequence start>' "
     "(parsing a block mapping that starts at line 1)", 3, 1),
])
def test_syntax_errors_say_where_the_construct_starts(tmp_path: Path, text: str, message: str, line: int,
                                                      noticed: int) -> None:
    diag = _one(_load(tmp_path, text))
    assert diag.message == message
    assert diag.pos.line == line
    assert [p.line for p in diag.related] == [noticed]


def test_json_syntax_error_says_json(tmp_path: Path) -> None:
    diag = _one(_load(tmp_path, '{"a": [1, 2,\n"b": 3}\n', name="x.json"))
    assert diag.message.startswith("JSON syntax error: ")


# --- symbolic links out of the repository ------------------------------------------------------------


def test_a_link_out_of_the_repository_is_refused_and_never_read(make_env: Callable[..., Path],
                                                                tmp_path: Path) -> None:
    env_dir = make_env("dev")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    secret = outside / "shadow.yaml"
    secret.write_text("root: TOPSECRET-HASH: x\n", encoding="utf-8")  # would be echoed by a syntax error
    (env_dir / "leak.yaml").symlink_to(secret)
    root = env_dir.parents[1]
    report = validate_environment(root, "dev")
    [diag] = report.errors
    assert diag.format() == (
        f"environments/dev/leak.yaml: this file resolves to {secret.resolve()} (through a symbolic link), outside "
        "the repository; it is not read. Resource files are read from inside the repository only: copy the file "
        "in, or remove the link.")
    assert "TOPSECRET" not in "".join(d.format() for d in report.diagnostics)
    assert env_dir / "leak.yaml" not in report.files
    assert env_dir / "leak.yaml" not in resource_files(env_dir)  # nor promoted into another environment


def test_an_environment_folder_linked_out_of_the_repository_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "environment.yaml").write_text("apiVersion: idmctl/v1\nkind: Environment\nmetadata: {name: dev}\n")
    root = tmp_path / "repo"
    (root / "environments").mkdir(parents=True)
    (root / "environments" / "dev").symlink_to(outside, target_is_directory=True)
    [diag] = _errors(root)
    assert diag.message.startswith(f"this file resolves to {(outside / 'environment.yaml').resolve()}")


def test_a_dangling_link_is_reported_not_skipped(make_env: Callable[..., Path]) -> None:
    env_dir = make_env("dev")
    (env_dir / "gone.yaml").symlink_to("no-such-file.yaml")
    [diag] = _errors(env_dir.parents[1])
    assert diag.format() == ("environments/dev/gone.yaml: this file is a symbolic link to no-such-file.yaml, "
                             "which does not exist; it is not read. Point the link at a file of the repository, "
                             "or remove it.")


def test_a_link_inside_the_repository_is_followed(make_env: Callable[..., Path]) -> None:
    env_dir = make_env("dev")
    shared = env_dir.parents[1] / "shared"
    shared.mkdir()
    os.replace(env_dir / "schedule.yaml", shared / "schedule.yaml")
    (env_dir / "schedule.yaml").symlink_to(shared / "schedule.yaml")
    assert validate_environment(env_dir.parents[1], "dev").ok


# --- environment names ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a" * 300, "../../etc", "dev/../prod", "Dev", "", "x" * 64, "dev\x00"],
                         ids=["300-characters", "traversal", "dots", "upper-case", "empty", "64-characters", "nul"])
def test_an_invalid_environment_name_is_a_usage_error(make_env: Callable[..., Path], name: str) -> None:
    root = make_env("dev").parents[1]
    with pytest.raises(UsageError) as info:
        validate_environment(root, name)
    assert "is not a valid environment name" in info.value.message
    assert info.value.hint is not None and "at most 63 characters; environments here: dev" in info.value.hint
    assert len(str(info.value)) < 300  # a 300-character name is shown shortened


# --- secrets only in secret fields -------------------------------------------------------------------


@pytest.mark.parametrize(("file", "old", "new", "line", "pointer", "field", "allowed"), [
    ("connector.yaml", "${var.entra_tenant_id}", "${secret.entra_client_secret}", 10, "/spec/tenantId",
     "tenantId", "Only clientSecret takes a secret"),
    ("connector.yaml", "${var.entra_graph}", "${secret.entra_client_secret}", 14, "/spec/graphUrl",
     "graphUrl", "Only clientSecret takes a secret"),
    ("mapping.yaml", "${var.source_filter}", "${secret.entra_client_secret}", 17, "/spec/sourceFilter",
     "sourceFilter", "A Mapping has no secret field"),
    ("application.yaml", "owners: [app-owner]", "owners: ['${secret.entra_client_secret}']", 11, "/spec/owners/0",
     "0", "An Application has no secret field"),
])
def test_a_secret_reference_outside_a_secret_field_is_an_error(
        make_env: Callable[..., Path], file: str, old: str, new: str, line: int, pointer: str, field: str,
        allowed: str) -> None:
    env_dir = make_env("dev")
    _edit(env_dir / file, old, new)
    [diag] = _errors(env_dir.parents[1])
    assert (diag.pos.file, diag.pos.line, diag.pointer) == (f"environments/dev/{file}", line, pointer)
    assert diag.message == f"{field} is not a secret field and cannot take '${{secret.entra_client_secret}}'"
    assert diag.hint is not None and diag.hint.startswith(allowed.replace("An Application", "A Application"))


def test_the_secret_field_still_takes_its_secret(make_env: Callable[..., Path]) -> None:
    assert validate_environment(make_env("dev").parents[1], "dev").ok


# --- numbers the models bound --------------------------------------------------------------------------


@pytest.mark.parametrize(("new", "message", "pointer"), [
    ("maxDeletes: 99999999999999999999999999", "the number 99999999999999999999999999 is too large", None),
    ("maxDeletes: 9000000000000000000", "9000000000000000000 is out of range: must be at most 1000000000",
     "/spec/safety/maxDeletes"),
    ("maxDeletes: 1000000001", "1000000001 is out of range: must be at most 1000000000", "/spec/safety/maxDeletes"),
    ("maxDeletes: .inf", "'.inf' is not a finite number", None),
])
def test_max_deletes_is_bounded(make_env: Callable[..., Path], new: str, message: str, pointer: str | None) -> None:
    env_dir = make_env("dev")
    _edit(env_dir / "mapping.yaml", "maxDeletes: 500", new)
    [diag] = _errors(env_dir.parents[1])
    assert (diag.pos.file, diag.pos.line, diag.pointer, diag.message) == (MAPPING, 22, pointer, message)


def test_max_delete_percent_nan_no_longer_disarms_the_guard(make_env: Callable[..., Path]) -> None:
    env_dir = make_env("dev")
    _edit(env_dir / "mapping.yaml", "maxDeletePercent: 5", "maxDeletePercent: .nan")
    [diag] = _errors(env_dir.parents[1])
    assert (diag.pos.line, diag.message) == (22, "'.nan' is not a finite number")


def test_max_deletes_at_its_bound_is_valid(make_env: Callable[..., Path]) -> None:
    env_dir = make_env("dev")
    _edit(env_dir / "mapping.yaml", "maxDeletes: 500", "maxDeletes: 1000000000")
    assert validate_environment(env_dir.parents[1], "dev").ok


# --- credentials in URLs ---------------------------------------------------------------------------------

PASSWORD = "hunter2-not-to-be-printed"


def _all_text(root: Path) -> str:
    return "\n".join(d.format() for d in validate_environment(root, "dev").diagnostics)


@pytest.mark.parametrize(("old", "new", "line", "pointer", "field"), [
    ("${var.entra_graph}", f"https://svc:{PASSWORD}@graph.microsoft.com", 14, "/spec/graphUrl", "graphUrl"),
    ("${var.entra_login}", f"https://svc:{PASSWORD}@login.microsoftonline.com/", 13, "/spec/authorityHost",
     "authorityHost"),
    ("${var.entra_login}", f"http://{PASSWORD}@login.microsoftonline.com", 13, "/spec/authorityHost",
     "authorityHost"),
])
def test_a_url_field_with_credentials_is_refused(make_env: Callable[..., Path], old: str, new: str, line: int,
                                                 pointer: str, field: str) -> None:
    env_dir = make_env("dev")
    _edit(env_dir / "connector.yaml", old, new)
    root = env_dir.parents[1]
    [diag] = _errors(root)
    assert (diag.pos.file, diag.pos.line, diag.pointer) == (CONNECTOR, line, pointer)
    assert diag.message.startswith(f"{field} \"http")
    assert diag.message.endswith("has a user name or password in its URL") and "://***@" in diag.message
    assert diag.hint is not None and "plans and logs show this URL" in diag.hint
    assert PASSWORD not in _all_text(root)


def test_a_token_scope_with_credentials_is_refused(make_env: Callable[..., Path]) -> None:
    env_dir = make_env("dev")
    _edit(env_dir / "connector.yaml", "  pageSize: 999\n",
          f"  pageSize: 999\n  tokenScope: api://app:{PASSWORD}@contoso/.default\n")
    [diag] = _errors(env_dir.parents[1])
    assert (diag.pos.line, diag.pointer) == (17, "/spec/tokenScope")
    assert diag.message == 'tokenScope "api://***@contoso/.default" has a user name or password in its URL'


def test_a_url_variable_with_credentials_is_one_error_at_the_variable(make_env: Callable[..., Path]) -> None:
    env_dir = make_env("dev")
    _edit(env_dir / "environment.yaml", "entra_graph: https://graph.microsoft.com",
          f"entra_graph: https://svc:{PASSWORD}@graph.microsoft.com")
    root = env_dir.parents[1]
    [diag] = _errors(root)  # not again at connector.yaml's graphUrl, which uses it
    assert (diag.pos.file, diag.pos.line, diag.pointer) == (ENVIRONMENT, 14, "/spec/variables/entra_graph")
    assert diag.message == ("variable 'entra_graph' holds a URL with a user name or password in it "
                            "(https://***@graph.microsoft.com)")
    assert PASSWORD not in _all_text(root)


def test_an_unused_url_variable_with_credentials_is_refused_too(make_env: Callable[..., Path]) -> None:
    env_dir = make_env("dev")  # plans show every variable, used or not
    _edit(env_dir / "environment.yaml", "  variables:\n",
          f"  variables:\n    hooks: [{{url: 'https://bot:{PASSWORD}@hooks.example.com/x'}}]\n")
    [diag] = _errors(env_dir.parents[1])
    assert (diag.pos.line, diag.pointer) == (11, "/spec/variables/hooks/0/url")


def test_credentials_put_together_in_the_field_are_reported_at_the_field(make_env: Callable[..., Path]) -> None:
    env_dir = make_env("dev")
    _edit(env_dir / "connector.yaml", "${var.entra_graph}", "https://${var.entra_client_id}:x@graph.microsoft.com")
    [diag] = _errors(env_dir.parents[1])
    assert (diag.pos.file, diag.pointer) == (CONNECTOR, "/spec/graphUrl")


# --- values ruamel would fail to build: located errors, not tracebacks -----------------------------------


@pytest.mark.parametrize(("text", "message"), [
    ('x: !!int "abc"', "'abc' is tagged as an integer but is none"),
    ('x: !!float "abc"', "'abc' is tagged as a number but is none"),
    ("x: !!bool maybe", "'maybe' is tagged as true or false but is neither"),
    ('"\\ud800": 1', "a value holds a lone surrogate escape (such as \\ud800), which is no character"),
    ('x: "a\\udc00"', "a value holds a lone surrogate escape (such as \\ud800), which is no character"),
])
def test_a_value_that_cannot_be_built_is_located(tmp_path: Path, text: str, message: str) -> None:
    diag = _one(_load(tmp_path, "a: 1\n" + text + "\n"))
    assert (diag.pos.line, diag.message) == (2, message)


def test_a_surrogate_pair_in_json_is_one_character(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"a": "\\ud83d\\ude00"}\n', encoding="utf-8")
    [doc], diags = load_file(path, "x.json")
    assert diags == [] and doc.data == {"a": "\U0001F600"}
