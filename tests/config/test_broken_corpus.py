"""A corpus of broken configurations: each is the shipped dev environment with one realistic mistake.

Each case asserts the exact diagnostics (severity, file, line, JSON pointer, message) that
`validate_environment` reports, so that a wrong line, a vague message or a cascade of follow-up
errors fails a test. A few cases also go through `idmctl validate` to check the printed line,
the exit code and that no traceback ever reaches the user.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from controller.cli import run
from controller.config import load_environment, validate_environment
from controller.errors import ConfigError

BROKEN = Path(__file__).resolve().parents[1] / "fixtures" / "config" / "broken"

CONNECTOR = "environments/dev/connector.yaml"
MAPPING = "environments/dev/mapping.yaml"
SCHEDULE = "environments/dev/schedule.yaml"
ENVIRONMENT = "environments/dev/environment.yaml"
APPLICATION = "environments/dev/application.yaml"


@dataclass(frozen=True)
class Expect:
    """One diagnostic: where it points and what it says; ``related`` and ``hint`` when given."""

    file: str
    line: int
    pointer: str | None
    message: str
    severity: str = "error"
    related: tuple[str, ...] | None = None  # "file:line" of each related position
    hint: str | None = None  # a substring of the hint
    column: int | None = None


@dataclass(frozen=True)
class Case:
    id: str
    expect: tuple[Expect, ...]
    # file -> (old, new) replacements, or the whole new text, or None to delete the file
    edits: dict[str, tuple[tuple[str, str], ...] | str | None] = field(default_factory=dict)
    fixture: bool = False  # overlay tests/fixtures/config/broken/<id>/ onto the copy
    valid: bool = False  # only warnings: the environment still validates


def sub(*pairs: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return pairs


CASES: list[Case] = [
    # --- reading the files --------------------------------------------------------------------
    Case("yaml-syntax-error",
         (Expect(CONNECTOR, 9, None, "YAML syntax error: mapping values are not allowed here", column=24,
                 hint="indentation"),),
         {"connector.yaml": sub(("  type: microsoft-graph\n", "  type: microsoft-graph: v1\n"))}),
    Case("tab-indentation",
         (Expect(CONNECTOR, 16, None, "a tab character is used for indentation", column=1,
                 hint="replace the tab with spaces"),),
         {"connector.yaml": sub(("  pageSize: 999", "\tpageSize: 999"))}),
    Case("duplicate-key",
         (Expect(CONNECTOR, 17, None, "duplicate key 'tenantId'", related=(f"{CONNECTOR}:10",)),),
         {"connector.yaml": sub(("  pageSize: 999\n",
                                 "  pageSize: 999\n  tenantId: 3c9b2d1e-7a4f-4e8b-9c5d-2f1a0b8e7d6c\n"))}),
    Case("duplicate-top-level-key",
         (Expect(ENVIRONMENT, 11, None, "duplicate key 'variables'", related=(f"{ENVIRONMENT}:10",)),),
         {"environment.yaml": sub(("\n  variables:\n", "\n  variables: {}\n  variables:\n"))}),
    Case("json-syntax-error",
         (Expect("environments/dev/application.json", 8, None,
                 "JSON syntax error: expected the node content, but found ','", hint="commas"),),
         {"application.yaml": None}, fixture=True),
    Case("json-wrong-type",
         (Expect("environments/dev/application.json", 8, "/spec/authoritative", 'expected true or false, got "yes"'),),
         {"application.yaml": None}, fixture=True),
    Case("list-not-mapping",
         (Expect(APPLICATION, 3, None, "a resource must be a mapping, got a list"),), fixture=True),
    Case("scalar-document",
         (Expect(APPLICATION, 1, None, "a resource must be a mapping, got a string"),),
         {"application.yaml": "Microsoft Entra ID, authoritative, owner app-owner\n"}),
    Case("empty-environment-folder",
         (Expect("environments/dev", 0, None, "environments/dev/ holds no resource files"),),
         {name: None for name in ("application.yaml", "connector.yaml", "environment.yaml", "mapping.yaml",
                                  "schedule.yaml")}),
    Case("missing-environment-resource",
         (Expect(ENVIRONMENT, 0, None, "environment 'dev' has no Environment resource"),),
         {"environment.yaml": None}),
    Case("second-environment",
         (Expect("environments/dev/environment-staging.yaml", 3, None, "a second Environment resource",
                 related=(f"{ENVIRONMENT}:3",)),), fixture=True),
    # --- header ---------------------------------------------------------------------------------
    Case("bad-api-version",
         (Expect(SCHEDULE, 5, "/apiVersion", "apiVersion 'idmctl/v2' is not supported", hint="idmctl/v1"),),
         {"schedule.yaml": sub(("apiVersion: idmctl/v1", "apiVersion: idmctl/v2"))}),
    Case("missing-api-version",
         (Expect(SCHEDULE, 5, "/apiVersion", "missing apiVersion"),),
         {"schedule.yaml": sub(("apiVersion: idmctl/v1\n", ""))}),
    Case("unknown-kind",
         (Expect(SCHEDULE, 6, "/kind", "unknown kind 'Schedul'", hint="Did you mean 'Schedule'?"),),
         {"schedule.yaml": sub(("kind: Schedule", "kind: Schedul"))}),
    Case("unknown-kind-of-referenced-resource",  # no cascade: the mapping's connector is not "missing"
         (Expect(CONNECTOR, 5, "/kind", "unknown kind 'GraphConnector'", hint="Did you mean 'Connector'?"),),
         {"connector.yaml": sub(("kind: Connector", "kind: GraphConnector"))}),
    # --- schema: types, unknown and missing fields ---------------------------------------------
    Case("string-for-int",
         (Expect(CONNECTOR, 16, "/spec/pageSize", 'expected an integer, got "lots"', hint="Write an integer"),),
         {"connector.yaml": sub(("pageSize: 999", "pageSize: lots"))}),
    Case("quoted-int",
         (Expect(CONNECTOR, 16, "/spec/pageSize", 'expected an integer, got "999"', hint="Remove the quotes"),),
         {"connector.yaml": sub(("pageSize: 999", "pageSize: '999'"))}),
    Case("yes-for-boolean",
         (Expect(SCHEDULE, 14, "/spec/enabled", 'expected true or false, got "yes"'),),
         {"schedule.yaml": sub(("enabled: true", "enabled: yes"))}),
    Case("list-for-mapping",
         (Expect(MAPPING, 18, "/spec/policies", 'expected a mapping, got ["default", {"LINK_ONLY": "UNLINK"}]'),),
         {"mapping.yaml": sub(("  policies:\n    base: default          # IDM's engine defaults for every "
                               "situation...\n    rules:\n      LINK_ONLY: UNLINK",
                               "  policies:\n    - default\n    - LINK_ONLY: UNLINK"))}),
    Case("unknown-field-did-you-mean",
         (Expect(MAPPING, 15, "/spec/corelation", "unknown field 'corelation'", hint="Did you mean 'correlation'?"),),
         {"mapping.yaml": sub(("  correlation:", "  corelation:"))}),
    Case("unknown-field-lists-allowed",
         (Expect(CONNECTOR, 17, "/spec/proxy", "unknown field 'proxy'", hint="Allowed fields: aic, authorityHost, "),),
         {"connector.yaml": sub(("  pageSize: 999\n", "  pageSize: 999\n  proxy: http://proxy.example.com:3128\n"))}),
    Case("unknown-field-in-transform-list",
         (Expect(MAPPING, 12, "/spec/properties/1/transform/1/fallback", "unknown field 'fallback'",
                 hint="Allowed fields: default, map"),),
         {"mapping.yaml": sub(("- {source: mail, target: mail}",
                               "- {source: mail, target: mail, transform: [trim, {map: {}, fallback: x}]}"))}),
    Case("unknown-transform",
         (Expect(MAPPING, 12, "/spec/properties/1/transform", 'unknown value "lowercase"',
                 hint="Did you mean 'lower'?"),),
         {"mapping.yaml": sub(("- {source: mail, target: mail}",
                               "- {source: mail, target: mail, transform: lowercase}"))}),
    Case("missing-metadata-name",
         (Expect(CONNECTOR, 7, "/metadata/title", "unknown field 'title'"),
          Expect(CONNECTOR, 6, "/metadata", "missing required field 'name'", hint="Add name: ...")),
         {"connector.yaml": sub(("  name: entra\n", "  title: entra\n"))}),
    Case("missing-spec-target",
         (Expect(MAPPING, 7, "/spec", "missing required field 'target'", hint="Managed object type"),),
         {"mapping.yaml": sub(("  target: managed/alpha_user\n", ""))}),
    Case("missing-properties",
         (Expect(MAPPING, 7, "/spec", "missing required field 'properties'"),),
         {"mapping.yaml": sub(("  properties:\n    - {source: givenName, target: givenName}\n"
                               "    - {source: mail, target: mail}\n    - {source: surname, target: sn}\n"
                               "    - {source: userPrincipalName, target: userName}\n", ""))}),
    Case("page-size-out-of-range",
         (Expect(CONNECTOR, 16, "/spec/pageSize", "1000 is out of range: must be at most 999"),),
         {"connector.yaml": sub(("pageSize: 999", "pageSize: 1000"))}),
    Case("http-authority",
         (Expect(CONNECTOR, 13, "/spec/authorityHost",
                 'authorityHost "http://login.microsoftonline.com" is not an https:// URL'),),
         {"connector.yaml": sub(("${var.entra_login}", "http://login.microsoftonline.com"))}),
    Case("bad-resource-name",
         (Expect(SCHEDULE, 8, "/metadata/name", '"Entra_Incremental" is not a valid name'),),
         {"schedule.yaml": sub(("name: entra-incremental", "name: Entra_Incremental"))}),
    Case("unknown-enum-value-did-you-mean",
         (Expect(MAPPING, 19, "/spec/policies/base", 'unknown value "readonly"', hint="Did you mean 'read-only'?"),),
         {"mapping.yaml": sub(("base: default", "base: readonly"))}),
    Case("unknown-state-backend",
         (Expect(ENVIRONMENT, 8, "/spec/state/backend", 'unknown value "sqlit"', hint="Allowed: postgres, sqlite"),),
         {"environment.yaml": sub(("{backend: sqlite, path", "{backend: sqlit, path"))}),
    Case("platform-type-missing-its-fields",
         (Expect(ENVIRONMENT, 9, "/spec/platform", "missing required field 'tenantUrl'"),
          Expect(ENVIRONMENT, 9, "/spec/platform", "missing required field 'serviceAccountId'"),
          Expect(ENVIRONMENT, 9, "/spec/platform", "missing required field 'serviceAccountKey'")),
         {"environment.yaml": sub(("platform: {type: embedded}", "platform: {type: aic, realm: alpha}"))}),
    Case("second-document-error",
         (Expect("environments/dev/schedules-extra.yaml", 18, "/spec/mode", 'unknown value "complete"',
                 hint="Allowed: full, incremental"),), fixture=True),
    Case("bad-variable-name",
         (Expect(ENVIRONMENT, 12, "/spec/variables/entra-client-id", "'entra-client-id' is not a valid variable name"),
          Expect(CONNECTOR, 11, "/spec/clientId",
                 "unresolved variable 'entra_client_id' in '${var.entra_client_id}'")),
         {"environment.yaml": sub(("entra_client_id:", "entra-client-id:"))}),
    # --- variables and secrets ------------------------------------------------------------------
    Case("unresolved-variable",
         (Expect(CONNECTOR, 14, "/spec/graphUrl", "unresolved variable 'entra_grahp' in '${var.entra_grahp}'",
                 hint="(defined: entra_ca, entra_client_id, entra_graph,"),),
         {"connector.yaml": sub(("${var.entra_graph}", "${var.entra_grahp}"))}),
    Case("variable-of-wrong-type",
         (Expect(CONNECTOR, 16, "/spec/pageSize", "expected an integer, got \"all\" (from variable 'page_size')",
                 related=(f"{ENVIRONMENT}:16",), hint="Give variable 'page_size' an integer"),),
         {"environment.yaml": sub(("    source_filter:", "    page_size: all\n    source_filter:")),
          "connector.yaml": sub(("pageSize: 999", "pageSize: ${var.page_size}"))}),
    Case("null-variable-for-required-field",
         (Expect(CONNECTOR, 10, "/spec/tenantId",
                 "required field 'tenantId' is null: variable 'entra_tenant_id' is null",
                 related=(f"{ENVIRONMENT}:11",)),),
         {"environment.yaml": sub(("entra_tenant_id: f7ff6108-c26f-48dd-ae9e-9743eefbd11f", "entra_tenant_id: null"))}),
    Case("malformed-reference",
         (Expect(CONNECTOR, 14, "/spec/graphUrl", "malformed reference '${var.}'"),),
         {"connector.yaml": sub(("${var.entra_graph}", "${var.}"))}),
    Case("unterminated-reference",
         (Expect(CONNECTOR, 14, "/spec/graphUrl", "malformed reference '${var.entra_graph'"),),
         {"connector.yaml": sub(("${var.entra_graph}", "${var.entra_graph"))}),
    Case("unknown-reference-kind",
         (Expect(CONNECTOR, 14, "/spec/graphUrl", "unknown reference kind 'env' in '${env.GRAPH_URL}'"),),
         {"connector.yaml": sub(("${var.entra_graph}", "${env.GRAPH_URL}"))}),
    Case("mapping-variable-embedded-in-string",
         (Expect(APPLICATION, 8, "/spec/displayName",
                 "variable 'labels' holds a mapping and cannot be embedded in a string",
                 related=(f"{ENVIRONMENT}:16",)),),
         {"environment.yaml": sub(("    source_filter:", "    labels: {team: iam}\n    source_filter:")),
          "application.yaml": sub(("displayName: Microsoft Entra ID", "displayName: Entra ${var.labels}"))}),
    Case("secret-embedded-in-string",
         (Expect(CONNECTOR, 14, "/spec/graphUrl",
                 "a secret reference '${secret.entra_client_secret}' is embedded in a string"),),
         {"connector.yaml": sub(("${var.entra_graph}", "https://graph.microsoft.com/?key=${secret.entra_client_secret}"))}),
    Case("literal-client-secret",
         (Expect(CONNECTOR, 12, "/spec/clientSecret",
                 "clientSecret must be a ${secret.NAME} reference, not a literal value",
                 hint="Never put a secret in git"),),
         {"connector.yaml": sub(("${secret.entra_client_secret}", "Xy8Q~abcdefghijklmnopqrstuvwxyz0123456789"))}),
    Case("undeclared-secret",
         (Expect(CONNECTOR, 12, "/spec/clientSecret", "unresolved secret 'entra_secret'",
                 hint="(declared: entra_client_secret)"),),
         {"connector.yaml": sub(("${secret.entra_client_secret}", "${secret.entra_secret}"))}),
    Case("secret-with-both-sources",
         (Expect(ENVIRONMENT, 18, "/spec/secrets/entra_client_secret",
                 "secret 'entra_client_secret' needs exactly one of fromEnv or fromFile"),),
         {"environment.yaml": sub(("{fromEnv: ENTRA_CLIENT_SECRET}",
                                   "{fromEnv: ENTRA_CLIENT_SECRET, fromFile: .secrets/entra}"))}),
    Case("secret-with-no-source",
         (Expect(ENVIRONMENT, 18, "/spec/secrets/entra_client_secret",
                 "secret 'entra_client_secret' needs exactly one of fromEnv or fromFile"),),
         {"environment.yaml": sub(("{fromEnv: ENTRA_CLIENT_SECRET}", "{}"))}),
    Case("environment-named-differently",
         (Expect(ENVIRONMENT, 6, "/metadata/name", "Environment is named 'development' but lives in environments/dev/",
                 hint="Set metadata.name: dev"),),
         {"environment.yaml": sub(("name: dev", "name: development"))}),
    # --- references and names -------------------------------------------------------------------
    Case("mapping-to-missing-connector",
         (Expect(MAPPING, 8, "/spec/source/connector", "Connector 'entra-id' does not exist",
                 hint="(defined: entra)"),),
         {"mapping.yaml": sub(("{connector: entra,", "{connector: entra-id,"))}),
    Case("application-to-missing-connector",
         (Expect(APPLICATION, 9, "/spec/connector", "Connector 'graph' does not exist"),),
         {"application.yaml": sub(("connector: entra", "connector: graph"))}),
    Case("schedule-to-missing-mapping",
         (Expect(SCHEDULE, 10, "/spec/mapping", "Mapping 'entra-user' does not exist", hint="(defined: entra-users)"),),
         {"schedule.yaml": sub(("mapping: entra-users", "mapping: entra-user"))}),
    Case("duplicate-names",
         (Expect(SCHEDULE, 8, "/metadata/name", "duplicate Schedule name 'entra-incremental'",
                 related=("environments/dev/schedule-nightly.yaml:6",)),), fixture=True),
    Case("renamed-from-itself",
         (Expect(MAPPING, 22, "/spec/renamedFrom", "renamedFrom names the mapping itself"),),
         {"mapping.yaml": sub(("  safety: {", "  renamedFrom: entra-users\n  safety: {"))}),
    # --- mappings -------------------------------------------------------------------------------
    Case("unknown-situation",
         (Expect(MAPPING, 22, "/spec/policies/rules/GONE", 'unknown situation "GONE"',
                 hint="Did you mean 'ALL_GONE'?"),),
         {"mapping.yaml": sub(("LINK_ONLY: UNLINK", "LINK_ONLY: UNLINK\n      GONE: DELETE"))}),
    Case("unknown-action",
         (Expect(MAPPING, 21, "/spec/policies/rules/LINK_ONLY", 'unknown action "REMOVE"',
                 hint="Allowed: CREATE, UPDATE, DELETE, LINK, UNLINK"),),
         {"mapping.yaml": sub(("LINK_ONLY: UNLINK", "LINK_ONLY: REMOVE"))}),
    Case("impossible-action-without-target",
         (Expect(MAPPING, 22, "/spec/policies/rules/ABSENT",
                 "ABSENT cannot UPDATE: there is no target object or link in this situation"),),
         {"mapping.yaml": sub(("LINK_ONLY: UNLINK", "LINK_ONLY: UNLINK\n      ABSENT: UPDATE"))}),
    Case("impossible-action-without-source",
         (Expect(MAPPING, 22, "/spec/policies/rules/SOURCE_MISSING",
                 "SOURCE_MISSING cannot CREATE: there is no source object in this situation"),),
         {"mapping.yaml": sub(("LINK_ONLY: UNLINK", "LINK_ONLY: UNLINK\n      SOURCE_MISSING: CREATE"))}),
    Case("unmapped-required-property",
         (Expect(MAPPING, 11, "/spec/properties", "required alpha_user property 'sn' is not mapped",
                 severity="warning", hint="Every CREATE will fail"),),
         {"mapping.yaml": sub(("    - {source: surname, target: sn}\n", ""))}, valid=True),
    Case("unknown-target-property",
         (Expect(MAPPING, 13, "/spec/properties/2/target", "managed/alpha_user has no property 'surname'"),
          Expect(MAPPING, 11, "/spec/properties", "required alpha_user property 'sn' is not mapped",
                 severity="warning")),
         {"mapping.yaml": sub(("target: sn}", "target: surname}"))}),
    Case("unknown-managed-object-type",
         (Expect(MAPPING, 9, "/spec/target",
                 "target 'managed/alpha_group' is not a managed object type idmctl knows"),),
         {"mapping.yaml": sub(("target: managed/alpha_user", "target: managed/alpha_group"))}),
    Case("duplicate-target-property",
         (Expect(MAPPING, 13, "/spec/properties/2/target", "property 'mail' is mapped twice",
                 related=(f"{MAPPING}:12",)),
          Expect(MAPPING, 11, "/spec/properties", "required alpha_user property 'sn' is not mapped",
                 severity="warning")),
         {"mapping.yaml": sub(("{source: surname, target: sn}", "{source: otherMails, target: mail}"))}),
    Case("property-without-source-or-default",
         (Expect(MAPPING, 12, "/spec/properties/1", "property 'mail' has neither source nor default"),),
         {"mapping.yaml": sub(("- {source: mail, target: mail}", "- {target: mail}"))}),
    Case("correlation-on-unmapped-property",
         (Expect(MAPPING, 15, "/spec/correlation/any/1",
                 "correlation property 'displayName' is not a mapped target property"),),
         {"mapping.yaml": sub(("{any: [userName]}", "{any: [userName, displayName]}"))}),
    Case("correlation-any-and-all",
         (Expect(MAPPING, 15, "/spec/correlation", "correlation needs exactly one of 'any' or 'all'"),),
         {"mapping.yaml": sub(("{any: [userName]}", "{any: [userName], all: [mail]}"))}),
    Case("bad-filter-with-column",
         (Expect(MAPPING, 17, "/spec/sourceFilter", "filter does not parse: missing ')' at column 51"),),
         {"mapping.yaml": sub(("${var.source_filter}", """'mail eq "scarter@example.com" or (givenName sw "S"'"""))}),
    Case("bad-filter-from-variable",
         (Expect(MAPPING, 17, "/spec/sourceFilter",
                 "filter does not parse: expected a condition after 'and' at column 34",
                 related=(f"{ENVIRONMENT}:16",)),),
         {"environment.yaml": sub(("""'mail eq "scarter@example.com"'""", """'mail eq "scarter@example.com" and'"""))}),
    Case("source-property-wrong-case",
         (Expect(MAPPING, 11, "/spec/properties/0/source", "'givenname' is not a Microsoft Graph user property",
                 hint="Did you mean 'givenName'?"),),
         {"mapping.yaml": sub(("{source: givenName,", "{source: givenname,"))}),
    Case("source-property-typo",
         (Expect(MAPPING, 15, "/spec/properties/4/source", "'accountEnabld' is not a Microsoft Graph user property",
                 hint="Did you mean 'accountEnabled'?"),),
         {"mapping.yaml": sub(("    - {source: userPrincipalName, target: userName}\n",
                               "    - {source: userPrincipalName, target: userName}\n"
                               "    - {source: accountEnabld, target: accountStatus}\n"))}),
    Case("source-property-graph-does-not-list",
         (Expect(MAPPING, 15, "/spec/properties/4/source",
                 "Microsoft Graph does not return 'birthday' when listing users (501 Not Implemented)"),),
         {"mapping.yaml": sub(("    - {source: userPrincipalName, target: userName}\n",
                               "    - {source: userPrincipalName, target: userName}\n"
                               "    - {source: birthday, target: description}\n"))}),
    Case("filter-property-typo",
         (Expect(MAPPING, 17, "/spec/sourceFilter",
                 "the filter reads 'jobtitle': 'jobtitle' is not a Microsoft Graph user property",
                 hint="Did you mean 'jobTitle'?"),),
         {"mapping.yaml": sub(("${var.source_filter}", """'jobtitle eq "Engineer"'"""))}),
    Case("bad-situation-does-not-hide-an-unknown-target-property",
         (Expect(MAPPING, 22, "/spec/policies/rules/GONE", 'unknown situation "GONE"'),
          Expect(MAPPING, 13, "/spec/properties/2/target", "managed/alpha_user has no property 'surname'"),
          Expect(MAPPING, 11, "/spec/properties", "required alpha_user property 'sn' is not mapped",
                 severity="warning")),
         {"mapping.yaml": sub(("LINK_ONLY: UNLINK", "LINK_ONLY: UNLINK\n      GONE: DELETE"),
                              ("target: sn}", "target: surname}"))}),
    # --- schedules ------------------------------------------------------------------------------
    Case("bad-cron-field",
         (Expect(SCHEDULE, 12, "/spec/cron", "hour: 25 is out of range", hint="hour takes 0-23"),),
         {"schedule.yaml": sub(('"0 0/15 * * * ?"', '"0 0/15 25 * * ?"'))}),
    Case("unix-cron-5-fields",
         (Expect(SCHEDULE, 12, "/spec/cron",
                 "this is a 5-field Unix cron; Quartz needs 6 or 7 fields with seconds first "
                 "(second minute hour day-of-month month day-of-week [year])", hint="Write '0 */15 * * * ?'"),),
         {"schedule.yaml": sub(('"0 0/15 * * * ?"', '"*/15 * * * *"'))}),
    Case("cron-without-question-mark",
         (Expect(SCHEDULE, 12, "/spec/cron",
                 "day-of-week: Quartz needs '?' in exactly one of day-of-month and day-of-week (got '*' and '*')"),),
         {"schedule.yaml": sub(('"0 0/15 * * * ?"', '"0 0/15 * * * *"'))}),
    Case("bad-mode-does-not-hide-a-5-field-cron",
         (Expect(SCHEDULE, 11, "/spec/mode", 'unknown value "often"'),
          Expect(SCHEDULE, 12, "/spec/cron",
                 "this is a 5-field Unix cron; Quartz needs 6 or 7 fields with seconds first "
                 "(second minute hour day-of-month month day-of-week [year])")),
         {"schedule.yaml": sub(("mode: incremental", "mode: often"), ('"0 0/15 * * * ?"', '"*/15 * * * *"'))}),
    Case("unknown-time-zone",
         (Expect(SCHEDULE, 13, "/spec/timeZone", "unknown time zone 'Europe/Atlantis'"),),
         {"schedule.yaml": sub(("timeZone: UTC", "timeZone: Europe/Atlantis"))}),
]


def _build(make_env: Callable[..., Path], case: Case) -> Path:
    """The dev copy with the case's breakage applied; returns the repository root."""
    env_dir = make_env("dev")
    for name, edit in case.edits.items():
        path = env_dir / name
        if edit is None:
            path.unlink()
        elif isinstance(edit, str):
            path.write_text(edit, encoding="utf-8")
        else:
            text = path.read_text(encoding="utf-8")
            for old, new in edit:
                assert text.count(old) == 1, f"{case.id}: {old!r} is not in {name} exactly once"
                text = text.replace(old, new)
            path.write_text(text, encoding="utf-8")
    if case.fixture:
        for src in sorted((BROKEN / case.id).iterdir()):
            shutil.copy(src, env_dir / src.name)
    return env_dir.parents[1]


def _seen(diag) -> tuple:
    return (diag.severity, diag.pos.file, diag.pos.line, diag.pointer, diag.message)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_broken_configuration(make_env: Callable[..., Path], case: Case) -> None:
    root = _build(make_env, case)
    report = validate_environment(root, "dev")
    seen = [d for d in report.diagnostics if d.severity != "info"]
    assert sorted(map(_seen, seen)) == sorted((e.severity, e.file, e.line, e.pointer, e.message) for e in case.expect)
    for want in case.expect:
        diag = next(d for d in seen if _seen(d) == (want.severity, want.file, want.line, want.pointer, want.message))
        if want.related is not None:
            assert tuple(f"{p.file}:{p.line}" for p in diag.related) == want.related
        if want.hint is not None:
            assert diag.hint is not None and want.hint in diag.hint
        if want.column is not None:
            assert diag.pos.column == want.column
    assert report.ok is case.valid
    if case.valid:
        assert load_environment(root, "dev").diagnostics == report.diagnostics
    else:
        assert report.resources is None
        with pytest.raises(ConfigError):
            load_environment(root, "dev")


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 35
    assert len({c.id for c in CASES}) == len(CASES)
    fixture_dirs = {p.name for p in BROKEN.iterdir() if p.is_dir()}
    assert fixture_dirs == {c.id for c in CASES if c.fixture}, "every fixture folder belongs to one case"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_diagnostic_is_one_readable_line(make_env: Callable[..., Path], case: Case) -> None:
    root = _build(make_env, case)
    for diag in validate_environment(root, "dev").diagnostics:
        line = diag.format()
        assert "\n" not in line
        assert line.startswith(f"{diag.pos}: ")  # "file:line", or just "file" for a whole file or folder
        assert "Xy8Q~" not in line  # the literal secret of literal-client-secret is never echoed


CLI_CASES = ["yaml-syntax-error", "tab-indentation", "duplicate-key", "unresolved-variable", "variable-of-wrong-type",
             "json-syntax-error", "empty-environment-folder", "bad-filter-with-column", "unix-cron-5-fields",
             "list-not-mapping", "literal-client-secret", "source-property-wrong-case", "source-property-typo",
             "filter-property-typo", "bad-mode-does-not-hide-a-5-field-cron"]


@pytest.mark.parametrize("case_id", CLI_CASES)
def test_cli_reports_each_problem_as_one_line(
    make_env: Callable[..., Path], case_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    case = next(c for c in CASES if c.id == case_id)
    root = _build(make_env, case)
    code = run(["validate", "--root", str(root), "--env", "dev"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in out + err
    assert "Xy8Q~" not in out + err
    lines = err.splitlines()
    for want in case.expect:
        prefix = f"error: {want.file}:{want.line}" if want.line else f"error: {want.file}: "
        assert any(line.startswith(prefix) and want.message.rstrip(".") in line for line in lines), (prefix, err)
    assert "dev: " in out and "error(s)" in out


def test_cli_prints_the_variable_and_both_positions(
    make_env: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root = _build(make_env, next(c for c in CASES if c.id == "variable-of-wrong-type"))
    assert run(["validate", "--root", str(root), "--env", "dev"]) == 1
    err = capsys.readouterr().err
    assert (
        "error: environments/dev/connector.yaml:16:13: /spec/pageSize: expected an integer, got \"all\" "
        "(from variable 'page_size'). Give variable 'page_size' an integer as its value. "
        "(see environments/dev/environment.yaml:16:16)"
    ) in err


def test_cli_warning_keeps_exit_zero(make_env: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    root = _build(make_env, next(c for c in CASES if c.id == "unmapped-required-property"))
    assert run(["validate", "--root", str(root), "--env", "dev"]) == 0
    out, err = capsys.readouterr()
    assert "environments/dev/mapping.yaml:11:5: /spec/properties: warning: required alpha_user property 'sn'" in err
    assert "1 warning(s)" in out


def test_cli_json_lists_the_diagnostics(make_env: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    root = _build(make_env, next(c for c in CASES if c.id == "unknown-action"))
    assert run(["validate", "--root", str(root), "--env", "dev", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is False
    [env] = data["environments"]
    errors = [d for d in env["diagnostics"] if d["severity"] == "error"]
    assert errors == [{
        "severity": "error", "message": 'unknown action "REMOVE"',
        "hint": "Allowed: CREATE, UPDATE, DELETE, LINK, UNLINK, EXCEPTION, IGNORE, REPORT, NOREPORT, ASYNC",
        "file": MAPPING, "line": 21, "column": 18, "pointer": "/spec/policies/rules/LINK_ONLY", "related": [],
    }]
