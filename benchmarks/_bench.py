"""One `make bench` run: N generated users, a full and an incremental reconciliation, and their floors.

The emulator and every `idmctl` command run as processes of their own; this process only drives
them, changes users through the emulator's admin API, and measures the floor against the same emulator.
"""

from __future__ import annotations

import os
import platform
import random
import shutil
import sqlite3
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from ruamel.yaml import YAML

from benchmarks._floor import MAPPING, Floor, FloorStore, GraphReader, MemoryPages
from benchmarks._processes import REPO, ChildResult, EmulatorProcess, run_idmctl
from controller.emulator import ADMIN_TOKEN_HEADER, DEFAULT_CLIENT_ID

__all__ = ["Mix", "bench_mapping", "run_bench"]

ENV = "demo"
_MIB = 2**20


@dataclass(frozen=True, slots=True)
class Mix:
    """The incremental round's changes (Entra Connect's typical delta cycle: 1% / 1% / 5%)."""

    creates: int
    deletes: int
    changes: int

    @classmethod
    def for_users(cls, n: int) -> Mix:
        return cls(creates=max(1, n // 100), deletes=max(1, n // 100), changes=max(1, n * 5 // 100))

    @property
    def total(self) -> int:
        return self.creates + self.deletes + self.changes


def _log(message: str, quiet: bool) -> None:
    if not quiet:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def bench_mapping(spec: dict[str, Any], n: int) -> None:
    """The demo mapping's spec as the benches run it (changed in place).

    Users deleted in Entra ID are deleted here too, so the incremental run exercises DELETE; the guard
    is opened just wide enough for the round's 1% of deletes.
    """
    spec["policies"]["rules"]["SOURCE_MISSING"] = "DELETE"
    spec["safety"] = {"maxDeletes": max(n, 10), "maxDeletePercent": 100, "allowEmptySource": False}


def make_repo(root: Path, info: dict[str, Any], n: int) -> Path:
    """A throwaway config repo: environments/demo pointed at the emulator, no source filter, deletes on."""
    env_dir = root / "environments" / ENV
    shutil.copytree(REPO / "environments" / ENV, env_dir)
    yaml = YAML()
    env_file = env_dir / "environment.yaml"
    env = yaml.load(env_file)
    env["spec"]["variables"].update({
        "entra_login": info["authorityHost"], "entra_graph": info["graphUrl"], "entra_ca": info["caBundle"],
        "entra_client_id": DEFAULT_CLIENT_ID, "source_filter": None,
    })
    env["spec"]["secrets"]["entra_client_secret"] = {"fromFile": info["clientSecretFile"]}
    yaml.dump(env, env_file)
    mapping_file = env_dir / "mapping.yaml"
    mapping = yaml.load(mapping_file)
    bench_mapping(mapping["spec"], n)
    yaml.dump(mapping, mapping_file)
    return root


class _Admin:
    """The emulator's admin API (``/_emulator/users``), one keep-alive session per worker thread."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.base = f"{info['base_url']}/_emulator/users"
        self._token = Path(info["adminTokenFile"]).read_text("utf-8").strip()
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.verify, session.trust_env = self.info["caBundle"], False
            session.headers[ADMIN_TOKEN_HEADER] = self._token
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def call(self, method: str, url: str, body: dict[str, Any] | None = None) -> None:
        resp = self._session().request(method, url, json=body, timeout=60)
        if resp.status_code >= 300:
            raise RuntimeError(f"emulator admin {method} {url} answered {resp.status_code}: {resp.text[:300]}")

    def close(self) -> None:
        for session in self._sessions:
            session.close()


def mutate(info: dict[str, Any], ids: list[str], mix: Mix, *, seed: int = 7, workers: int = 8) -> dict[str, Any]:
    """Create, change (givenName) and soft-delete users as an Entra admin would; returns counts and time."""
    if mix.changes + mix.deletes > len(ids):
        raise RuntimeError(f"cannot change {mix.changes} and delete {mix.deletes} of {len(ids)} users")
    picked = random.Random(seed).sample(ids, mix.changes + mix.deletes)
    domain = info["tenantDomain"]
    admin = _Admin(info)
    calls: list[tuple[str, str, dict[str, Any] | None]] = []
    for i in range(mix.creates):
        nick = f"bench.new{i:07d}"
        calls.append(("POST", admin.base, {
            "userPrincipalName": f"{nick}@{domain}", "mailNickname": nick, "mail": f"{nick}@example.com",
            "displayName": f"Bench New{i}", "givenName": "Bench", "surname": f"New{i}", "accountEnabled": True}))
    for i, uid in enumerate(picked[:mix.changes]):
        calls.append(("PATCH", f"{admin.base}/{uid}", {"givenName": f"Changed{i}"}))
    calls.extend(("DELETE", f"{admin.base}/{uid}", None) for uid in picked[mix.changes:])
    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for future in [pool.submit(admin.call, *c) for c in calls]:
                future.result()
    finally:
        admin.close()
    return {"creates": mix.creates, "changes": mix.changes, "deletes": mix.deletes,
            "seconds": round(time.perf_counter() - started, 3)}


def _row_counts(db: Path, run_id: str) -> dict[str, int]:
    """The store after a run: objects, index rows and links in all, and this run's entries."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out = {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])  # noqa: S608 - fixed names
               for t in ("alpha_user", "managed_index", "links")}
        out["recon_entries"] = int(conn.execute("SELECT count(*) FROM recon_entries WHERE run_id = ?",
                                                (run_id,)).fetchone()[0])
    finally:
        conn.close()
    return out


def _indexed_props(db: Path) -> tuple[str, ...]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return tuple(sorted(r[0] for r in conn.execute("SELECT prop FROM managed_indexed")))
    finally:
        conn.close()


def _check(run: dict[str, Any], situations: dict[str, int], actions: dict[str, int]) -> list[str]:
    """How the run's counts differ from what the bench's changes must give (empty: as expected)."""
    problems = []
    if run.get("state") != "SUCCESS":
        problems.append(f"state {run.get('state')} ({run.get('reason')})")
    for kind, expected, got in (("situation", situations, run.get("situations", {})),
                                ("action", actions, run.get("actions", {}))):
        for name in sorted(set(expected) | set(got)):
            if expected.get(name, 0) != got.get(name, 0):
                problems.append(f"{kind} {name}: expected {expected.get(name, 0)}, got {got.get(name, 0)}")
    if run.get("failures"):
        problems.append(f"{run['failures']} failed entries")
    return problems


def _per_change(inc: ChildResult, idle: ChildResult, changes: int, full: ChildResult, n: int,
                floors: tuple[Floor, Floor]) -> dict[str, Any]:
    """An incremental run's CPU per change beyond its fixed cost, against a full run's CPU per account.

    The fixed cost is the same command with nothing to read (measured right after, ``idle``: the median
    of three); the full run's per-account figure includes its own fixed cost, spread over N accounts.
    ``floors`` (the full run's, the round's) give the same ratio for the floor: what the same reads and
    writes cost per change against per account with no engine at all.
    """
    per_change = max(0.0, inc.cpu_seconds - idle.cpu_seconds) * 1e6 / changes
    per_account = full.cpu_seconds * 1e6 / n
    floor_account = floors[0].cpu_seconds * 1e6 / n
    floor_change = floors[1].cpu_seconds * 1e6 / changes
    return {"idleCpuS": round(idle.cpu_seconds, 3), "idleWallS": round(idle.seconds, 3),
            "cpuUsPerChange": round(per_change, 1), "cpuUsPerChangeAllIn": round(inc.cpu_seconds * 1e6 / changes, 1),
            "fullCpuUsPerAccount": round(per_account, 1),
            "perChangeVsFullAccount": round(per_change / per_account, 2) if per_account else None,
            "floorCpuUsPerChange": round(floor_change, 1), "floorCpuUsPerAccount": round(floor_account, 1),
            "floorPerChangeVsAccount": round(floor_change / floor_account, 2) if floor_account else None}


def _phase(n: int, phase: str, accounts: int, child: ChildResult, run: dict[str, Any], floor: Floor,
           rows: dict[str, int], check: list[str], emulator_cpu_s: float, backend: str = "sqlite") -> dict[str, Any]:
    wall = child.seconds
    run_s = (run.get("durationMs") or 0) / 1000
    cpu = child.cpu_seconds
    return {
        "users": n, "phase": phase, "backend": backend, "accounts": accounts, "processed": run.get("processed"),
        "wallS": round(wall, 3), "runS": round(run_s, 3), "cpuS": round(child.cpu_seconds, 3),
        "accountsPerS": round(accounts / wall) if wall else None,
        "usPerAccount": round(wall * 1e6 / accounts, 1) if accounts else None,
        "peakRssMiB": round(child.peak_rss / _MIB, 1),
        "floorS": round(floor.seconds, 3), "floorReadS": round(floor.read_s, 3),
        "floorWriteS": round(floor.write_s, 3),
        "floorCpuS": round(floor.cpu_seconds, 3),
        "ratio": round(wall / floor.seconds, 2) if floor.seconds else None,
        "cpuRatio": round(cpu / floor.cpu_seconds, 2) if floor.cpu_seconds else None,
        "emulatorCpuS": round(emulator_cpu_s, 3),
        "runRatio": round(run_s / floor.seconds, 2) if floor.seconds else None,
        "situations": run.get("situations", {}), "actions": run.get("actions", {}),
        "failures": run.get("failures"), "state": run.get("state"), "mode": run.get("mode"),
        "store": rows, "floorRows": dict(floor.rows), "floorDetail": floor.to_dict(),
        "check": "ok" if not check else "; ".join(check),
    }


class _State:
    """Where one bench repository keeps its state: the SQLite file, or a schema of a PostgreSQL server."""

    def __init__(self, backend: str, root: Path, cluster: Any = None, schema: str | None = None) -> None:
        self.backend, self.root, self.cluster, self.schema = backend, root, cluster, schema

    @property
    def db(self) -> Path:
        return self.root / ".idmctl" / f"{ENV}.db"

    def row_counts(self, run_id: str) -> dict[str, int]:
        if self.backend == "sqlite":
            return _row_counts(self.db, run_id)
        q = f'"{self.schema}"'
        out = {t: int(self.cluster.query(f"SELECT count(*) FROM {q}.{t}")[0][0])
               for t in ("alpha_user", "managed_index", "links")}
        out["recon_entries"] = int(self.cluster.query(f"SELECT count(*) FROM {q}.recon_entries WHERE run_id = %s",
                                                      (run_id,))[0][0])
        return out


def _postgres(work: Path, quiet: bool) -> Any:
    """The server the postgres state goes to: IDMCTL_BENCH_PG_DSN's, or a throwaway cluster (the tests' recipe)."""
    from tests.postgres_cluster import PASSWORD_ENV, Cluster, server_bin

    dsn = os.environ.get("IDMCTL_BENCH_PG_DSN")
    if dsn:
        return Cluster(dsn, os.environ.get(PASSWORD_ENV), dsn)
    bindir = server_bin()
    if bindir is None:
        raise RuntimeError("--backend postgres needs PostgreSQL: install Debian's postgresql package or set "
                           "IDMCTL_BENCH_PG_DSN (and IDMCTL_TEST_PG_PASSWORD)")
    _log(f"starting a throwaway PostgreSQL cluster from {bindir}", quiet)
    cluster = Cluster.start(bindir)
    os.environ[PASSWORD_ENV] = str(cluster.password)
    return cluster


def run_bench(users: int = 100_000, *, quiet: bool = False, keep: Path | None = None,
              incremental: bool = True, backend: str = "sqlite") -> dict[str, Any]:
    """Run the whole bench for ``users`` generated users and return the report (see ``FIELDS``).

    ``keep`` keeps the work directory (repo, state, logs) there instead of a temporary one;
    ``incremental=False`` stops after the full run and its floor. ``backend="postgres"`` runs the same
    full and incremental runs twice, with the state in SQLite and in PostgreSQL, against one emulator:
    the postgres phases carry ``vsSqlite``, their wall time over the SQLite phase's.
    """
    if users < 10:
        raise ValueError(f"--users {users} is too few: the bench needs at least 10 users")
    if backend not in ("sqlite", "postgres"):
        raise ValueError(f"--backend {backend!r}: choose sqlite or postgres")
    mix = Mix.for_users(users)
    tmp_ctx = tempfile.TemporaryDirectory(prefix="idmctl-bench-") if keep is None else None
    work = Path(tmp_ctx.name) if tmp_ctx is not None else keep
    assert work is not None
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"
    phases: list[dict[str, Any]] = []
    mutation: dict[str, Any] | None = None
    cluster: Any = None
    emulator_read: dict[str, Any] = {}
    try:
        if backend == "postgres":
            cluster = _postgres(work, quiet)
        _log(f"starting the emulator with {users:,} generated users", quiet)
        with EmulatorProcess(users, work / "emulator") as emu:
            info = emu.info
            states = [_State("sqlite", make_repo(work / "repo", info, users))]
            if cluster is not None:
                root = make_repo(work / "repo-postgres", info, users)
                schema = f"bench_{os.getpid()}"
                cluster.drop_schema(schema)
                cluster.use_in(root, ENV, schema)
                states.append(_State("postgres", root, cluster, schema))
            fulls: list[tuple[_State, ChildResult, dict[str, Any], dict[str, int], float]] = []
            for state in states:
                run_idmctl(["init", "--env", ENV], root=state.root, logs=logs)
                run_idmctl(["apply", "--env", ENV, "--auto-approve"], root=state.root, logs=logs)
                _log(f"full run ({state.backend} state): idmctl reconcile --json", quiet)
                emu_cpu = emu.cpu_seconds()
                full = run_idmctl(["reconcile", "--env", ENV, "--mapping", MAPPING, "--json"], root=state.root,
                                  logs=logs)
                full_emu_cpu = emu.cpu_seconds() - emu_cpu
                full_run = full.json()
                fulls.append((state, full, full_run, state.row_counts(full_run["id"]), full_emu_cpu))

            _log("floor: the same pages served from memory, read with requests + orjson; the same rows written "
                 "with executemany", quiet)
            reader = GraphReader(info)
            store = FloorStore(work / "floor.db", _indexed_props(states[0].db))
            memory = MemoryPages(reader, work / "pages")
            try:
                full_floor = Floor()
                ids = store.write_full(reader, full_floor, memory.url)
                for state, full, full_run, full_rows, full_emu_cpu in fulls:
                    phases.append(_phase(users, "full", users, full, full_run, full_floor, full_rows,
                                         _check(full_run, {"ABSENT": users}, {"CREATE": users}), full_emu_cpu,
                                         state.backend))
                first_emu_cpu = fulls[0][4]
                first_full = {state.backend: full for state, full, _, _, _ in fulls}
                emulator_read = {"pages": memory.pages, "emulatorReadS": round(memory.emulator_s, 3),
                                 "memoryReadS": round(full_floor.read_s, 3),
                                 "emulatorS": round(max(0.0, memory.emulator_s - full_floor.read_s), 3),
                                 "runEmulatorCpuS": round(first_emu_cpu, 3)}
                if incremental:
                    # The same full run again with nothing changed: it must write nothing; its floor is
                    # the read alone (the same pages from memory), and vsFirst compares it with the first.
                    read_floor = Floor(read_s=full_floor.read_s, read_cpu_s=full_floor.read_cpu_s,
                                       pages=full_floor.pages, users=full_floor.users)
                    for state, full, _, full_rows, _ in fulls:
                        _log(f"second full run, nothing changed ({state.backend} state)", quiet)
                        emu_cpu = emu.cpu_seconds()
                        again = run_idmctl(["reconcile", "--env", ENV, "--mapping", MAPPING, "--json"],
                                           root=state.root, logs=logs)
                        again_emu_cpu = emu.cpu_seconds() - emu_cpu
                        again_run = again.json()
                        again_rows = state.row_counts(again_run["id"])
                        again_check = _check(again_run, {"CONFIRMED": users}, {"UPDATE": users})
                        wrote = {t: (full_rows[t], again_rows[t]) for t in ("alpha_user", "managed_index", "links")
                                 if full_rows[t] != again_rows[t]}
                        if again_rows["recon_entries"] or wrote:
                            again_check.append(f"it wrote: {again_rows['recon_entries']} entries, rows {wrote}")
                        phase = _phase(users, "second full", users, again, again_run, read_floor, again_rows,
                                       again_check, again_emu_cpu, state.backend)
                        phase["vsFirst"] = round(again.seconds / full.seconds, 2)
                        phase["cpuVsFirst"] = round(again.cpu_seconds / full.cpu_seconds, 2)
                        phases.append(phase)
                    delta_link = reader.latest_delta_link()
                    _log(f"changing users through the emulator: {mix.creates:,} creates, {mix.changes:,} changes, "
                         f"{mix.deletes:,} deletes", quiet)
                    mutation = mutate(info, ids, mix)
                    inc_floor = Floor()
                    store.write_delta(reader, delta_link, inc_floor)
                    for state in states:
                        _log(f"incremental run ({state.backend} state): idmctl reconcile --incremental --json", quiet)
                        emu_cpu = emu.cpu_seconds()
                        inc = run_idmctl(["reconcile", "--env", ENV, "--mapping", MAPPING, "--incremental", "--json"],
                                         root=state.root, logs=logs)
                        inc_emu_cpu = emu.cpu_seconds() - emu_cpu
                        inc_run = inc.json()
                        inc_rows = state.row_counts(inc_run["id"])
                        inc_check = _check(
                            inc_run, {"ABSENT": mix.creates, "CONFIRMED": mix.changes, "SOURCE_MISSING": mix.deletes},
                            {"CREATE": mix.creates, "UPDATE": mix.changes, "DELETE": mix.deletes})
                        if inc_run.get("mode") != "incremental":
                            inc_check.append(f"the run was {inc_run.get('mode')}: {inc_run.get('fullBecause')}")
                        phase = _phase(users, "incremental", mix.total, inc, inc_run, inc_floor, inc_rows,
                                       inc_check, inc_emu_cpu, state.backend)
                        # The same command again with nothing to do: what every incremental run costs
                        # whatever it reads (start-up, config, token, an empty delta round, the run record);
                        # the median of three, as it is the smaller of two noisy numbers.
                        idles = [run_idmctl(["reconcile", "--env", ENV, "--mapping", MAPPING, "--incremental",
                                             "--json"], root=state.root, logs=logs) for _ in range(3)]
                        for idle_run in (i.json() for i in idles):
                            if idle_run.get("processed") or idle_run.get("state") != "SUCCESS":
                                phase["check"] = "; ".join(c for c in (
                                    phase["check"] if phase["check"] != "ok" else "",
                                    f"an idle run: {idle_run.get('state')}, {idle_run.get('processed')} processed")
                                    if c)
                        idle = sorted(idles, key=lambda r: r.cpu_seconds)[1]
                        phase.update(_per_change(inc, idle, mix.total, first_full[state.backend], users,
                                                 (full_floor, inc_floor)))
                        phases.append(phase)
            finally:
                memory.close()
                store.close()
                reader.close()
            emulator_rss = emu.peak_rss()
    finally:
        if cluster is not None and cluster.directory is not None:
            cluster.stop()
        if tmp_ctx is not None:
            tmp_ctx.cleanup()
    baseline = {p["phase"]: p for p in phases if p["backend"] == "sqlite"}
    for phase in phases:
        base = baseline.get(phase["phase"])
        if phase["backend"] != "sqlite" and base is not None and base["wallS"]:
            phase["vsSqlite"] = round(phase["wallS"] / base["wallS"], 2)
            phase["cpuVsSqlite"] = round(phase["cpuS"] / base["cpuS"], 2) if base["cpuS"] else None
    order = {"full": 0, "second full": 1, "incremental": 2}
    phases.sort(key=lambda p: (order[p["phase"]], p["backend"] != "sqlite"))
    return {
        "users": users,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "sqlite": sqlite3.sqlite_version},
        "date": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "mutation": mutation,
        "emulatorPeakRssMiB": round(emulator_rss / _MIB, 1),
        "emulator": emulator_read,
        "phases": phases,
    }
