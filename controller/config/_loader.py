"""Load one environment's files: parse, resolve references, validate, check; collect every problem.

`validate_environment` never raises for bad files: it returns a report with all diagnostics.
`load_environment` is the same but raises `ConfigError` when there is any error, so nothing
downstream (plan, apply, runs) ever sees an invalid configuration.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from controller.config._checks import Located, semantic_checks
from controller.config._resolve import Resolution, credentials_from_variables, resolve_document
from controller.config._resources import ResourceSet
from controller.config._schemas import schema_diagnostics
from controller.config._yaml import Document, escape_pointer, load_file
from controller.config.models import API_VERSION, KINDS, NAME_PATTERN
from controller.diagnostics import Diagnostic, SourcePos
from controller.errors import ConfigError, UsageError

__all__ = ["LoadedEnvironment", "ValidationReport", "environment_dir", "environment_names", "load_environment",
           "resource_files", "validate_environment"]

RESOURCE_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass
class ValidationReport:
    """Everything `validate` found; ``resources`` is set only when there is no error."""

    root: Path
    name: str
    files: list[Path] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    resources: ResourceSet | None = None
    # where each resource stands (address "Kind.name" -> its document), for later diagnostics
    documents: dict[str, Document] = field(default_factory=dict)

    def position(self, address: str, pointer: str = "/metadata/name") -> SourcePos | None:
        doc = self.documents.get(address)
        return doc.pos(pointer) if doc is not None else None

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class LoadedEnvironment:
    """A valid environment: its resources, the files they came from, and warnings."""

    root: Path
    name: str
    resources: ResourceSet
    files: list[Path]
    diagnostics: list[Diagnostic]


def environment_names(root: Path) -> list[str]:
    base = root / "environments"
    return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []


_ENVIRONMENT_NAME = re.compile(NAME_PATTERN)


def environment_dir(root: Path, name: str) -> Path:
    """environments/<name> of ``root``; raises `UsageError` for a name that cannot be an environment's
    (its Environment's metadata.name must equal it) or a folder that does not exist."""
    if not _ENVIRONMENT_NAME.fullmatch(name):
        shown = repr(name) if len(name) <= 40 else f"{name[:24]!r}... ({len(name)} characters)"
        known = ", ".join(n for n in environment_names(root) if _ENVIRONMENT_NAME.fullmatch(n)) or "none"
        raise UsageError(f"{shown} is not a valid environment name",
                         hint="An environment is a folder under environments/ named with lower-case letters, "
                         f"digits and '-', at most 63 characters; environments here: {known}")
    path = root / "environments" / name
    if not path.is_dir():
        known = ", ".join(environment_names(root)) or "none"
        raise UsageError(f"no environment {name!r}: {path} does not exist",
                         hint=f"Environments here: {known}")
    return path


def resource_files(env_dir: Path) -> list[Path]:
    """The resource files of ``env_dir`` (environments/<name> of a repository), sorted. A file that
    resolves outside the repository, or nowhere (a symbolic link), is left out; `validate` reports it."""
    return _scan(env_dir)[0]


_OUTSIDE_HINT = "Resource files are read from inside the repository only: copy the file in, or remove the link"
_DANGLING_HINT = "Point the link at a file of the repository, or remove it"


def _scan(env_dir: Path) -> tuple[list[Path], list[tuple[Path, str, str]]]:
    """(resource files, [(refused file, why, hint)]): a resource file must resolve inside the repository."""
    root = env_dir.parents[1].resolve()
    files: list[Path] = []
    refused: list[tuple[Path, str, str]] = []
    for path in sorted(env_dir.rglob("*")):
        if path.suffix not in RESOURCE_SUFFIXES or any(part.startswith(".")
                                                       for part in path.relative_to(env_dir).parts):
            continue
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python 3.11)
            if path.is_symlink():
                refused.append((path, f"is a symbolic link to {os.readlink(path)}, which does not exist",
                                _DANGLING_HINT))
            continue
        if not real.is_relative_to(root):
            refused.append((path, f"resolves to {real} (through a symbolic link), outside the repository",
                            _OUTSIDE_HINT))
        elif real.is_file():
            files.append(path)
    return files, refused


def _display(path: Path, root: Path) -> str:
    try:
        return os.path.relpath(path, Path.cwd()) if not path.is_relative_to(root) else \
            str(path.relative_to(root))
    except ValueError:
        return str(path)


def _check_header(doc: Document) -> tuple[str | None, list[Diagnostic]]:
    data = doc.data
    if not isinstance(data, dict):
        got = {"list": "a list", "str": "a string", "int": "a number", "float": "a number",
               "bool": "true or false"}.get(type(data).__name__, type(data).__name__)
        return None, [Diagnostic("error", f"a resource must be a mapping, got {got}",
                                 "Start the document with apiVersion: idmctl/v1 and kind: ...", doc.start)]
    kind = data.get("kind")
    diags = []
    if data.get("apiVersion") != API_VERSION:
        version = data.get("apiVersion")
        diags.append(Diagnostic(
            "error", "missing apiVersion" if version is None else f"apiVersion {version!r} is not supported",
            f"Use apiVersion: {API_VERSION}", doc.pos("/apiVersion"), "/apiVersion"))
    if kind not in KINDS:
        import difflib

        close = difflib.get_close_matches(str(kind), list(KINDS), n=1)
        diags.append(Diagnostic(
            "error", "missing kind" if kind is None else f"unknown kind {kind!r}",
            (f"Did you mean {close[0]!r}? " if close else "") + f"Kinds: {', '.join(KINDS)}",
            doc.pos("/kind"), "/kind"))
        return None, diags
    return kind, diags


def validate_environment(root: Path, name: str) -> ValidationReport:
    """Check every file of environments/<name>; collect all problems, raise none for bad files."""
    env_dir = environment_dir(root, name)
    files, refused = _scan(env_dir)
    report = ValidationReport(root=root, name=name, files=files)
    diags = report.diagnostics
    for path, why, hint in refused:
        # Never read: its content would be echoed in messages, plans and promoted copies.
        diags.append(Diagnostic("error", f"this file {why}; it is not read", hint, SourcePos(_display(path, root), 0)))
    docs: list[Document] = []
    for path in report.files:
        file_docs, file_diags = load_file(path, _display(path, root))
        docs.extend(file_docs)
        diags.extend(file_diags)
    if not report.files and not refused:
        diags.append(Diagnostic("error", f"environments/{name}/ holds no resource files",
                                "Add environment.yaml and the resource files (*.yaml)",
                                SourcePos(f"environments/{name}", 0)))
        return report

    # References to a resource that is broken (or in a file that does not parse) are not reported
    # as dangling: the one real error is reported where it is.
    unreadable = bool(diags)
    failed: dict[str, set[str]] = {}
    typed: list[tuple[str, Document]] = []
    for doc in docs:
        kind, header = _check_header(doc)
        diags.extend(header)
        if kind is not None and not header:
            typed.append((kind, doc))
        elif isinstance(doc.data, dict):
            # Another apiVersion has another schema: checking the fields against v1 would mislead.
            failed.setdefault(kind or "*", set()).add(_doc_name(doc))

    # environment.yaml is the Environment; any other one is the extra.
    env_docs = sorted((doc for kind, doc in typed if kind == "Environment"),
                      key=lambda d: Path(d.file).stem != "environment")
    if not env_docs:
        if not any(d.severity == "error" for d in diags):
            diags.append(Diagnostic(
                "error", f"environment {name!r} has no Environment resource",
                f"Create environments/{name}/environment.yaml with kind: Environment",
                SourcePos(f"environments/{name}/environment.yaml", 0)))
        return report
    if len(env_docs) > 1:
        for extra in env_docs[1:]:
            diags.append(Diagnostic("error", "a second Environment resource",
                                    "Each environment has exactly one, in environment.yaml",
                                    extra.start, related=(env_docs[0].start,)))
    env_doc = env_docs[0]

    # The Environment itself is validated first: variables and secrets come from it.
    located: list[Located] = []
    env_res = Resolution()
    env_diags = schema_diagnostics(env_doc, "Environment", env_res)
    diags.extend(env_diags)
    variables: dict[str, Any] = {}
    variable_pos: dict[str, SourcePos] = {}
    secrets: set[str] = set()
    spec = env_doc.data.get("spec") if isinstance(env_doc.data, dict) else None
    if isinstance(spec, dict):
        if isinstance(spec.get("variables"), dict):
            variables = spec["variables"]
            variable_pos = {k: env_doc.pos(f"/spec/variables/{k}") for k in variables}
        if isinstance(spec.get("secrets"), dict):
            secrets = set(spec["secrets"])
    if not env_diags:
        located.append(Located(_build(env_doc, "Environment", diags), env_doc))

    for kind, doc in typed:
        if doc is env_doc or kind == "Environment":
            continue
        resolution, res_diags = resolve_document(doc, kind, variables, variable_pos, secrets)
        diags.extend(res_diags)
        # A value whose reference is already reported is not reported again by the schema, nor one
        # whose URL credentials come from a variable (reported at the variable).
        reported = {d.pointer for d in res_diags if d.pointer} | credentials_from_variables(resolution, variables)
        all_schema_diags = schema_diagnostics(doc, kind, resolution)
        schema_diags = [d for d in all_schema_diags if d.pointer not in reported]
        diags.extend(schema_diags)
        model = None
        if not all_schema_diags and not res_diags:
            model = _build(doc, kind, diags)
        if model is not None:
            located.append(Located(model, doc, resolution))
        else:
            failed.setdefault(kind, set()).add(_doc_name(doc))
            # Every problem at once: one bad field must not hide the checks of the others.
            partial = _partial(doc, kind, [*all_schema_diags, *res_diags])
            if partial is not None:
                located.append(Located(partial, doc, resolution))

    located = [item for item in located if item.model is not None]
    diags.extend(semantic_checks(located, root, name, failed=failed, unreadable=unreadable))
    if not report.errors:
        groups: dict[str, dict[str, Any]] = {k: {} for k in KINDS}
        for item in located:
            groups[item.kind][item.name] = item.model
            report.documents[f"{item.kind}.{item.name}"] = item.doc
        report.resources = ResourceSet(
            environment=next(iter(groups["Environment"].values())),
            connectors=groups["Connector"], applications=groups["Application"],
            mappings=groups["Mapping"], schedules=groups["Schedule"], root=root)
    return report


def _doc_name(doc: Document) -> str:
    metadata = doc.data.get("metadata") if isinstance(doc.data, dict) else None
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else ""


def _partial(doc: Document, kind: str, reported: list[Diagnostic]) -> Any:
    """The resource without the spec fields already reported, when the rest is valid (None otherwise).

    Its semantic checks then run on the fields that are fine: a bad situation name must not hide an
    unknown target property, nor a bad mode a cron with five fields. Only whole ``spec`` fields are
    left out (positions of the rest stay true), and only fields the model can do without.
    """
    if not isinstance(doc.data, dict) or not isinstance(doc.data.get("spec"), dict) or not reported:
        return None
    drop: set[str] = set()
    for diag in reported:
        parts = (diag.pointer or "").split("/")
        if len(parts) < 3 or parts[1] != "spec" or not parts[2]:
            return None  # the metadata, the kind or the spec as a whole: nothing sound is left to check
        drop.add(parts[2].replace("~1", "/").replace("~0", "~"))
    spec = {k: v for k, v in doc.data["spec"].items() if k not in drop}
    try:
        return KINDS[kind].model_validate({**doc.data, "spec": spec})
    except ValidationError:
        return None


def _build(doc: Document, kind: str, diags: list[Diagnostic]) -> Any:
    try:
        return KINDS[kind].model_validate(doc.data)
    except ValidationError as exc:  # the schema should have caught it; say where anyway
        for err in exc.errors():
            pointer = "".join(f"/{escape_pointer(p)}" for p in err["loc"] if p != "[key]")
            diags.append(Diagnostic("error", err["msg"], None, doc.pos(pointer), pointer))
        return None


def load_environment(root: Path, name: str) -> LoadedEnvironment:
    """Load and validate environments/<name>; raise `ConfigError` listing every error."""
    report = validate_environment(root, name)
    if report.resources is None:
        raise ConfigError(report.diagnostics)
    return LoadedEnvironment(root=root, name=name, resources=report.resources, files=report.files,
                             diagnostics=report.diagnostics)
