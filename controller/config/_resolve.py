"""Resolve ``${var.x}`` and check ``${secret.x}`` references against the Environment resource.

A value that is exactly one ``${var.x}`` takes the variable's YAML type; a null variable removes an
optional field; ``$${`` is a literal ``${``. Secret references are checked (the name must exist) and
left in place: values are read only when a connector needs them, so they never enter desired state.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import BaseModel

from controller.config._yaml import Document
from controller.config.models import KINDS, SECRET_REF_PATTERN
from controller.diagnostics import Diagnostic, SourcePos

__all__ = ["REF", "URL_CREDENTIALS", "Resolution", "credentials_from_variables", "find_references",
           "hide_url_credentials", "is_secret_field", "resolve_document", "secret_fields"]

# ${var.name} / ${secret.name}; `$${` escapes. Names follow identifier rules.
REF = re.compile(r"\$\$\{|\$\{\s*([A-Za-z_]+)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}|\$\{[^}]*\}?")


# The user name and password of a URL (scheme://user:password@host), wherever in a text it stands.
URL_CREDENTIALS = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@\s]*@")


def hide_url_credentials(text: str) -> str:
    """``text`` with the credentials of every URL in it replaced by ``***``: safe to print."""
    return URL_CREDENTIALS.sub(r"\1***@", text)


def credentials_from_variables(res: Resolution, variables: dict[str, Any]) -> set[str]:
    """Pointers whose value has URL credentials only because a variable's value has them: those are
    reported once, at the variable, not again at every field that uses it."""
    def tainted(value: Any) -> bool:
        if isinstance(value, str):
            return URL_CREDENTIALS.search(value) is not None
        if isinstance(value, dict):
            return any(tainted(v) for v in value.values())
        return isinstance(value, list) and any(tainted(v) for v in value)

    return {pointer for pointer, (name, _) in res.from_variable.items()
            if tainted(variables.get(name)) and not URL_CREDENTIALS.search(res.raw.get(pointer, ""))}


def find_references(text: str) -> Iterator[tuple[str, str, int]]:
    """Every well-formed ``${kind.name}`` in ``text`` (escapes skipped): (kind, name, 0-based offset)."""
    for m in REF.finditer(text):
        if m.group(1) is not None:
            yield m.group(1), m.group(2), m.start()


@cache
def secret_fields(kind: str) -> tuple[tuple[str, ...], ...]:
    """The paths of a kind's secret fields: those the models mark with the ``${secret.NAME}`` pattern.
    Each path is a tuple of JSON pointer tokens, ``*`` standing for any list index or mapping key."""
    found: list[tuple[str, ...]] = []

    def walk(annotation: Any, path: tuple[str, ...], seen: frozenset[type]) -> None:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            walk(typing.get_args(annotation)[0], path, seen)
        elif origin in (typing.Union, types.UnionType):
            for arg in typing.get_args(annotation):
                walk(arg, path, seen)
        elif origin in (list, tuple, set, frozenset):
            for arg in typing.get_args(annotation):
                walk(arg, (*path, "*"), seen)
        elif origin is dict:
            walk(typing.get_args(annotation)[1], (*path, "*"), seen)
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel) and annotation not in seen:
            for name, info in annotation.model_fields.items():
                child = (*path, info.alias or name)
                if any(getattr(m, "pattern", None) == SECRET_REF_PATTERN for m in info.metadata):
                    found.append(child)
                walk(info.annotation, child, seen | {annotation})

    walk(KINDS[kind], (), frozenset())
    return tuple(found)


def is_secret_field(kind: str, pointer: str) -> bool:
    """Whether ``pointer`` (e.g. ``/spec/clientSecret``) is a field of ``kind`` that takes a secret."""
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]
    return any(len(path) == len(tokens) and all(p in ("*", t) for p, t in zip(path, tokens, strict=True))
               for path in secret_fields(kind))


@dataclass
class Resolution:
    """What resolution did to one document, for messages about resolved values."""

    # pointer -> position of the variable that produced the value (environment.yaml)
    from_variable: dict[str, tuple[str, SourcePos]] = field(default_factory=dict)
    # pointer of a field removed because its variable is null -> (variable name, its position)
    removed: dict[str, tuple[str, SourcePos]] = field(default_factory=dict)
    # pointers whose value is a secret reference
    secret_refs: dict[str, str] = field(default_factory=dict)
    # pointer -> the text as written, for every string that held a reference
    raw: dict[str, str] = field(default_factory=dict)


def resolve_document(
    doc: Document,
    resource_kind: str,
    variables: dict[str, Any],
    variable_pos: dict[str, SourcePos],
    secrets: set[str],
) -> tuple[Resolution, list[Diagnostic]]:
    """Resolve references in ``doc.data`` (a resource of ``resource_kind``) in place; return what happened
    and any problems. A secret may only be the whole value of a field the models mark as a secret."""
    res = Resolution()
    diags: list[Diagnostic] = []

    def resolve_str(text: str, pointer: str) -> tuple[Any, bool]:
        """Return (value, remove_field)."""
        if "${" in text:
            res.raw[pointer] = text
        whole = REF.fullmatch(text)
        if whole and whole.group(1) is not None:
            return resolve_ref(whole.group(1), whole.group(2), text, pointer, whole=True)
        if "${" not in text:
            return text, False
        out: list[str] = []
        pos = 0
        for m in REF.finditer(text):
            out.append(text[pos:m.start()])
            pos = m.end()
            if m.group(0) == "$${":
                out.append("${")
                continue
            if m.group(1) is None:
                diags.append(Diagnostic(
                    "error", f"malformed reference {m.group(0)!r}",
                    "Write ${var.NAME} or ${secret.NAME}; write $${ for a literal ${",
                    doc.pos(pointer), pointer))
                out.append(m.group(0))
                continue
            value, _ = resolve_ref(m.group(1), m.group(2), m.group(0), pointer, whole=False)
            if value is None:
                value = ""
            if isinstance(value, dict | list):
                diags.append(Diagnostic(
                    "error", f"variable {m.group(2)!r} holds a {'mapping' if isinstance(value, dict) else 'list'} "
                    "and cannot be "
                    "embedded in a string", "Use the reference as the whole value",
                    doc.pos(pointer), pointer, related=(variable_pos[m.group(2)],)))
                value = ""
            elif isinstance(value, bool):
                value = "true" if value else "false"
            out.append(str(value))
        out.append(text[pos:])
        return "".join(out), False

    def resolve_ref(kind: str, name: str, text: str, pointer: str, *, whole: bool) -> tuple[Any, bool]:
        if kind == "var":
            if name not in variables:
                known = ", ".join(sorted(variables)) or "none"
                diags.append(Diagnostic(
                    "error", f"unresolved variable {name!r} in {text!r}",
                    f"Define it under spec.variables of this environment's Environment resource "
                    f"(defined: {known})", doc.pos(pointer), pointer))
                return text, False
            value = variables[name]
            res.from_variable[pointer] = (name, variable_pos[name])
            if whole and value is None:
                res.removed[pointer] = (name, variable_pos[name])
                return None, True
            return value, False
        if kind == "secret":
            if not whole:
                diags.append(Diagnostic(
                    "error", f"a secret reference {text!r} is embedded in a string",
                    "A secret must be the whole value of a field such as clientSecret",
                    doc.pos(pointer), pointer))
                return text, False
            if not is_secret_field(resource_kind, pointer):
                field_name = pointer.rsplit("/", 1)[-1].replace("~1", "/").replace("~0", "~")
                allowed = [path[-1] for path in secret_fields(resource_kind)]
                where = (f"Only {', '.join(allowed)} take{'s' if len(allowed) == 1 else ''} a secret"
                         if allowed else f"A {resource_kind} has no secret field")
                diags.append(Diagnostic(
                    "error", f"{field_name} is not a secret field and cannot take {text!r}",
                    f"{where}; write the value or a ${{var.NAME}} here (plans, state and logs show it)",
                    doc.pos(pointer), pointer))
                return text, False
            if name not in secrets:
                known = ", ".join(sorted(secrets)) or "none"
                diags.append(Diagnostic(
                    "error", f"unresolved secret {name!r}",
                    f"Declare it under spec.secrets of the Environment resource with fromEnv or "
                    f"fromFile (declared: {known})", doc.pos(pointer), pointer))
                return text, False
            res.secret_refs[pointer] = name
            return text, False
        diags.append(Diagnostic(
            "error", f"unknown reference kind {kind!r} in {text!r}",
            "Only ${var.NAME} and ${secret.NAME} are supported; write $${ for a literal ${",
            doc.pos(pointer), pointer))
        return text, False

    def walk(node: Any, pointer: str) -> Any:
        if isinstance(node, dict):
            for key in list(node):
                child = f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}"
                value = node[key]
                if isinstance(value, str):
                    new, remove = resolve_str(value, child)
                    if remove:
                        del node[key]
                    else:
                        node[key] = new
                else:
                    walk(value, child)
            return node
        if isinstance(node, list):
            for i, value in enumerate(node):
                child = f"{pointer}/{i}"
                if isinstance(value, str):
                    new, _remove = resolve_str(value, child)
                    node[i] = new  # a null variable inside a list stays null
                else:
                    walk(value, child)
        return node

    walk(doc.data, "")
    return res, diags
