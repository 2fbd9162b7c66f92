"""The published JSON Schemas: equal to the models, usable by a stock validator and by editors.

The shipped environments are checked against the committed `schemas/` files with a plain
`jsonschema.Draft202012Validator`, after a resolution written here from the documented rules
(not the loader's), so that an editor or CI job without idmctl sees the same verdict.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

from controller.config import KINDS, kind_schema, schema_file_name
from controller.config._schemas import SHIPPED_SCHEMAS, generate_schema
from controller.config.schemagen import render_schemas

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "schemas"
SHIPPED = sorted(p for p in (REPO / "environments").glob("*/*") if p.suffix in (".yaml", ".yml", ".json"))
HEADER = re.compile(r"^# yaml-language-server: \$schema=\.\./\.\./schemas/([a-z]+\.schema\.json)$")
WHOLE = re.compile(r"^\$\{var\.([A-Za-z_][A-Za-z0-9_]*)\}$")
EMBEDDED = re.compile(r"\$\$\{|\$\{var\.([A-Za-z_][A-Za-z0-9_]*)\}")


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(REPO)) for p in paths]


@cache
def _validator(file_name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / file_name).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _documents(path: Path) -> list[Any]:
    return [doc for doc in YAML(typ="safe", pure=True).load_all(path.read_text(encoding="utf-8")) if doc is not None]


def _resolve(node: Any, variables: dict[str, Any]) -> Any:
    """DESIGN.md's rules: a whole ${var.x} takes the variable's type, null drops the field, $${ is ${."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if isinstance(value, str) and (m := WHOLE.match(value)) and variables[m.group(1)] is None:
                continue
            out[key] = _resolve(value, variables)
        return out
    if isinstance(node, list):
        return [_resolve(v, variables) for v in node]
    if isinstance(node, str):
        if m := WHOLE.match(node):
            return variables[m.group(1)]
        return EMBEDDED.sub(lambda m: "${" if m.group(0) == "$${" else str(variables[m.group(1)]), node)
    return node


def _resolved(path: Path) -> list[Any]:
    env = _documents(path.parent / "environment.yaml")[0]
    variables = env.get("spec", {}).get("variables", {})
    return [_resolve(doc, variables) for doc in _documents(path)]


# --- (a) drift ------------------------------------------------------------------------------------


@pytest.mark.parametrize("directory", [SCHEMAS, SHIPPED_SCHEMAS], ids=["schemas", "package"])
def test_committed_schemas_equal_the_models(directory: Path) -> None:
    """Both copies: `schemas/` (published) and the package's, which validation reads instead of generating."""
    where = directory.relative_to(REPO)
    rendered = render_schemas()
    committed = {p.name: p.read_text(encoding="utf-8") for p in directory.glob("*.schema.json")}
    assert sorted(committed) == sorted(rendered), f"{where}/ holds other files than the kinds: run make schemas"
    stale = [name for name, text in rendered.items() if committed[name] != text]
    assert not stale, f"{where}/{', '.join(stale)} differ from the models: run make schemas and commit"


def test_validation_reads_the_schemas_the_models_generate() -> None:
    for kind in KINDS:
        assert kind_schema(kind) == generate_schema(kind)
    with pytest.raises(KeyError):
        kind_schema("Nothing")


def test_one_schema_per_kind() -> None:
    assert sorted(render_schemas()) == sorted(schema_file_name(kind) for kind in KINDS)
    for kind in KINDS:
        schema = json.loads((SCHEMAS / schema_file_name(kind)).read_text(encoding="utf-8"))
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"].endswith("/" + schema_file_name(kind))
        assert schema["properties"]["kind"]["const"] == kind
        assert schema["properties"]["apiVersion"]["const"] == "idmctl/v1"
        assert '"$ref": "http' not in json.dumps(schema)  # self-contained: editors need no network


# --- (b) the shipped files validate with a stock validator -----------------------------------------


def test_every_environment_ships_files() -> None:
    envs = {p.parent.name for p in SHIPPED}
    assert {"dev", "prod", "demo"} <= envs
    for env in envs:
        assert (REPO / "environments" / env / "environment.yaml").is_file()


@pytest.mark.parametrize("path", SHIPPED, ids=_ids(SHIPPED))
def test_shipped_file_validates_with_a_stock_validator(path: Path) -> None:
    for doc in _resolved(path):
        validator = _validator(schema_file_name(doc["kind"]))
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]
        assert not errors, errors


def test_resolution_here_matches_what_the_schema_needs() -> None:
    """Sanity of the helper: without resolution the connector breaks the schema (pageSize aside)."""
    path = REPO / "environments" / "demo" / "connector.yaml"
    [raw] = _documents(path)
    [resolved] = _resolved(path)
    validator = _validator("connector.schema.json")
    assert list(validator.iter_errors(raw))  # "${var.entra_login}" is not an https:// URL
    assert resolved["spec"]["caBundle"] == ".emulator/ca.pem"
    assert "caBundle" not in _resolved(REPO / "environments" / "prod" / "connector.yaml")[0]["spec"]


@pytest.mark.parametrize(
    ("file_name", "path", "value"),
    [
        ("connector.schema.json", ("spec", "clientSecret"), "Xy8Q~literal-secret-value"),
        ("connector.schema.json", ("spec", "pageSize"), 1000),
        ("connector.schema.json", ("spec", "proxy"), "http://proxy:3128"),
        ("mapping.schema.json", ("spec", "policies", "rules", "GONE"), "DELETE"),
        ("mapping.schema.json", ("spec", "policies", "rules", "LINK_ONLY"), "REMOVE"),
        ("mapping.schema.json", ("spec", "targetScope"), "everything"),
        ("schedule.schema.json", ("spec", "misfirePolicy"), "fireNow"),
        ("application.schema.json", ("metadata", "name"), "Microsoft Entra ID"),
        ("environment.schema.json", ("spec", "variables", "entra-tenant"), "x"),
    ],
)
def test_stock_validator_rejects_broken_files(file_name: str, path: tuple[str, ...], value: Any) -> None:
    """The schemas are not vacuous: what validate rejects, an editor rejects too."""
    kind = file_name.split(".")[0]
    [doc] = _resolved(REPO / "environments" / "dev" / f"{kind}.yaml")
    node = doc
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    assert list(_validator(file_name).iter_errors(doc))


# --- (c) editor headers -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [p for p in SHIPPED if p.suffix != ".json"],
                         ids=_ids([p for p in SHIPPED if p.suffix != ".json"]))
def test_shipped_file_names_its_schema_on_the_first_line(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    m = HEADER.match(first)
    assert m, f"{path.name}: first line must be '# yaml-language-server: $schema=../../schemas/<kind>.schema.json'"
    assert (path.parent / "../../schemas" / m.group(1)).resolve().is_file()
    kinds = {doc["kind"] for doc in _documents(path)}
    assert {schema_file_name(k) for k in kinds} == {m.group(1)}, "the header names the schema of the file's kind"


# --- (d) descriptions ---------------------------------------------------------------------------------


def _spec_properties(schema: dict[str, Any]) -> dict[str, Any]:
    spec = schema["properties"]["spec"]
    ref = spec["$ref"]
    assert ref.startswith("#/$defs/")
    return schema["$defs"][ref.removeprefix("#/$defs/")]["properties"]


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_spec_property_has_a_description(kind: str) -> None:
    schema = json.loads((SCHEMAS / schema_file_name(kind)).read_text(encoding="utf-8"))
    missing = [name for name, prop in _spec_properties(schema).items() if not prop.get("description")]
    assert not missing, f"{kind} spec properties without a description: {missing}"


def test_schemas_carry_examples() -> None:
    """Editors complete from examples: every kind offers at least one."""
    for kind in KINDS:
        text = (SCHEMAS / schema_file_name(kind)).read_text(encoding="utf-8")
        assert '"examples"' in text, kind
