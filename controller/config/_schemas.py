"""JSON Schemas of the resource kinds, generated from the models, and schema errors as diagnostics.

The committed files in `schemas/` are the published contract (editors complete against them);
they are produced by `make schemas` from the same function used here, and a test keeps them equal.
"""

from __future__ import annotations

import difflib
import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, relevance

from controller.config._resolve import URL_CREDENTIALS, Resolution, hide_url_credentials
from controller.config._yaml import Document, escape_pointer
from controller.config.models import HTTPS_URL_PATTERN, KINDS, SCOPE_PATTERN
from controller.diagnostics import Diagnostic, SourcePos

__all__ = ["SCHEMA_BASE_URL", "SHIPPED_SCHEMAS", "generate_schema", "kind_schema", "schema_diagnostics",
           "schema_file_name"]

SCHEMA_BASE_URL = "https://idmctl.dev/schemas/v1"


def schema_file_name(kind: str) -> str:
    return f"{kind.lower()}.schema.json"


# The schemas as generated, shipped in the package (`make schemas` writes them here and to `schemas/`;
# a test keeps both equal to `generate_schema`): reading one costs ~0.1 ms, generating the five from
# the models ~13 ms of every command that loads a working tree.
SHIPPED_SCHEMAS = Path(__file__).with_name("schemas")


def generate_schema(kind: str) -> dict[str, Any]:
    """The Draft 2020-12 schema of one kind, generated from its model."""
    model = KINDS[kind]
    schema = model.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE_URL}/{schema_file_name(kind)}",
        **schema,
    }


@cache
def kind_schema(kind: str) -> dict[str, Any]:
    """The Draft 2020-12 schema of one kind, as committed in `schemas/` (read from the package's copy)."""
    KINDS[kind]  # a KeyError for a kind that has none, as generating it would raise
    loaded: dict[str, Any] = json.loads((SHIPPED_SCHEMAS / schema_file_name(kind)).read_text(encoding="utf-8"))
    return loaded


@cache
def _validator(kind: str) -> Draft202012Validator:
    return Draft202012Validator(kind_schema(kind))


def _describe(value: Any) -> str:
    text = hide_url_credentials(json.dumps(value, ensure_ascii=False, default=str))
    return text if len(text) <= 60 else text[:57] + "..."


_TYPE_WORDS = {
    "string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
    "object": "a mapping", "array": "a list", "null": "null",
}


def _type_word(t: Any) -> str:
    if isinstance(t, list):
        return " or ".join(_TYPE_WORDS.get(str(x), str(x)) for x in t)
    return _TYPE_WORDS.get(str(t), str(t))


def _widen(t: Any) -> set[str]:
    """The JSON types a schema ``type`` accepts (an integer is also a number)."""
    types = set(t if isinstance(t, list) else [t])
    return types | {"integer"} if "number" in types else types


def _unquoted_type(text: str) -> str | None:
    """The JSON type ``text`` would have had without quotes (``"999"`` -> integer)."""
    if text.lower() in ("true", "false"):
        return "boolean"
    try:
        json.loads(text)
    except ValueError:
        return None
    return "integer" if text.lstrip("-").isdigit() else "number"


def _json_kind(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "scalar-" + str(value)  # true/false/null are their own kinds here
    if isinstance(value, int | float):
        return "number"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), "other")


def _wrong_type(error: ValidationError) -> bool:
    """Whether this branch error only says the value has another type than the branch wants."""
    if error.relative_path:
        return False
    if error.validator == "type":
        return True
    if error.validator in ("enum", "const"):
        expected: Any = error.validator_value
        values = expected if error.validator == "enum" else [expected]
        kind = _json_kind(error.instance)
        return all(_json_kind(v) != kind for v in values)
    return False


def _leaves(error: ValidationError) -> list[ValidationError]:
    """The errors that explain ``error``: for anyOf/oneOf (nullable fields, unions), those of the
    branch the value was meant for: the discriminator's, else one whose type fits the value."""
    if not error.context:
        return [error]
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    instance: Any = error.instance
    disc = schema.get("discriminator")
    if disc and isinstance(instance, dict) and isinstance(schema.get("oneOf"), list):
        prop = disc["propertyName"]
        ref = disc["mapping"].get(instance.get(prop)) if isinstance(instance.get(prop), str) else None
        if ref is None:  # a tag no branch takes: say so on the tag itself
            return [ValidationError(
                f"unknown {prop}", validator="enum", validator_value=list(disc["mapping"]),
                instance=instance.get(prop), schema={}, path=[*error.absolute_path, prop],
                schema_path=["discriminator"])]
        chosen = [i for i, branch in enumerate(schema["oneOf"]) if branch.get("$ref") == ref]
        return [leaf for sub in branches.get(chosen[0], []) for leaf in _leaves(sub)] if chosen else [error]
    fitting = [sub for subs in branches.values() if not any(map(_wrong_type, subs)) for sub in subs]
    best = max(fitting or error.context, key=relevance)  # not best_match: it descends itself
    return [leaf for sub in branches[best.relative_schema_path[0]] for leaf in _leaves(sub)]


def _pointer(path: Any) -> str:
    return "".join(f"/{escape_pointer(p)}" for p in path)


def schema_diagnostics(doc: Document, kind: str, resolution: Resolution) -> list[Diagnostic]:
    """Validate one resolved document against its kind's schema; one diagnostic per problem."""
    diags: list[Diagnostic] = []
    seen: set[tuple[str, str]] = set()
    for top in sorted(_validator(kind).iter_errors(doc.data), key=lambda e: list(map(str, e.absolute_path))):
        for diag in (d for leaf in _leaves(top) for d in _translate(leaf, doc, kind, resolution)):
            key = (diag.pointer or "", diag.message)
            if key not in seen:
                seen.add(key)
                diags.append(diag)
    return diags


def _translate(error: ValidationError, doc: Document, kind: str, res: Resolution) -> list[Diagnostic]:
    pointer = _pointer(error.absolute_path)
    # jsonschema types these as "or Unset"; an error from iter_errors always has them.
    instance: Any = error.instance
    expected: Any = error.validator_value
    schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    pos = doc.pos(pointer)
    if isinstance(instance, dict | list) and pointer in doc.key_positions:
        pos = doc.key_positions[pointer]  # a block value starts a line late: point at its key
    related: tuple[SourcePos, ...] = ()
    suffix = ""
    if pointer in res.from_variable:
        name, vpos = res.from_variable[pointer]
        related = (vpos,)
        suffix = f" (from variable {name!r})"
    v = error.validator
    if v == "required":
        props = schema.get("properties", {})
        missing = [p for p in expected if p not in instance]
        out = []
        for field in missing:
            child = f"{pointer}/{escape_pointer(field)}"
            if child in res.removed:
                name, vpos = res.removed[child]
                out.append(Diagnostic(
                    "error", f"required field {field!r} is null: variable {name!r} is null",
                    f"Give variable {name!r} a value in the Environment resource", doc.pos(child), child,
                    related=(vpos,)))
            else:
                desc = props.get(field, {}).get("description")
                out.append(Diagnostic(
                    "error", f"missing required field {field!r}",
                    f"Add {field}: ..." + (f" ({desc.rstrip('.')})" if desc else ""), pos, pointer or None))
        return out
    if v in ("additionalProperties", "unevaluatedProperties"):
        allowed = sorted(schema.get("properties", {}))
        out = []
        for extra in sorted(set(instance) - set(allowed)):
            child = f"{pointer}/{escape_pointer(extra)}"
            close = difflib.get_close_matches(extra, allowed, n=1)
            hint = f"Did you mean {close[0]!r}?" if close else f"Allowed fields: {', '.join(allowed)}"
            out.append(Diagnostic("error", f"unknown field {extra!r}", hint,
                                  doc.key_positions.get(child, doc.pos(child)), child))
        return out
    if v == "type":
        word = _type_word(expected)
        if pointer in res.from_variable:
            hint = f"Give variable {res.from_variable[pointer][0]!r} {word} as its value"
        elif isinstance(instance, str) and _unquoted_type(instance) in _widen(expected):
            hint = "Remove the quotes: a quoted value is a string"
        else:
            hint = f"Write {word} here"
        return [Diagnostic("error", f"expected {word}, got {_describe(instance)}{suffix}", hint, pos,
                           pointer, related=related)]
    if v in ("enum", "const") and "propertyNames" in error.absolute_schema_path:
        # a mapping key outside its enum (a situation name): point at the key itself
        child = f"{pointer}/{escape_pointer(instance)}"
        allowed = [str(a) for a in expected]
        close = difflib.get_close_matches(str(instance), allowed, n=1)
        what = "situation" if "CONFIRMED" in allowed else "key"
        hint = (f"Did you mean {close[0]!r}? " if close else "") + "Allowed: " + ", ".join(allowed)
        return [Diagnostic("error", f"unknown {what} {_describe(instance)}", hint,
                           doc.key_positions.get(child, pos), child)]
    if v in ("enum", "const"):
        allowed = expected if v == "enum" else [expected]
        close = difflib.get_close_matches(str(instance), [str(a) for a in allowed], n=1)
        hint = (f"Did you mean {close[0]!r}? " if close else "") + "Allowed: " + ", ".join(map(str, allowed))
        what = "action" if "UNLINK" in allowed else "value"
        return [Diagnostic("error", f"unknown {what} {_describe(instance)}{suffix}",
                           hint, pos, pointer, related=related)]
    if v == "pattern" and "propertyNames" in error.absolute_schema_path:
        child = f"{pointer}/{escape_pointer(instance)}"
        noun = {"variables": "variable", "secrets": "secret"}.get(pointer.rsplit("/", 1)[-1], "key")
        return [Diagnostic("error", f"{instance!r} is not a valid {noun} name",
                           "Start with a letter or '_' and use only letters, digits and '_'",
                           doc.key_positions.get(child, pos), child)]
    if v == "pattern":
        field = pointer.rsplit("/", 1)[-1]
        if "secret" in expected:
            return [Diagnostic("error", f"{field} must be a ${{secret.NAME}} reference, not a literal value",
                               "Never put a secret in git: declare it under spec.secrets of the Environment "
                               "(fromEnv or fromFile) and write ${secret.NAME} here", pos, pointer)]
        if expected.startswith("^[a-z0-9]"):
            return [Diagnostic("error", f"{_describe(instance)} is not a valid name{suffix}",
                               "Names use lower-case letters, digits and '-', at most 63 characters",
                               pos, pointer, related=related)]
        if expected in (HTTPS_URL_PATTERN, SCOPE_PATTERN):
            if isinstance(instance, str) and URL_CREDENTIALS.search(instance):
                return [Diagnostic("error", f"{field} {_describe(instance)} has a user name or password "
                                   "in its URL", "Remove them: the connector signs in with clientId and "
                                   "clientSecret, and plans and logs show this URL", pos, pointer)]
            if expected == SCOPE_PATTERN:
                return [Diagnostic("error", f"{field} {_describe(instance)} has an '@', which no OAuth "
                                   f"scope has{suffix}", "Write the scope, e.g. https://graph.microsoft.com/.default",
                                   pos, pointer, related=related)]
            return [Diagnostic("error", f"{field} {_describe(instance)} is not an https:// URL{suffix}",
                               "Use https:// (Entra and Graph speak TLS only)", pos, pointer, related=related)]
        return [Diagnostic("error", f"{_describe(instance)} does not match {expected}"
                           f"{suffix}", None, pos, pointer, related=related)]
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        word = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than",
                "exclusiveMaximum": "less than"}[v]
        bounds = [f"{w} {schema[k]}" for k, w in (("minimum", "at least"), ("exclusiveMinimum", "more than"),
                                                   ("maximum", "at most"), ("exclusiveMaximum", "less than"))
                  if k in schema]
        field = pointer.rsplit("/", 1)[-1]
        desc = schema.get("description")
        hint = f"{field} takes a number {' and '.join(bounds)}" + (f" ({desc.rstrip('.')})" if desc else "")
        return [Diagnostic("error", f"{_describe(instance)} is out of range: must be {word} "
                           f"{expected}{suffix}", hint, pos, pointer, related=related)]
    if v in ("minLength", "minItems"):
        return [Diagnostic("error", f"{_describe(instance)} is empty{suffix}",
                           "Give at least one value", pos, pointer, related=related)]
    return [Diagnostic("error", error.message + suffix, None, pos, pointer, related=related)]
