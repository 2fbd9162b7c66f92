"""JSON Schemas of the resource kinds, generated from the models, and schema errors as diagnostics.

The committed files in `schemas/` are the published contract (editors complete against them);
they are produced by `make schemas` from the same function used here, and a test keeps them equal.
"""

from __future__ import annotations

import difflib
import json
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from controller.config._resolve import Resolution
from controller.config._yaml import Document, escape_pointer
from controller.config.models import KINDS
from controller.diagnostics import Diagnostic

__all__ = ["SCHEMA_BASE_URL", "kind_schema", "schema_file_name", "schema_diagnostics"]

SCHEMA_BASE_URL = "https://idmctl.dev/schemas/v1"


def schema_file_name(kind: str) -> str:
    return f"{kind.lower()}.schema.json"


@cache
def kind_schema(kind: str) -> dict[str, Any]:
    """The Draft 2020-12 schema of one kind, as committed in `schemas/`."""
    model = KINDS[kind]
    schema = model.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE_URL}/{schema_file_name(kind)}",
        **schema,
    }


@cache
def _validator(kind: str) -> Draft202012Validator:
    return Draft202012Validator(kind_schema(kind))


def _describe(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


_TYPE_WORDS = {
    "string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
    "object": "a mapping", "array": "a list", "null": "null",
}


def _type_word(t: Any) -> str:
    if isinstance(t, list):
        return " or ".join(_TYPE_WORDS.get(x, x) for x in t)
    return _TYPE_WORDS.get(t, str(t))


def _leaf(error: ValidationError) -> ValidationError:
    # anyOf/oneOf (nullable fields, unions): the most relevant branch explains best.
    while error.context:
        error = best_match(error.context)
    return error


def _pointer(path: Any) -> str:
    return "".join(f"/{escape_pointer(p)}" for p in path)


def schema_diagnostics(doc: Document, kind: str, resolution: Resolution) -> list[Diagnostic]:
    """Validate one resolved document against its kind's schema; one diagnostic per problem."""
    diags: list[Diagnostic] = []
    seen: set[tuple[str, str]] = set()
    for top in sorted(_validator(kind).iter_errors(doc.data), key=lambda e: list(map(str, e.absolute_path))):
        for diag in _translate(_leaf(top), doc, kind, resolution):
            key = (diag.pointer or "", diag.message)
            if key not in seen:
                seen.add(key)
                diags.append(diag)
    return diags


def _translate(error: ValidationError, doc: Document, kind: str, res: Resolution) -> list[Diagnostic]:
    pointer = _pointer(error.absolute_path)
    pos = doc.pos(pointer)
    related = ()
    suffix = ""
    if pointer in res.from_variable:
        name, vpos = res.from_variable[pointer]
        related = (vpos,)
        suffix = f" (from variable {name!r})"
    v = error.validator
    if v == "required":
        props = error.schema.get("properties", {})
        missing = [p for p in error.validator_value if p not in error.instance]
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
        allowed = sorted(error.schema.get("properties", {}))
        out = []
        for extra in sorted(set(error.instance) - set(allowed)):
            child = f"{pointer}/{escape_pointer(extra)}"
            close = difflib.get_close_matches(extra, allowed, n=1)
            hint = f"Did you mean {close[0]!r}?" if close else f"Allowed fields: {', '.join(allowed)}"
            out.append(Diagnostic("error", f"unknown field {extra!r}", hint,
                                  doc.key_positions.get(child, doc.pos(child)), child))
        return out
    if v == "type":
        return [Diagnostic("error", f"expected {_type_word(error.validator_value)}, got "
                           f"{_describe(error.instance)}{suffix}", None, pos, pointer, related=related)]
    if v in ("enum", "const") and "propertyNames" in error.absolute_schema_path:
        # a mapping key outside its enum (a situation name): point at the key itself
        child = f"{pointer}/{escape_pointer(error.instance)}"
        allowed = [str(a) for a in error.validator_value]
        close = difflib.get_close_matches(str(error.instance), allowed, n=1)
        what = "situation" if "CONFIRMED" in allowed else "key"
        hint = (f"Did you mean {close[0]!r}? " if close else "") + "Allowed: " + ", ".join(allowed)
        return [Diagnostic("error", f"unknown {what} {_describe(error.instance)}", hint,
                           doc.key_positions.get(child, pos), child)]
    if v in ("enum", "const"):
        allowed = error.validator_value if v == "enum" else [error.validator_value]
        close = difflib.get_close_matches(str(error.instance), [str(a) for a in allowed], n=1)
        hint = (f"Did you mean {close[0]!r}? " if close else "") + "Allowed: " + ", ".join(map(str, allowed))
        what = "action" if "UNLINK" in allowed else "value"
        return [Diagnostic("error", f"unknown {what} {_describe(error.instance)}{suffix}",
                           hint, pos, pointer, related=related)]
    if v == "pattern":
        field = pointer.rsplit("/", 1)[-1]
        if "secret" in error.validator_value:
            return [Diagnostic("error", f"{field} must be a ${{secret.NAME}} reference, not a literal value",
                               "Never put a secret in git: declare it under spec.secrets of the Environment "
                               "(fromEnv or fromFile) and write ${secret.NAME} here", pos, pointer)]
        if error.validator_value.startswith("^[a-z0-9]"):
            return [Diagnostic("error", f"{_describe(error.instance)} is not a valid name{suffix}",
                               "Names use lower-case letters, digits and '-', at most 63 characters",
                               pos, pointer, related=related)]
        if error.validator_value == "^https://":
            return [Diagnostic("error", f"{field} {_describe(error.instance)} is not an https:// URL{suffix}",
                               "Use https:// (Entra and Graph speak TLS only)", pos, pointer, related=related)]
        return [Diagnostic("error", f"{_describe(error.instance)} does not match {error.validator_value}"
                           f"{suffix}", None, pos, pointer, related=related)]
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        word = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than",
                "exclusiveMaximum": "less than"}[v]
        return [Diagnostic("error", f"{_describe(error.instance)} is out of range: must be {word} "
                           f"{error.validator_value}{suffix}", None, pos, pointer, related=related)]
    if v in ("minLength", "minItems"):
        return [Diagnostic("error", f"{_describe(error.instance)} is empty{suffix}",
                           "Give at least one value", pos, pointer, related=related)]
    return [Diagnostic("error", error.message + suffix, None, pos, pointer, related=related)]
