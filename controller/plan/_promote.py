"""Promotion: make one environment's resource files another's, all but its ``environment.yaml``.

Dev and prod then differ only in their Environment resource (variables, secrets, state, platform). Before any
file is copied, every ``${var.x}``/``${secret.x}`` the copied files use must exist in the target's
Environment; ``check`` only compares the files (a CI gate that prod's files are dev's).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from controller.config import environment_dir, find_references, load_file, resource_files
from controller.diagnostics import Diagnostic, SourcePos
from controller.errors import ConfigError, UsageError
from controller.plan._model import Plan

__all__ = ["FileChange", "PromoteResult", "compare_environments", "promote"]

_ENVIRONMENT_STEM = "environment"


@dataclass(frozen=True)
class FileChange:
    """One file the promotion creates, updates or deletes in the target (path relative to its folder)."""

    path: str
    change: str  # "create" | "update" | "delete"


@dataclass(frozen=True)
class PromoteResult:
    source: str
    target: str
    changes: tuple[FileChange, ...]  # empty: the target's files already are the source's
    copied: bool  # False with check=True, or when nothing differed
    plan: Plan | None  # the target's plan after copying, when it has state (``commands.promote`` adds it)
    plan_note: str | None  # why there is no plan


def _promoted_files(env_dir: Path) -> dict[str, Path]:
    """Resource files keyed by path relative to ``env_dir``, without the Environment's own file."""
    files = {}
    for path in resource_files(env_dir):
        rel = path.relative_to(env_dir)
        if len(rel.parts) == 1 and rel.stem == _ENVIRONMENT_STEM:
            continue
        files[rel.as_posix()] = path
    return files


def compare_environments(root: Path, source: str, target: str) -> tuple[FileChange, ...]:
    """What promoting ``source`` to ``target`` would do to the target's files."""
    if source == target:
        raise UsageError(f"--from and --to are both {source!r}", hint="Name two different environments")
    src = _promoted_files(environment_dir(root, source))
    dst = _promoted_files(environment_dir(root, target))
    changes = [
        FileChange(rel, "create" if rel not in dst else "update")
        for rel, path in sorted(src.items())
        if rel not in dst or dst[rel].read_bytes() != path.read_bytes()
    ]
    changes += [FileChange(rel, "delete") for rel in sorted(dst) if rel not in src]
    return tuple(sorted(changes, key=lambda c: c.path))


def _target_names(root: Path, target: str) -> tuple[set[str], set[str], str]:
    """(variables, secrets, display path) declared by the target's Environment resource.

    Read with the configuration loader, so the target's file gets the same limits as any resource file.
    """
    env_dir = environment_dir(root, target)
    candidates = [p for p in resource_files(env_dir)
                  if p.parent == env_dir and p.stem == _ENVIRONMENT_STEM]
    for path in candidates:
        shown = str(path.relative_to(root))
        documents, problems = load_file(path, shown)
        if any(d.severity == "error" for d in problems):
            raise ConfigError(problems)
        for doc in documents:
            data = doc.data
            if isinstance(data, dict) and data.get("kind") == "Environment":
                spec = data.get("spec") or {}
                variables = spec.get("variables") if isinstance(spec, dict) else None
                secrets = spec.get("secrets") if isinstance(spec, dict) else None
                return (set(variables) if isinstance(variables, dict) else set(),
                        set(secrets) if isinstance(secrets, dict) else set(), shown)
    raise UsageError(f"environment {target!r} has no Environment resource",
                     hint=f"Create environments/{target}/environment.yaml (kind: Environment) first")


def _missing_references(root: Path, source: str, target: str) -> list[Diagnostic]:
    variables, secrets, env_file = _target_names(root, target)
    declared = {"var": (variables, "spec.variables"), "secret": (secrets, "spec.secrets")}
    diagnostics: list[Diagnostic] = []
    seen: set[tuple[str, str]] = set()
    for rel, path in sorted(_promoted_files(environment_dir(root, source)).items()):
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.lstrip().startswith("#"):
                continue
            for kind, name, offset in find_references(line):
                if kind not in declared or name in declared[kind][0] or (kind, name) in seen:
                    continue
                seen.add((kind, name))
                word = "variable" if kind == "var" else "secret"
                diagnostics.append(Diagnostic(
                    "error",
                    f"{word} {name!r} is used by the promoted files but environment {target!r} does not "
                    f"declare it",
                    f"Add {name} under {declared[kind][1]} in {env_file}, then promote again",
                    SourcePos(f"environments/{source}/{rel}", lineno, offset + 1)))
    return diagnostics


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.promote{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def promote(root: Path, source: str, target: str, *, check: bool = False) -> PromoteResult:
    """Copy ``source``'s resource files to ``target`` (or, with ``check``, only compare them).

    Raises ``ConfigError`` listing every variable and secret the target lacks, before copying anything.
    """
    changes = compare_environments(root, source, target)
    if check:
        return PromoteResult(source, target, changes, False, None, None)
    missing = _missing_references(root, source, target)
    if missing:
        raise ConfigError(missing, message=(
            f"cannot promote {source} to {target}: {len(missing)} variable(s)/secret(s) missing in "
            f"{target}'s Environment; nothing was copied") if len(missing) > 1 else None)
    src_dir, dst_dir = environment_dir(root, source), environment_dir(root, target)
    for change in changes:
        if change.change == "delete":
            (dst_dir / change.path).unlink()
        else:
            _write(dst_dir / change.path, (src_dir / change.path).read_bytes())
    return PromoteResult(source, target, changes, bool(changes), None, None)
