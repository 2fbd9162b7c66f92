"""`python -m benchmarks --latency MS`: sequential against partitioned full reads at a given page latency.

The emulator answers every /users page after MS milliseconds (``--page-latency``), as Microsoft Graph
takes a large fraction of a second per page. Two configuration repos differ only in the connector's
``readConcurrency`` (1, then K); each runs one full `idmctl reconcile` into its own fresh state, and
the two stores must come out the same (objects' properties and links, not generated ids).
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from benchmarks._bench import ENV, _log, make_repo
from benchmarks._floor import MAPPING
from benchmarks._processes import EmulatorProcess, run_idmctl
from controller.connectors.msgraph import GraphConnector, GraphSettings

__all__ = ["run_latency_bench"]


def _store(db: Path) -> tuple[list[Any], list[Any]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        objects = sorted(r[0] for r in conn.execute("SELECT properties FROM alpha_user"))
        links = sorted(conn.execute("SELECT l.source_id, o.properties FROM links l JOIN alpha_user o "
                                    "ON o.id = l.target_id").fetchall())
    finally:
        conn.close()
    return objects, links


def _set_concurrency(root: Path, concurrency: int) -> None:
    yaml = YAML()
    path = root / "environments" / ENV / "connector.yaml"
    doc = yaml.load(path)
    doc["spec"]["readConcurrency"] = concurrency
    yaml.dump(doc, path)


def _read_only(info: dict[str, Any], concurrency: int) -> dict[str, Any]:
    """The full read alone, in this process, through the connector: wall and CPU seconds, users, pages."""
    settings = GraphSettings(tenant_id=info["tenantId"], client_id=info["clientId"],
                             client_secret=Path(info["clientSecretFile"]).read_text("utf-8").strip(),
                             authority_host=info["authorityHost"], graph_url=info["graphUrl"],
                             ca_bundle=Path(info["caBundle"]), name="bench", read_concurrency=concurrency)
    with GraphConnector(settings) as connector:
        connector.token()
        started, cpu = time.perf_counter(), time.process_time()
        pages = users = 0
        for page in connector.iter_users(["givenName", "mail", "surname", "userPrincipalName"]):
            pages += 1
            users += len(page)
        return {"readConcurrency": concurrency, "wallS": round(time.perf_counter() - started, 3),
                "cpuS": round(time.process_time() - cpu, 3), "users": users, "pages": pages}


def run_latency_bench(users: int, latency_ms: float, concurrency: int = 8, *, quiet: bool = False) -> dict[str, Any]:
    """Full runs of ``users`` users at ``latency_ms`` per page: readConcurrency 1 against ``concurrency``."""
    with tempfile.TemporaryDirectory(prefix="idmctl-latency-") as tmp:
        work = Path(tmp)
        _log(f"starting the emulator with {users:,} users and {latency_ms:g} ms per page", quiet)
        with EmulatorProcess(users, work / "emulator", extra=["--page-latency", str(latency_ms)]) as emu:
            results: dict[str, Any] = {}
            stores = []
            _log("the full read alone, through the connector: sequential, then partitioned", quiet)
            reads = [_read_only(emu.info, 1), _read_only(emu.info, concurrency)]
            for k in (1, concurrency):
                root = make_repo(work / f"repo-{k}", emu.info, users)
                _set_concurrency(root, k)
                logs = work / f"logs-{k}"
                run_idmctl(["init", "--env", ENV], root=root, logs=logs)
                run_idmctl(["apply", "--env", ENV, "--auto-approve"], root=root, logs=logs)
                _log(f"full run with readConcurrency {k}", quiet)
                cpu = emu.cpu_seconds()
                child = run_idmctl(["reconcile", "--env", ENV, "--mapping", MAPPING, "--json"], root=root, logs=logs)
                run = child.json()
                results[str(k)] = {"readConcurrency": k, "wallS": round(child.seconds, 3),
                                   "cpuS": round(child.cpu_seconds, 3),
                                   "emulatorCpuS": round(emu.cpu_seconds() - cpu, 3),
                                   "state": run.get("state"), "actions": run.get("actions"),
                                   "peakRssMiB": round(child.peak_rss / 2**20, 1)}
                stores.append(_store(root / ".idmctl" / f"{ENV}.db"))
    seq, par = results["1"], results[str(concurrency)]
    return {"users": users, "latencyMs": latency_ms, "runs": [seq, par], "reads": reads,
            "readSpeedup": round(reads[0]["wallS"] / reads[1]["wallS"], 2) if reads[1]["wallS"] else None,
            "speedup": round(seq["wallS"] / par["wallS"], 2) if par["wallS"] else None,
            "identicalStores": stores[0] == stores[1]}


def render_latency(report: dict[str, Any]) -> str:
    lines = [f"{report['users']:,} users, {report['latencyMs']:g} ms per page:",
             "| readConcurrency | wall s | cpu s | emulator cpu s | peak RSS MiB | state |",
             "|---:|---:|---:|---:|---:|---|"]
    for r in report["runs"]:
        lines.append(f"| {r['readConcurrency']} | {r['wallS']:.2f} | {r['cpuS']:.2f} | {r['emulatorCpuS']:.2f} | "
                     f"{r['peakRssMiB']:.0f} | {r['state']} |")
    lines.append(f"full run (`idmctl reconcile`) speedup {report['speedup']}x; identical stores: "
                 f"{report['identicalStores']}")
    for r in report["reads"]:
        lines.append(f"read alone, readConcurrency {r['readConcurrency']}: {r['wallS']:.2f} s wall, {r['cpuS']:.2f} "
                     f"s CPU, {r['users']:,} users in {r['pages']:,} pages")
    lines.append(f"read speedup {report['readSpeedup']}x")
    return "\n".join(lines) + "\n"
