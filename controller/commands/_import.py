"""`import`: adopt what a PingOne Advanced Identity Cloud tenant already has, as resource files.

Reads the tenant's MS Graph connectors, their inbound mappings, the schedules that run them and their
applications (``controller.platforms.aic.read_snapshot``), turns them into resources
(``import_tenant``, the inverse of ``render``) and writes one YAML file per resource, in the style of the
shipped files: the ``$schema`` line, where it came from, and what could not be expressed. A file that
exists is never overwritten without ``force``. The secrets the connectors reference are declared in
``environment.yaml`` (``fromEnv``), since AIC never gives a secret's value back; no value is written.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from controller.backends import open_backend
from controller.commands._config import git_commit
from controller.config import (
    LoadedEnvironment,
    ResourceSet,
    environment_dir,
    load_environment,
    resource_files,
    schema_file_name,
    validate_environment,
)
from controller.config.models import AicPlatformSpec, Resource
from controller.diagnostics import Diagnostic
from controller.errors import UsageError
from controller.platforms import open_platform, open_tenant
from controller.platforms.aic import ImportNote, ImportResult, TenantApi, import_tenant, read_snapshot

__all__ = ["ImportReport", "import_environment"]


@dataclass(frozen=True)
class ImportReport:
    environment: str
    realm: str
    tenant_url: str
    folder: Path  # where the resource files were written
    written: tuple[Path, ...]  # one file per resource, in the render order
    resources: tuple[tuple[str, str], ...]  # (address "Connector.azure", the native id it came from)
    notes: tuple[ImportNote, ...]  # what could not be expressed, per native id and JSON pointer
    secrets: tuple[str, ...]  # the ${secret.NAME} the resources reference
    declared: tuple[str, ...] = ()  # of those, the ones this import declared in environment.yaml
    environment_file: Path | None = None  # environment.yaml, when this import changed it
    others: tuple[Path, ...] = ()  # resource files in the folder this import did not write
    diagnostics: tuple[Diagnostic, ...] = ()  # `validate` of the environment after writing (into its folder)
    adopted: tuple[str, ...] = ()  # native ids now recorded in the state as idmctl's (import into its folder)


def _file_names(resources: Iterable[Resource]) -> list[str]:
    """``connector.yaml`` for the only resource of its kind, else ``connector-<name>.yaml``."""
    items = list(resources)
    counts: dict[str, int] = {}
    for r in items:
        counts[r.kind] = counts.get(r.kind, 0) + 1
    return [f"{r.kind.lower()}.yaml" if counts[r.kind] == 1 else f"{r.kind.lower()}-{r.metadata.name}.yaml"
            for r in items]


def _escape(value: Any, secret_ok: bool = False) -> Any:
    """Every ``${`` of a value made literal (``$${``), but a secret reference where one belongs."""
    if isinstance(value, str):
        return value if secret_ok else value.replace("${", "$${")
    if isinstance(value, dict):
        return {k: _escape(v, secret_ok=k == "clientSecret") for k, v in value.items()}
    if isinstance(value, list):
        return [_escape(v) for v in value]
    return value


def _flow(value: Any) -> Any:
    out = CommentedMap(value)
    out.fa.set_flow_style()
    return out


def _document(resource: Resource) -> CommentedMap:
    data = resource.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    spec = data["spec"]
    if resource.kind == "Mapping":
        spec["policies"] = resource.spec.policies.model_dump(mode="json")
        spec["source"] = _flow({"connector": resource.spec.source.connector,
                                "objectType": resource.spec.source.objectType})
        spec["properties"] = CommentedSeq([_flow(p) for p in spec["properties"]])
        for key in ("correlation", "aic"):
            if key in spec:
                spec[key] = _flow(spec[key])
        if spec["policies"].get("rules"):
            spec["policies"] = CommentedMap(spec["policies"])
    elif resource.kind == "Application" and "owners" in spec:
        owners = CommentedSeq(spec["owners"])
        owners.fa.set_flow_style()
        spec["owners"] = owners
    if resource.kind == "Schedule":
        spec["cron"] = DoubleQuotedScalarString(spec["cron"])
    if resource.kind in ("Application", "Schedule") and "aic" in spec:
        spec["aic"] = _flow(spec["aic"])
    return CommentedMap({"apiVersion": data["apiVersion"], "kind": data["kind"],
                         "metadata": _flow(data["metadata"]) if list(data["metadata"]) == ["name"]
                         else CommentedMap(data["metadata"]), "spec": CommentedMap(spec)})


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _render_file(resource: Resource, native_id: str, tenant_url: str, notes: list[ImportNote],
                 schema: str) -> str:
    lines = [f"# yaml-language-server: $schema={schema}",
             f"# Imported by `idmctl import` from {native_id}" + (f" on {tenant_url}." if tenant_url else ".")]
    if notes:
        lines.append("# Not expressed as on the tenant (the first plan changes these; `idmctl import --json` lists "
                     "them all):")
        lines += [f"#   {'' if n.native_id == native_id else n.native_id + ' '}{n.pointer or '(all)'}: {n.reason}"
                  for n in notes]
    buffer = io.StringIO()
    _yaml().dump(_escape_document(_document(resource)), buffer)
    return "\n".join(lines) + "\n" + buffer.getvalue()


def _escape_document(doc: CommentedMap) -> CommentedMap:
    """``_escape`` in place over the ruamel containers (their flow styles kept)."""
    def walk(node: Any, secret_ok: bool = False) -> Any:
        if isinstance(node, dict):
            for key in list(node):
                node[key] = walk(node[key], secret_ok=key == "clientSecret")
            return node
        if isinstance(node, list):
            for i, item in enumerate(node):
                node[i] = walk(item)
            return node
        return _escape(node, secret_ok)

    result: CommentedMap = walk(doc)
    return result


def _declared(path: Path) -> set[tuple[str, str]]:
    """(kind, name) of every resource a YAML file declares; nothing for a file that does not parse."""
    yaml = YAML(typ="safe")
    try:
        docs = list(yaml.load_all(path.read_text(encoding="utf-8")))
    except Exception:  # noqa: BLE001  # an unreadable file is validate's to report, not import's
        return set()
    return {(str(d.get("kind")), str((d.get("metadata") or {}).get("name"))) for d in docs if isinstance(d, dict)}


def _declare_secrets(env_file: Path, names: Iterable[str]) -> list[str]:
    """Add ``NAME: {fromEnv: NAME_UPPER}`` under spec.secrets for each name not declared; the names added."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    document = yaml.load(env_file.read_text(encoding="utf-8"))
    spec = document.setdefault("spec", CommentedMap())
    secrets = spec.get("secrets")
    if secrets is None:
        secrets = spec["secrets"] = CommentedMap()
    added = [n for n in names if n not in secrets]
    for name in added:
        secrets[name] = _flow({"fromEnv": name.upper()})
        secrets.yaml_add_eol_comment("added by `idmctl import`: the client secret's Value (AIC never returns it)",
                                     name)
    if added:
        buffer = io.StringIO()
        yaml.dump(document, buffer)
        env_file.write_text(buffer.getvalue(), encoding="utf-8")
    return added


def _open_tenant(root: Path, env: str, resources: ResourceSet) -> TenantApi:
    platform = resources.environment.spec.platform
    if not isinstance(platform, AicPlatformSpec):
        raise UsageError(f"environment {env!r} is on the {platform.type} platform: import reads an AIC tenant",
                         hint=f"Set platform: {{type: aic, tenantUrl: ..., realm: alpha, serviceAccountId: ..., "
                         f"serviceAccountKey: ${{secret.aic_sa_key}}}} in environments/{env}/environment.yaml")
    return open_tenant(root, resources)


def _adopt(root: Path, env: str, addresses: Iterable[str], tenant: TenantApi) -> tuple[str, ...]:
    """Take what was imported into the environment's state, as Terraform's import does: the tenant's
    objects become idmctl's (recorded as they are now), the imported resources (and the Environment,
    whose secrets the import declared) become applied. Nothing is written to the tenant, and the next
    ``plan`` shows only what import could not express."""
    loaded = load_environment(root, env)
    backend = open_backend(root, loaded.resources.environment, must_exist=False)
    try:
        backend.init()
        platform = open_platform(root, loaded.resources.environment, backend, loaded.resources, tenant=tenant)
        with backend.lock("idmctl import", 0.0) as lease:
            adopted = platform.adopt(loaded.resources, lease)
            state = backend.read_applied()
            desired = loaded.resources.canonical(backend.fingerprint_key)
            imported = set(addresses)
            wanted = [a for a in desired if a in imported or desired[a].get("kind") == "Environment"]
            changes = {a: desired[a] for a in wanted if state.resources.get(a) != desired[a]}
            if changes:
                backend.write_applied(changes, expected_serial=state.serial, expected_lineage=state.lineage,
                                      lease=lease, summary=f"import: adopted {len(changes)} resource(s) from "
                                      f"{tenant.tenant_url}", git_commit=git_commit(root),
                                      details={"import": {"resources": sorted(changes), "tenant": adopted}})
        return tuple(adopted)
    finally:
        backend.close()


def _where(result: ImportResult, address: str) -> str:
    """The native id a resource came from; a ``sync`` entry as ``sync#/mappings/<i>`` (a URI fragment)."""
    prefix = result.prefixes.get(address)
    return result.sources.get(address, "") + (f"#{prefix}" if prefix else "")


def import_environment(root: Path, env: str, *, out: Path | None = None, force: bool = False,
                       tenant: TenantApi | None = None) -> ImportReport:
    """Read the environment's AIC tenant and write its connector, mappings, applications and schedules as
    resource files into ``environments/<env>/`` (or ``out``); refuse to overwrite a file without ``force``."""
    loaded = load_environment(root, env)
    env_dir = environment_dir(root, env)
    folder = (out if out is not None else env_dir).resolve()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder", hint="Give a folder (it is created if needed)")
    opened = tenant is None
    api = _open_tenant(root, env, loaded.resources) if tenant is None else tenant
    try:
        return _import(root, env, loaded, api, out=out, force=force)
    finally:
        if opened:
            api.close()


def _import(root: Path, env: str, loaded: LoadedEnvironment, api: TenantApi, *, out: Path | None,
            force: bool) -> ImportReport:
    env_dir = environment_dir(root, env)
    folder = (out if out is not None else env_dir).resolve()
    snapshot = read_snapshot(api)
    platform = loaded.resources.environment.spec.platform
    realm = platform.realm if isinstance(platform, AicPlatformSpec) else api.realm
    result = import_tenant(snapshot, environment=env, realm=realm)
    if not result.resources:
        raise UsageError(f"the tenant of environment {env!r} ({snapshot.tenant_url or 'no URL'}) has no Microsoft "
                         "Graph connector to import; nothing was written",
                         hint="Create the application from the Microsoft Entra ID template first, or write the "
                         "resources by hand (see environments/dev/)")
    names = _file_names(result.resources)
    targets = [folder / n for n in names]
    existing = [p for p in targets if p.exists()]
    if existing and not force:
        shown = ", ".join(os.path.relpath(p, root) for p in existing)
        raise UsageError(f"{shown} already exist{'s' if len(existing) == 1 else ''}; nothing was written",
                         hint="Pass --force to overwrite, or --out DIR to write elsewhere")
    imported = {(r.kind, r.metadata.name) for r in result.resources}
    others: list[Path] = []
    if folder.is_dir():
        for path in resource_files(folder) if folder.is_relative_to(root.resolve() / "environments") else []:
            if path.resolve() in {t.resolve() for t in targets} or path.name == "environment.yaml":
                continue
            clash = sorted(_declared(path) & imported)
            if clash:
                kind, name = clash[0]
                raise UsageError(f"{os.path.relpath(path, root)} already declares {kind} {name!r}, which the import "
                                 "writes too; nothing was written",
                                 hint="Remove or rename it, or pass --out DIR to write elsewhere")
            others.append(path)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for resource, path in zip(result.resources, targets, strict=True):
        address = f"{resource.kind}.{resource.metadata.name}"
        schema = Path(os.path.relpath(root.resolve() / "schemas" / schema_file_name(resource.kind), folder)).as_posix()
        text = _render_file(resource, _where(result, address), snapshot.tenant_url,
                            list(result.notes_of(address)), schema)
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}",
                             hint="Choose an --out folder you may write") from None
        written.append(path)
    declared: list[str] = []
    env_file: Path | None = None
    diagnostics: tuple[Diagnostic, ...] = ()
    adopted: tuple[str, ...] = ()
    if folder == env_dir.resolve():
        env_file = env_dir / "environment.yaml"
        declared = _declare_secrets(env_file, result.secrets) if env_file.is_file() else []
        report = validate_environment(root, env)
        diagnostics = tuple(d for d in report.diagnostics if d.severity in ("error", "warning"))
        if not any(d.severity == "error" for d in diagnostics):
            adopted = _adopt(root, env, (f"{r.kind}.{r.metadata.name}" for r in result.resources), api)
    return ImportReport(
        environment=env, realm=realm, tenant_url=snapshot.tenant_url, folder=folder, written=tuple(written),
        resources=tuple((address, _where(result, address)) for address in
                        (f"{r.kind}.{r.metadata.name}" for r in result.resources)),
        notes=result.notes, secrets=result.secrets, declared=tuple(declared),
        environment_file=env_file if declared else None, others=tuple(others), diagnostics=diagnostics,
        adopted=adopted)
