"""`render`: an environment's resources as PingOne Advanced Identity Cloud's native objects, as JSON files.

The files are laid out by native id (``provisioner.openicf/Entra.json``, ``mapping/<name>.json``,
``managed/alpha_application/<id>.json``, ``schedule/<name>.json``, ``esv/variables/<id>.json``,
``esv/secrets/<id>.json``) and written with sorted keys, as frodo exports them, so that a frodo or
fr-config-manager export can be diffed against them. No secret is read: secrets are ``&{esv.…}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from controller.config import load_environment
from controller.config.models import AicPlatformSpec
from controller.errors import UsageError
from controller.platforms.aic import DEFAULT_REALM, NativeObject, render_resources

__all__ = ["RenderResult", "native_json", "render"]

# The top-level folders a rendering writes: stale JSON files under them are reported.
_FOLDERS = ("esv", "managed", "mapping", "provisioner.openicf", "schedule")


@dataclass(frozen=True)
class RenderResult:
    environment: str
    realm: str
    objects: tuple[NativeObject, ...]
    notes: tuple[str, ...]
    written: tuple[Path, ...] = ()  # with ``out``: the files written
    stale: tuple[Path, ...] = ()  # with ``out``: JSON files there that this rendering does not contain


def native_json(obj: NativeObject) -> str:
    """The one serialisation of a native object: sorted keys, two-space indent, a final newline."""
    return json.dumps(obj.body, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render(root: Path, env: str, *, out: Path | None = None, realm: str | None = None) -> RenderResult:
    """Render ``env``'s resources to AIC's native objects; with ``out``, write one JSON file per object.

    The realm is the environment's own when it is on the aic platform (``realm`` must then agree),
    else ``realm`` (default alpha).
    """
    loaded = load_environment(root, env)
    platform = loaded.resources.environment.spec.platform
    if isinstance(platform, AicPlatformSpec):
        if realm is not None and realm != platform.realm:
            raise UsageError(f"environment {env!r} is on the aic platform with realm {platform.realm!r}, "
                             f"not {realm!r}", hint="Drop --realm: the environment's platform.realm decides")
        realm = platform.realm
    realm = realm or DEFAULT_REALM
    rendering = render_resources(loaded.resources, realm)
    if out is None:
        return RenderResult(env, realm, rendering.objects, rendering.notes)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder", hint="Give a folder (it is created if needed)")
    written: list[Path] = []
    for obj in rendering.objects:
        path = out / obj.file
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(native_json(obj), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}",
                             hint="Choose an --out folder you may write") from None
        written.append(path)
    keep = set(written)
    stale = sorted(p for folder in _FOLDERS if (out / folder).is_dir()
                   for p in (out / folder).rglob("*.json") if p not in keep)
    return RenderResult(env, realm, rendering.objects, rendering.notes, tuple(written), tuple(stale))
