"""Instructions the engine executes per account of a full run and per change of an incremental one.

`python benchmarks/instructions.py [--users N] [--full-users M] [--json]` (valgrind must be installed).
On a shared machine CPU seconds move by a third within minutes, so two versions of the engine cannot be
told apart by a few percent with timings; the instructions a run executes (counted by valgrind's
callgrind) are the same on every run of the same code and data. This measures the engine and the SQLite
store only, called in a process of their own (no CLI, HTTP or emulator: `python -m benchmarks` measures
those, in seconds):

- **full**: a full run of M generated users (default 20,000) into an empty store, per account;
- **incremental**: one delta round of the bench's mix (1% creates, 5% changes of givenName, 1% deletes)
  on a store of N accounts (default 100,000) made by a full run, per change.

Each is the difference between a child that runs the reconciliation and the same child stopped just
before it (interpreter, imports, the mapping, the data read from disk), so only the run is counted. The
kernel's part (system calls, page copies) is not an instruction valgrind sees: CPU seconds include it.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._bench import Mix, bench_mapping  # noqa: E402 - after the path is set

__all__ = ["count_instructions", "main"]

SELECT = ("givenName", "mail", "surname", "userPrincipalName")
DOMAIN = "contoso.onmicrosoft.com"


@dataclass(frozen=True)
class _Page:
    users: list[dict[str, Any]]
    removed: list[tuple[str, str]]
    delta_link: str | None = None


class _Source:
    """Graph's read surface over users in memory: pages of 999, and one delta round."""

    def __init__(self, users: Sequence[dict[str, Any]], delta: Sequence[_Page] = ()) -> None:
        self.users, self.delta = users, delta

    def iter_users(self, select: Sequence[str], pushdown: str | None = None) -> Iterator[list[dict[str, Any]]]:
        for start in range(0, len(self.users), 999):
            yield [dict(u) for u in self.users[start:start + 999]]

    def get_users(self, user_ids: Iterable[str], select: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {}  # neither round reads by id: the full run's store starts empty, the delta names each change

    def latest_delta_link(self, select: Sequence[str], pushdown: str | None = None) -> str:
        return "delta:0"

    def read_delta(self, delta_link: str) -> Iterator[_Page]:
        yield from self.delta


def _users(first: int, n: int, total: int) -> list[dict[str, Any]]:
    from controller.emulator._generator import UserGenerator

    generator = UserGenerator(total, DOMAIN)
    out = []
    for i in range(first, first + n):
        u = generator.user(i)
        out.append({"id": u["id"], **{a: u.get(a) for a in SELECT}})
    return out


def _mapping(n: int) -> Any:
    """The demo mapping as the bench runs it: no source filter, deletes on, the guard open for them."""
    from ruamel.yaml import YAML

    from controller.config.models import MappingSpec
    from controller.recon import compile_mapping

    spec = YAML(typ="safe").load(REPO / "environments" / "demo" / "mapping.yaml")["spec"]
    spec["sourceFilter"] = None
    bench_mapping(spec, n)
    return compile_mapping("entra-users", MappingSpec.model_validate(spec))


def _store(path: Path, fresh: bool) -> Any:
    from controller.backends.sqlite import SqliteScheduleState, SqliteStore
    from controller.backends.sqlite import _database as database

    conn = database.connect(path)
    if fresh:
        database.create_schema(conn)
    return SqliteStore(conn, SqliteScheduleState(conn))


def _child(kind: str, work: Path, run: bool) -> None:
    """What valgrind counts: load the data, then (``run``) reconcile; no teardown."""
    from controller.config.models import RunMode
    from controller.recon import reconcile

    data = pickle.loads((work / f"{kind}.pickle").read_bytes())
    mapping = _mapping(data["n"])
    db = work / "child.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    if kind == "incremental":
        shutil.copyfile(work / "base.db", db)
    store = _store(db, fresh=kind == "full")
    if run:
        source = _Source(data["users"], [_Page(*page) for page in data.get("delta", ())])
        result = reconcile(store, source, mapping, mode=RunMode(kind))
        store.conn.close()  # as closing the state does: the checkpoint is the run's cost too
        print(json.dumps({"state": str(result.state), "actions": dict(result.actions)}))
    sys.stdout.flush()
    os._exit(0)


def _prepare(work: Path, users: int, full_users: int) -> Mix:
    """The data both children read, and the base store of the incremental round (made natively)."""
    from controller.config.models import RunMode
    from controller.recon import reconcile

    base = _users(0, users, users)
    mix = Mix.for_users(users)
    rng = random.Random(7)
    picked = rng.sample(range(users), mix.changes + mix.deletes)
    changed = [dict(base[i], givenName=f"Changed{n}") for n, i in enumerate(picked[:mix.changes])]
    removed = [(base[i]["id"], "changed") for i in picked[mix.changes:]]
    listed = changed + _users(users, mix.creates, users + mix.creates)
    rng.shuffle(listed)
    delta: list[tuple[list[dict[str, Any]], list[tuple[str, str]], str | None]] = \
        [(listed[i:i + 999], [], None) for i in range(0, len(listed), 999)]
    delta.append(([], removed, "delta:1"))
    (work / "incremental.pickle").write_bytes(pickle.dumps({"n": users, "users": [], "delta": delta}))
    (work / "full.pickle").write_bytes(pickle.dumps({"n": full_users, "users": _users(0, full_users, full_users)}))
    store = _store(work / "base.db", fresh=True)
    reconcile(store, _Source(base), _mapping(users), mode=RunMode.FULL)
    store.conn.close()
    return mix


def count_instructions(argv: Sequence[str]) -> tuple[int, str]:
    """Instructions valgrind counts for ``python argv...`` (callgrind's "Collected"), and what it printed."""
    # The bytecode cache on, as an installed tool runs (without it every child compiles the package again).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, *argv],
                          capture_output=True, text=True, env=env)
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or found is None:
        raise RuntimeError(f"valgrind failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
    return int(found.group(1)), proc.stdout


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/instructions.py", description=__doc__.splitlines()[0])
    parser.add_argument("--users", "-n", type=int, default=100_000, help="accounts of the incremental round's store")
    parser.add_argument("--full-users", type=int, default=20_000, help="accounts of the full run (default 20000)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", choices=("full", "incremental"), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--run", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.work, bool(args.run))
    if args.users < 100 or args.full_users < 100:
        print("error: too few users (at least 100 for each)", file=sys.stderr)
        return 1
    if shutil.which("valgrind") is None:
        print("error: valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 1
    me = str(Path(__file__).resolve())
    with tempfile.TemporaryDirectory(prefix="idmctl-instructions-") as tmp:
        try:
            return _measure(Path(tmp), me, args.users, args.full_users, args.json)
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1


def _measure(work: Path, me: str, users: int, full_users: int, as_json: bool) -> int:
    mix = _prepare(work, users, full_users)
    out: dict[str, Any] = {"users": users, "fullUsers": full_users,
                           "mix": {"creates": mix.creates, "changes": mix.changes, "deletes": mix.deletes}}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for kind, units in (("full", full_users), ("incremental", mix.total)):
        child = [me, "--child", kind, "--work", str(work)]
        # Once without valgrind first: every module either child imports is then in the bytecode cache.
        warm = subprocess.run([sys.executable, *child], capture_output=True, text=True, env=env)
        if warm.returncode != 0:
            raise RuntimeError(f"the {kind} child failed ({warm.returncode}): {warm.stderr.strip()[-400:]}")
        loaded, _ = count_instructions([*child, "--run", "0"])
        ran, printed = count_instructions([*child, "--run", "1"])
        result = json.loads(printed)
        if result["state"] != "SUCCESS" or sum(result["actions"].values()) != units:
            raise RuntimeError(f"the {kind} run did not do what was asked: {result}")
        out[kind] = {"instructions": ran - loaded, "units": units, "perUnit": round((ran - loaded) / units),
                     "actions": result["actions"]}
    out["perChangeVsFullAccount"] = round(out["incremental"]["perUnit"] / out["full"]["perUnit"], 3)
    if as_json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"full run, {full_users:,} accounts into an empty store: {out['full']['instructions'] / 1e6:,.0f}M "
          f"instructions, {out['full']['perUnit']:,} per account")
    print(f"incremental round on {users:,} accounts ({mix.creates:,} creates, {mix.changes:,} changes, "
          f"{mix.deletes:,} deletes): {out['incremental']['instructions'] / 1e6:,.0f}M instructions, "
          f"{out['incremental']['perUnit']:,} per change")
    print(f"per change / full run's per account: {out['perChangeVsFullAccount']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
