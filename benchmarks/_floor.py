"""The floor a run is compared with: the least work that reads the same pages and writes the same rows.

Read: plain ``requests`` + ``orjson`` (the connector's parser) of the same pages (the same ``$select``,
``$top=999``; the same delta round for the incremental run). The full run's pages are first copied
from the emulator and then served from memory by a minimal HTTP server in a process of its own
(``MemoryPages``), so the floor's read is the client's cost alone, not the emulator's; the emulator's
own cost is what reading the same pages from it takes beyond that, reported apart. Write: the same rows
the run writes — objects (with their correlation index row), links and entries, as ``IDENTITY_DDL``
shapes them — built from the pages read and inserted with ``executemany`` into a fresh SQLite file with
the store's pragmas (JSON encoded as the store does, with orjson), committed in batches as the run
commits them, and checkpointed at the end as the run's closing of the state does. Read and write
are timed apart, page by page (wall and CPU seconds), so the floor is their sum.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import requests

from benchmarks.emulator_pages import _token
from controller.backends import new_object_id
from controller.backends.sqlite import IDENTITY_DDL
from controller.backends.sqlite._database import BULK_CACHE_KIB, CACHE_KIB, WAL_AUTOCHECKPOINT_PAGES
from controller.recon._engine import fewer_collections, grown_batch

__all__ = ["BATCH_SIZE", "SELECT", "Floor", "FloorStore", "GraphReader", "MemoryPages"]

# What the connector asks for with the bench mapping (its sources, sorted, after `id`).
SELECT = "id,givenName,mail,surname,userPrincipalName"
MAPPING = "entra-users"


def _dumps(obj: Any) -> str:
    """The store's encoding (orjson, as text): the floor must not pay more per row than the run does."""
    return orjson.dumps(obj).decode()


_CHUNK = 900  # bound parameters per IN (...) query
BATCH_SIZE = 5000  # the run's batch size (controller.recon.reconcile's default): the floor commits as often


@dataclass(slots=True)
class Floor:
    """Seconds spent reading and writing, and what was read and written."""

    read_s: float = 0.0
    write_s: float = 0.0
    read_cpu_s: float = 0.0
    write_cpu_s: float = 0.0
    pages: int = 0
    users: int = 0
    removed: int = 0
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.read_s + self.write_s

    @property
    def cpu_seconds(self) -> float:
        return self.read_cpu_s + self.write_cpu_s

    def timed_write(self, started: float, cpu: float) -> None:
        self.write_s += time.perf_counter() - started
        self.write_cpu_s += time.process_time() - cpu

    def count(self, table: str, n: int) -> None:
        if n:
            self.rows[table] = self.rows.get(table, 0) + n

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": round(self.seconds, 3), "readS": round(self.read_s, 3), "writeS": round(self.write_s, 3),
                "cpuS": round(self.cpu_seconds, 3), "readCpuS": round(self.read_cpu_s, 3),
                "writeCpuS": round(self.write_cpu_s, 3),
                "pages": self.pages, "users": self.users, "removed": self.removed, "rows": dict(self.rows)}


class GraphReader:
    """Pages of Graph JSON with nothing but a ``requests.Session`` (CA pinned, proxies and env ignored)."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.session = requests.Session()
        # REQUESTS_CA_BUNDLE is set on these machines: trust_env=False keeps our CA in charge.
        self.session.verify, self.session.trust_env = info["caBundle"], False
        self.session.headers["Authorization"] = f"Bearer {_token(self.session, info)}"
        self.base = f"{info['graphUrl']}/v1.0"

    def close(self) -> None:
        self.session.close()

    def pages(self, url: str, floor: Floor, prefer: str | None = None) -> Iterator[dict[str, Any]]:
        """Follow ``@odata.nextLink`` from ``url``; the time to fetch and parse each page goes to ``floor.read_s``."""
        next_url: str | None = url
        while next_url:
            started, cpu = time.perf_counter(), time.process_time()
            resp = self.session.get(next_url, timeout=300, headers={"Prefer": prefer} if prefer else None)
            resp.raise_for_status()
            body = orjson.loads(resp.content)  # as the connector parses a page
            floor.read_s += time.perf_counter() - started
            floor.read_cpu_s += time.process_time() - cpu
            floor.pages += 1
            yield body
            next_url = body.get("@odata.nextLink")

    def latest_delta_link(self) -> str:
        """A deltaLink from now on (``$deltatoken=latest``), as the run takes one before it reads."""
        url: str | None = f"{self.base}/users/delta?$select={SELECT}&$deltatoken=latest"
        while url:
            resp = self.session.get(url, timeout=60)
            resp.raise_for_status()
            body = resp.json()
            if body.get("@odata.deltaLink"):
                return str(body["@odata.deltaLink"])
            url = body.get("@odata.nextLink")
        raise RuntimeError("the emulator ended a $deltatoken=latest round without a deltaLink")


class MemoryPages:
    """The pages of the full listing, copied from the emulator once and then served from memory.

    The server is ``http.server`` in a process of its own (so it does not share the bench's GIL),
    serving each page's bytes as a file from a folder, its ``@odata.nextLink`` pointing at the next
    one: reading from it costs the client what reading Graph costs it, and the server next to nothing.
    ``emulator_s`` / ``emulator_cpu_s``: the wall and client CPU seconds the copy took (the emulator's
    own cost is ``emulator_s`` minus a read from memory).
    """

    def __init__(self, reader: GraphReader, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/0.json"
        copy = Floor()
        bodies = list(reader.pages(f"{reader.base}/users?$select={SELECT}&$top=999", copy))
        self.emulator_s, self.emulator_cpu_s, self.pages = copy.read_s, copy.read_cpu_s, len(bodies)
        for i, body in enumerate(bodies):
            if body.get("@odata.nextLink"):
                body["@odata.nextLink"] = f"http://127.0.0.1:{port}/{i + 1}.json"
            (folder / f"{i}.json").write_bytes(json.dumps(body, separators=(",", ":"), ensure_ascii=False)
                                               .encode("utf-8"))
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(folder)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    self.close()
                    raise RuntimeError("the in-memory page server did not start") from None
                time.sleep(0.05)

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=10)


def _props(user: dict[str, Any]) -> dict[str, Any]:
    """The bench mapping's properties (givenName, mail, surname -> sn, userPrincipalName -> userName)."""
    return {"givenName": user.get("givenName"), "mail": user.get("mail"), "sn": user.get("surname"),
            "userName": user.get("userPrincipalName"), "accountStatus": "active"}


def _delta_props(user: dict[str, Any]) -> dict[str, Any]:
    """The mapped properties a delta item carries (a delta item may hold only what changed)."""
    out: dict[str, Any] = {}
    for source, target in (("givenName", "givenName"), ("mail", "mail"), ("surname", "sn"),
                           ("userPrincipalName", "userName")):
        if source in user:
            out[target] = user[source]
    return out


class FloorStore:
    """A fresh SQLite file with the identity store's tables and pragmas, written with bulk inserts."""

    def __init__(self, path: Path, indexed: tuple[str, ...] = (), batch_size: int = BATCH_SIZE) -> None:
        """``indexed``: the properties the run's store keeps correlation index rows for (its managed_indexed);
        ``batch_size``: source objects per transaction, as the run commits them."""
        self.indexed = indexed
        self.batch_size = batch_size
        self.limit = batch_size
        self.pending = 0
        self.conn = sqlite3.connect(path, isolation_level=None)
        # The store's pragmas (controller/backends/sqlite/_database.connect); the page cache is set per
        # round as the store sets it (SqliteStore: the bulk cache for a full run, the small one for a delta).
        self.conn.execute("PRAGMA busy_timeout = 15000")
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        self.conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
        self.conn.execute("PRAGMA temp_store = MEMORY")
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.conn.executescript(IDENTITY_DDL)
        self.conn.executemany("INSERT INTO managed_indexed (prop) VALUES (?)", [(p,) for p in indexed])

    def close(self) -> None:
        self.conn.close()

    def _batched(self, floor: Floor, objects: int) -> None:
        """After a page: commit once the open transaction holds ``limit`` source objects (the run's rule:
        ``batch_size`` first, then each batch twice the one before, up to the engine's cap)."""
        self.pending += objects
        if self.pending >= self.limit:
            started, cpu = time.perf_counter(), time.process_time()
            self.conn.execute("COMMIT")
            self.conn.execute("BEGIN IMMEDIATE")
            self.pending = 0
            self.limit = grown_batch(self.limit, self.batch_size)
            floor.timed_write(started, cpu)

    def _begin(self, floor: Floor, mode: str) -> tuple[str, str]:
        started, cpu = time.perf_counter(), time.process_time()
        self.pending = 0
        self.limit = self.batch_size
        run_id, now = str(uuid.uuid4()), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute("INSERT INTO recon_runs (id, mapping, mode, state, started) VALUES (?, ?, ?, 'ACTIVE', ?)",
                          (run_id, MAPPING, mode, now))
        floor.timed_write(started, cpu)
        return run_id, now

    def _end(self, floor: Floor, run_id: str, now: str) -> None:
        started, cpu = time.perf_counter(), time.process_time()
        self.conn.execute("UPDATE recon_runs SET state = 'SUCCESS', ended = ? WHERE id = ?", (now, run_id))
        self.conn.execute("COMMIT")
        # The run's command closes the state when it ends, and closing the last connection copies the
        # WAL into the database file (the checkpoint its commits left for later): the floor pays it too.
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        floor.timed_write(started, cpu)

    def _insert_objects(self, items: list[tuple[str, str, dict[str, Any]]], run_id: str, now: str, seq: int,
                        phase: str, situation: str) -> int:
        """Insert ``(source id, object id, props)``: objects, index rows, links, entries; returns next seq."""
        conn = self.conn
        conn.executemany("INSERT INTO alpha_user (id, rev, username_lower, properties) VALUES (?, 1, ?, ?)",
                         [(oid, p["userName"].lower(), _dumps(p)) for _, oid, p in items])
        if self.indexed:
            conn.executemany("INSERT OR IGNORE INTO managed_index VALUES (?, ?, ?)", self._index_rows(items))
        conn.executemany("INSERT INTO links (mapping, source_id, target_id, created) VALUES (?, ?, ?, ?)",
                         [(MAPPING, sid, oid, now) for sid, oid, _ in items])
        # Each entry names its object as people know it (label: the userName), as the run's do.
        conn.executemany("INSERT INTO recon_entries (run_id, seq, phase, source_id, target_id, situation, action, "
                         "status, label) VALUES (?, ?, ?, ?, ?, ?, 'CREATE', 'SUCCESS', ?)",
                         [(run_id, seq + i, phase, sid, oid, situation, p["userName"])
                          for i, (sid, oid, p) in enumerate(items)])
        return seq + len(items)

    def _index_rows(self, items: list[tuple[str, str, dict[str, Any]]]) -> list[tuple[str, str, str]]:
        return [(prop, str(p[prop]).lower(), oid) for _, oid, p in items for prop in self.indexed
                if p.get(prop) is not None]

    def write_full(self, reader: GraphReader, floor: Floor, url: str | None = None) -> list[str]:
        """Read every user (``$top=999``, from ``url`` when given: a ``MemoryPages``) and create one object,
        link and entry each; returns the source ids. (With the run's garbage-collector settings.)"""
        with fewer_collections():
            return self._write_full(reader, floor, url)

    def _write_full(self, reader: GraphReader, floor: Floor, url: str | None) -> list[str]:
        self.conn.execute(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")  # as the store gives a full run
        run_id, now = self._begin(floor, "full")
        seq, ids = 1, []
        for body in reader.pages(url or f"{reader.base}/users?$select={SELECT}&$top=999", floor):
            started, cpu = time.perf_counter(), time.process_time()
            users = body["value"]
            items = [(u["id"], new_object_id(), _props(u)) for u in users]
            seq = self._insert_objects(items, run_id, now, seq, "source", "ABSENT")
            floor.timed_write(started, cpu)
            self._batched(floor, len(users))
            ids.extend(u["id"] for u in users)
            floor.users += len(users)
            for table in ("alpha_user", "links", "recon_entries"):
                floor.count(table, len(items))
            floor.count("managed_index", len(self._index_rows(items)) if self.indexed else 0)
        self._end(floor, run_id, now)
        return ids

    def write_delta(self, reader: GraphReader, delta_link: str, floor: Floor) -> None:
        """Read one delta round and write what it implies: creates, updates of changed objects, deletes."""
        with fewer_collections():
            self._write_delta(reader, delta_link, floor)

    def _write_delta(self, reader: GraphReader, delta_link: str, floor: Floor) -> None:
        self.conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")  # as the store gives an incremental round
        run_id, now = self._begin(floor, "incremental")
        seq = 1
        conn = self.conn
        for body in reader.pages(delta_link, floor, prefer="odata.maxpagesize=999"):  # as the connector asks
            started, cpu = time.perf_counter(), time.process_time()
            items = body.get("value") or []
            sids = [i["id"] for i in items]
            linked: dict[str, tuple[str, int, str]] = {}
            for start in range(0, len(sids), _CHUNK):
                chunk = sids[start:start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                for sid, oid, rev, props in conn.execute(
                        "SELECT l.source_id, o.id, o.rev, o.properties FROM links l JOIN alpha_user o "
                        f"ON o.id = l.target_id WHERE l.mapping = ? AND l.source_id IN ({marks})",
                        (MAPPING, *chunk)):
                    linked[sid] = (oid, rev, props)
            creates: list[tuple[str, str, dict[str, Any]]] = []
            updates: list[tuple[int, str, str, str]] = []
            kept: list[tuple[int, str, str]] = []  # updates that keep the userName: username_lower untouched
            deletes: list[tuple[str, str, dict[str, Any]]] = []
            index_old: list[tuple[str, str, str]] = []
            index_new: list[tuple[str, str, str]] = []
            entries: list[tuple[Any, ...]] = []
            for item in items:
                sid = item["id"]
                hit = linked.get(sid)
                if "@removed" in item:
                    floor.removed += 1
                    if hit is not None:
                        old = orjson.loads(hit[2])
                        deletes.append((sid, hit[0], old))
                        index_old.extend(self._index_rows([(sid, hit[0], old)]))
                        entries.append(("deleted", sid, hit[0], "SOURCE_MISSING", "DELETE", None,
                                        f"{old.get('userName')} ({hit[0]})"))
                    continue
                floor.users += 1
                if hit is None:
                    creates.append((sid, new_object_id(), _props(item)))
                    continue
                oid, rev, text = hit
                old = orjson.loads(text)
                new = {**old, **_delta_props(item)}
                if new != old:
                    changes = {k: [old.get(k), v] for k, v in new.items() if old.get(k) != v}
                    if new["userName"].lower() == str(old.get("userName", "")).lower():
                        kept.append((rev + 1, _dumps(new), oid))
                    else:
                        updates.append((rev + 1, new["userName"].lower(), _dumps(new), oid))
                    if any(p in changes for p in self.indexed):
                        index_old.extend(self._index_rows([(sid, oid, old)]))
                        index_new.extend(self._index_rows([(sid, oid, new)]))
                    entries.append(("source", sid, oid, "CONFIRMED", "UPDATE", _dumps(changes),
                                    f"{new['userName']} ({oid})"))
            if updates:
                conn.executemany("UPDATE alpha_user SET rev = ?, username_lower = ?, properties = ? WHERE id = ?",
                                 updates)
            if kept:
                conn.executemany("UPDATE alpha_user SET rev = ?, properties = ? WHERE id = ?", kept)
            if deletes:
                conn.executemany("DELETE FROM alpha_user WHERE id = ?", [(oid,) for _, oid, _ in deletes])
                conn.executemany("DELETE FROM links WHERE mapping = ? AND source_id = ?",
                                 [(MAPPING, sid) for sid, _, _ in deletes])
            if index_old:
                conn.executemany("DELETE FROM managed_index WHERE prop = ? AND value_lower = ? AND object_id = ?",
                                 index_old)
            if index_new:
                conn.executemany("INSERT OR IGNORE INTO managed_index VALUES (?, ?, ?)", index_new)
            if entries:
                conn.executemany("INSERT INTO recon_entries (run_id, seq, phase, source_id, target_id, situation, "
                                 "action, status, changes, label) VALUES (?, ?, ?, ?, ?, ?, ?, 'SUCCESS', ?, ?)",
                                 [(run_id, seq + i, *e) for i, e in enumerate(entries)])
                seq += len(entries)
            if creates:
                seq = self._insert_objects(creates, run_id, now, seq, "source", "ABSENT")
            floor.timed_write(started, cpu)
            self._batched(floor, len(items))
            floor.count("alpha_user", len(creates) + len(updates) + len(kept) + len(deletes))
            floor.count("links", len(creates) + len(deletes))
            floor.count("managed_index", len(index_old) + len(index_new) + len(self._index_rows(creates)))
            floor.count("recon_entries", len(entries) + len(creates))
        self._end(floor, run_id, now)
