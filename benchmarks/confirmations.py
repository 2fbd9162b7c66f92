"""Confirming sources by id at a page latency: one GET each against JSON batches of 20.

`python benchmarks/confirmations.py [--ids N] [--latency MS] [--concurrency K ...]` starts the emulator
with that latency per round trip (`--page-latency`), then reads N existing users by id through the
connector: a sample of them one `GET /users/{id}` at a time (what confirming cost before `$batch`),
and all N with `GraphConnector.get_users` at each readConcurrency K. A partitioned full run confirms
this way the linked sources its partitions did not list before any of them can be SOURCE_MISSING.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import requests  # noqa: E402 - after the path is set

from controller.connectors.msgraph import GraphConnector, GraphSettings  # noqa: E402
from controller.emulator import Emulator  # noqa: E402

__all__ = ["main"]


class _CountingSession(requests.Session):
    """Counts the Graph requests sent (not the login's): the round trips column is measured."""

    def __init__(self, concurrency: int) -> None:
        super().__init__()
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=max(10, concurrency + 2))
        self.mount("https://", adapter)
        self.graph_requests = 0
        self._lock = threading.Lock()

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if "/v1.0/" in str(url):
            with self._lock:  # batches are sent from several threads
                self.graph_requests += 1
        return super().request(method, url, *args, **kwargs)


def _settings(emu: Emulator, concurrency: int) -> GraphSettings:
    return GraphSettings(tenant_id=emu.tenant_id, client_id=emu.client_id, client_secret=emu.client_secret,
                         authority_host=emu.base_url, graph_url=emu.graph_url, ca_bundle=emu.ca_path,
                         name="entra", read_concurrency=concurrency)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/confirmations.py", description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=1000, help="users to read by id (default 1000)")
    parser.add_argument("--latency", type=float, default=200, help="milliseconds per round trip (default 200)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8], help="readConcurrency values")
    parser.add_argument("--sample", type=int, default=50, help="reads one at a time, to time a single GET")
    args = parser.parse_args(argv)
    if args.ids < 1 or args.sample < 1 or any(k < 1 for k in args.concurrency):
        print("error: --ids, --sample and --concurrency must be at least 1", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="idmctl-confirmations-") as tmp, \
            Emulator(Path(tmp), generate=args.ids, seed_sample=False, page_latency=args.latency / 1000) as emu:
        with GraphConnector(_settings(emu, 1)) as connector:
            ids = [u["id"] for page in connector.iter_users(["id"]) for u in page]
            sample = ids[:args.sample]
            started = time.monotonic()
            for uid in sample:
                connector.get_user(uid, ["mail"])
            each = (time.monotonic() - started) / len(sample)
        print(f"{len(ids):,} users by id at {args.latency:g} ms per round trip")
        print(f"| how | wall s | round trips |\n|---|---:|---:|\n| one GET each (from {len(sample)} timed) | "
              f"{each * len(ids):,.1f} | {len(ids):,} |")
        for k in args.concurrency:
            session = _CountingSession(k)
            with GraphConnector(_settings(emu, k), session=session) as connector:
                connector.token()  # the login is not what is measured
                started = time.monotonic()
                found = connector.get_users(ids, ["mail"])
                took = time.monotonic() - started
            if len(found) != len(ids):
                print(f"error: get_users found {len(found)} of {len(ids)}", file=sys.stderr)
                return 1
            print(f"| $batch, readConcurrency {k} | {took:,.2f} | {session.graph_requests:,} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
