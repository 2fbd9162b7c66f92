"""A first look at a connector's accounts with the attributes the mappings read: the console's Data tab."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from controller.config import ResourceSet
from controller.connectors._factory import open_connector, pick_connector

__all__ = ["DEFAULT_PREVIEW_ATTRIBUTES", "PreviewColumn", "SourcePreview", "connector_preview"]

# When no mapping reads from the connector yet, show what identifies a user at a glance.
DEFAULT_PREVIEW_ATTRIBUTES = ("displayName", "userPrincipalName", "mail", "givenName", "surname")


@dataclass(frozen=True, slots=True)
class PreviewColumn:
    """A source attribute and where the mappings put it (``Mapping/targetProperty``)."""

    source: str
    targets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SourcePreview:
    """The first ``limit`` accounts of a connector, attributes in column order."""

    connector: str
    mappings: tuple[str, ...]
    columns: tuple[PreviewColumn, ...]
    rows: tuple[dict[str, Any], ...]
    truncated: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "connector": self.connector,
            "mappings": list(self.mappings),
            "columns": [{"source": c.source, "targets": list(c.targets)} for c in self.columns],
            "rows": [dict(r) for r in self.rows],
            "count": len(self.rows),
            "truncated": self.truncated,
        }


def preview_columns(resources: ResourceSet, connector_name: str) -> tuple[tuple[str, ...], tuple[PreviewColumn, ...]]:
    """The mappings that read ``connector_name`` and the source attributes they map, in file order."""
    targets: dict[str, list[str]] = {}
    used_by: list[str] = []
    for mname, mapping in sorted(resources.mappings.items()):
        if mapping.spec.source.connector != connector_name:
            continue
        used_by.append(mname)
        for prop in mapping.spec.properties:
            if prop.source:
                targets.setdefault(prop.source, []).append(f"{mname}/{prop.target}")
    if not targets:
        return tuple(used_by), tuple(PreviewColumn(a) for a in DEFAULT_PREVIEW_ATTRIBUTES)
    return tuple(used_by), tuple(PreviewColumn(a, tuple(t)) for a, t in targets.items())


def connector_preview(resources: ResourceSet, name: str | None, *, limit: int = 20,
                      base_dir: Path | None = None, session: requests.Session | None = None) -> SourcePreview:
    """Read the first ``limit`` users of connector ``name`` with the mapped source attributes."""
    connector_res = pick_connector(resources, name)
    cname = connector_res.metadata.name
    mappings, columns = preview_columns(resources, cname)
    select = [c.source for c in columns]
    users: list[dict[str, Any]] = []
    with open_connector(resources, cname, base_dir=base_dir, session=session) as connector:
        # One extra row tells whether there is more without reading a second page.
        top = min(limit + 1, connector.settings.page_size)
        for page in connector.iter_users(select, page_size=top):
            users.extend(page)
            if len(users) > limit:
                break
    rows = [{"id": u.get("id"), **{a: u.get(a) for a in select if a != "id"}} for u in users[:limit]]
    truncated = len(users) > limit
    return SourcePreview(cname, mappings, columns, tuple(rows), truncated)
