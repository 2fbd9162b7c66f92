"""Configuration as code: load an environment's files, resolve references, validate, canonicalise.

The public surface: `load_environment` (raises `ConfigError`), `validate_environment` (reports),
`ResourceSet` (the validated resources; also rebuilt from applied state), the models, and the enums a
run speaks in (`Situation`, `Action`, `RunState`, `RunMode`: these load without pydantic).
"""

from __future__ import annotations

import typing

from controller import _lazy

if typing.TYPE_CHECKING:
    from controller.config._enums import Action, RunMode, RunState, Situation
    from controller.config._loader import (
        LoadedEnvironment,
        ValidationReport,
        environment_dir,
        environment_names,
        load_environment,
        resource_files,
        validate_environment,
    )
    from controller.config._resolve import find_references
    from controller.config._resources import (
        ResourceSet,
        canonical_hash,
        canonical_json,
        describe_secret_source,
        read_secret_source,
        secret_fingerprint,
    )
    from controller.config._schemas import kind_schema, schema_file_name
    from controller.config._yaml import load_file
    from controller.config.models import KINDS

__all__ = [
    "KINDS",
    "Action",
    "LoadedEnvironment",
    "ResourceSet",
    "RunMode",
    "RunState",
    "Situation",
    "ValidationReport",
    "canonical_hash",
    "canonical_json",
    "describe_secret_source",
    "environment_dir",
    "environment_names",
    "find_references",
    "kind_schema",
    "load_environment",
    "load_file",
    "read_secret_source",
    "resource_files",
    "schema_file_name",
    "secret_fingerprint",
    "validate_environment",
]

# Each name's module, imported on first use (PEP 562): a module that needs only the models (the enums of a
# command's options, a backend's records) does not load the loader, jsonschema, YAML, cron and filters, and
# one that needs only the enums does not build the models either.
__getattr__, __dir__ = _lazy.exports(__name__, {
    "_enums": ("Action", "RunMode", "RunState", "Situation"),
    "_loader": ("LoadedEnvironment", "ValidationReport", "environment_dir", "environment_names", "load_environment",
                "resource_files", "validate_environment"),
    "_resolve": ("find_references",),
    "_resources": ("ResourceSet", "canonical_hash", "canonical_json", "describe_secret_source", "read_secret_source",
                   "secret_fingerprint"),
    "_schemas": ("kind_schema", "schema_file_name"),
    "_yaml": ("load_file",),
    "models": ("KINDS",),
})
