"""IDM's repository tables the sync engine keeps: links (``repo/link``) and liveSync stages
(``repo/synchronisation/pooledSyncStage/<ID>``), indexed for a recon's per-record lookups."""

from __future__ import annotations

import copy
import threading
import uuid
from typing import Any

__all__ = ["RepoStore", "stage_id"]


def stage_id(source: str) -> str:
    """``system/Entra/User`` -> ``SYSTEMENTRAUSER`` (the source with "/" removed, upper-cased, as IDM)."""
    return source.replace("/", "").upper()


class RepoStore:
    """Links ``{_id, _rev, firstId, secondId, linkType, linkQualifier}`` and sync stages, in memory."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.links: dict[str, dict[str, Any]] = {}
        self.stages: dict[str, dict[str, Any]] = {}
        self._first: dict[tuple[str, str, str], str] = {}
        self._second: dict[tuple[str, str, str], str] = {}

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {"link": copy.deepcopy(self.links), "pooledSyncStage": copy.deepcopy(self.stages)}

    def load(self, data: dict[str, Any]) -> None:
        with self.lock:
            self.links = dict(data.get("link", {}))
            self.stages = dict(data.get("pooledSyncStage", {}))
            self._first, self._second = {}, {}
            for link in self.links.values():
                self._index(link)

    def _index(self, link: dict[str, Any]) -> None:
        self._first[(link["linkType"], link["linkQualifier"], link["firstId"])] = link["_id"]
        self._second[(link["linkType"], link["linkQualifier"], link["secondId"])] = link["_id"]

    def by_first(self, link_type: str, qualifier: str, first_id: str) -> dict[str, Any] | None:
        with self.lock:
            found = self._first.get((link_type, qualifier, first_id))
            return dict(self.links[found]) if found else None

    def by_second(self, link_type: str, qualifier: str, second_id: str) -> dict[str, Any] | None:
        with self.lock:
            found = self._second.get((link_type, qualifier, second_id))
            return dict(self.links[found]) if found else None

    def of_type(self, link_type: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(v) for v in self.links.values() if v["linkType"] == link_type]

    def link(self, link_type: str, qualifier: str, first_id: str, second_id: str) -> dict[str, Any]:
        """Create the link, or repoint the one ``first_id`` has."""
        with self.lock:
            current = self.by_first(link_type, qualifier, first_id)
            if current is not None:
                self.unlink(current["_id"])
            link = {"_id": current["_id"] if current else str(uuid.uuid4()), "_rev": str(uuid.uuid4()),
                    "firstId": first_id, "secondId": second_id, "linkType": link_type, "linkQualifier": qualifier}
            self.links[link["_id"]] = link
            self._index(link)
            return dict(link)

    def unlink(self, link_id: str) -> dict[str, Any] | None:
        with self.lock:
            link = self.links.pop(link_id, None)
            if link is not None:
                self._first.pop((link["linkType"], link["linkQualifier"], link["firstId"]), None)
                self._second.pop((link["linkType"], link["linkQualifier"], link["secondId"]), None)
            return link

    def stage(self, stage: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.stages.get(stage)
            return copy.deepcopy(found) if found is not None else None

    def put_stage(self, stage: str, sync_token: str) -> dict[str, Any]:
        with self.lock:
            record = {"_id": stage, "_rev": uuid.uuid4().hex[:16],
                      "connectorData": {"nativeType": "string", "syncToken": sync_token}}
            self.stages[stage] = record
            return copy.deepcopy(record)

    def delete_stage(self, stage: str) -> dict[str, Any] | None:
        with self.lock:
            return self.stages.pop(stage, None)
