"""A validated set of resources, its canonical form (desired state), and secret access.

The canonical form is what plans compare and what `apply` stores: every resource fully spelled
out (defaults included), keyed by address ``Kind.name``, with each secret reference replaced by a
keyed fingerprint. Secret values are read only on demand, from the source the Environment names.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from controller.config.models import (
    ApplicationResource,
    ConnectorResource,
    EnvironmentResource,
    MappingResource,
    Resource,
    ScheduleResource,
    SecretSource,
)
from controller.diagnostics import Diagnostic
from controller.errors import ConfigError, StateError

__all__ = ["ResourceSet", "canonical_hash", "canonical_json", "describe_secret_source", "read_secret_source",
           "secret_fingerprint"]

_SECRET_REF = re.compile(r"^\$\{secret\.([A-Za-z_][A-Za-z0-9_]*)\}$")
_KIND_ORDER = ("Environment", "Connector", "Application", "Mapping", "Schedule")


def canonical_json(data: Any) -> str:
    """The one serialisation used for hashing and storing canonical state."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_hash(data: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(data).encode()).hexdigest()


def secret_fingerprint(key: bytes, value: str) -> str:
    """A keyed fingerprint: says whether a secret changed without revealing anything about it."""
    return "hmac-sha256:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def read_secret_source(source: SecretSource, root: Path) -> str | None:
    """The value a secret source holds now, or None when it is not available here."""
    if source.fromEnv:
        return os.environ.get(source.fromEnv) or None
    if source.fromFile:
        path = Path(source.fromFile)
        path = path if path.is_absolute() else root / path
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n") or None
        except (OSError, UnicodeDecodeError):  # missing, a folder, unreadable or not text: not available
            return None
    return None


def describe_secret_source(source: SecretSource) -> str:
    return (f"environment variable {source.fromEnv}" if source.fromEnv else f"file {source.fromFile}")


@dataclass(frozen=True)
class ResourceSet:
    """Every resource of one environment, validated; the input of plans, runs and schedules."""

    environment: EnvironmentResource
    connectors: dict[str, ConnectorResource] = field(default_factory=dict)
    applications: dict[str, ApplicationResource] = field(default_factory=dict)
    mappings: dict[str, MappingResource] = field(default_factory=dict)
    schedules: dict[str, ScheduleResource] = field(default_factory=dict)
    root: Path = field(default_factory=Path.cwd)

    @property
    def name(self) -> str:
        return self.environment.metadata.name

    def __iter__(self) -> Iterator[Resource]:
        yield self.environment
        yield from self.connectors.values()
        yield from self.applications.values()
        yield from self.mappings.values()
        yield from self.schedules.values()

    # --- secrets -----------------------------------------------------------------------------

    def secret_name(self, reference: str) -> str:
        """``${secret.x}`` -> ``x``."""
        m = _SECRET_REF.match(reference)
        if not m:
            raise ConfigError([Diagnostic("error", "not a ${secret.NAME} reference")])
        return m.group(1)

    def _read_secret(self, name: str) -> str | None:
        source = self.environment.spec.secrets.get(name)
        return None if source is None else read_secret_source(source, self.root)

    def secret_available(self, name: str) -> bool:
        return self._read_secret(name) is not None

    def secret(self, name_or_ref: str) -> str:
        """The secret's value, read now from its source; a clear error when it is not available."""
        name = self.secret_name(name_or_ref) if name_or_ref.startswith("${") else name_or_ref
        value = self._read_secret(name)
        if value is not None:
            return value
        source = self.environment.spec.secrets.get(name)
        if source is None:
            raise ConfigError([Diagnostic(
                "error", f"secret {name!r} is not declared in environment {self.name!r}",
                "Declare it under spec.secrets with fromEnv or fromFile")])
        where = (f"environment variable {source.fromEnv} is not set" if source.fromEnv
                 else f"file {source.fromFile} is missing, empty, unreadable or not UTF-8 text")
        key = getattr(self.environment.spec.platform, "serviceAccountKey", None) == f"${{secret.{name}}}"
        what = "the service account's private key (JWK or PEM)" if key else "the client secret's Value"
        hint = (f"Export {source.fromEnv}=<{what}>" if source.fromEnv
                else f"Create {source.fromFile} holding the value (mode 0600; relative paths are from the "
                     "repository root)")
        raise ConfigError([Diagnostic("error", f"secret {name!r} is not available: {where}", hint)])

    # --- canonical form ----------------------------------------------------------------------

    def canonical(self, fingerprint_key: bytes | None = None) -> dict[str, dict[str, Any]]:
        """Desired state: ``{address: {apiVersion, kind, name, spec}}`` with secrets fingerprinted."""
        out: dict[str, dict[str, Any]] = {}
        for res in self:
            dumped = res.model_dump(mode="json", by_alias=True)
            doc = {
                "apiVersion": dumped["apiVersion"],
                "kind": dumped["kind"],
                "name": res.metadata.name,
                "metadata": dumped["metadata"],
                "spec": self._fingerprint(dumped["spec"], fingerprint_key),
            }
            out[f"{res.kind}.{res.metadata.name}"] = doc
        return dict(sorted(out.items(), key=lambda kv: (_KIND_ORDER.index(kv[1]["kind"]), kv[0])))

    def _fingerprint(self, node: Any, key: bytes | None) -> Any:
        if isinstance(node, dict):
            return {k: self._fingerprint(v, key) for k, v in node.items()}
        if isinstance(node, list):
            return [self._fingerprint(v, key) for v in node]
        if isinstance(node, str):
            m = _SECRET_REF.match(node)
            if m:
                value = self._read_secret(m.group(1)) if key is not None else None
                return {
                    "sensitive": True,
                    "secret": m.group(1),
                    "fingerprint": secret_fingerprint(key, value) if (key and value) else None,
                }
        return node

    @classmethod
    def from_canonical(cls, state: dict[str, dict[str, Any]], root: Path | None = None) -> ResourceSet:
        """Rebuild the resources from applied state (runs use applied state, never the files)."""
        environment: EnvironmentResource | None = None
        connectors: dict[str, ConnectorResource] = {}
        applications: dict[str, ApplicationResource] = {}
        mappings: dict[str, MappingResource] = {}
        schedules: dict[str, ScheduleResource] = {}
        address = ""
        try:
            for address, doc in state.items():  # noqa: B007 - named in the error below
                data = {
                    "apiVersion": doc["apiVersion"],
                    "kind": doc["kind"],
                    "metadata": doc.get("metadata") or {"name": doc["name"]},
                    "spec": _unfingerprint(doc["spec"]),
                }
                kind = doc["kind"]
                if kind == "Environment":
                    environment = EnvironmentResource.model_validate(data)
                elif kind == "Connector":
                    connector = ConnectorResource.model_validate(data)
                    connectors[connector.metadata.name] = connector
                elif kind == "Application":
                    application = ApplicationResource.model_validate(data)
                    applications[application.metadata.name] = application
                elif kind == "Mapping":
                    mapping = MappingResource.model_validate(data)
                    mappings[mapping.metadata.name] = mapping
                elif kind == "Schedule":
                    schedule = ScheduleResource.model_validate(data)
                    schedules[schedule.metadata.name] = schedule
                else:
                    raise KeyError(kind)
        except (KeyError, ValidationError) as exc:
            raise StateError(f"applied state entry {address!r} cannot be read ({exc.__class__.__name__})",
                             hint="The state was written by another idmctl version; re-apply") from None
        if environment is None:
            raise StateError("applied state holds no Environment resource",
                             hint="Run `idmctl apply` for this environment")
        return cls(environment=environment, connectors=connectors, applications=applications,
                   mappings=mappings, schedules=schedules, root=root or Path.cwd())


def _unfingerprint(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get("sensitive") is True and "secret" in node:
            return f"${{secret.{node['secret']}}}"
        return {k: _unfingerprint(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_unfingerprint(v) for v in node]
    return node
