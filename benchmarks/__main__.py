"""`python -m benchmarks [--users N] [--quick] [--repeat K] [--backend postgres] [--json | --markdown]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks._bench import run_bench
from benchmarks._repeat import repeat_bench
from benchmarks._report import render_json, render_markdown, render_table

__all__ = ["main"]

QUICK_USERS = 10_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Full and incremental `idmctl reconcile` of N generated users through the emulator, "
                    "measured against a floor of plain reads and bulk inserts.")
    parser.add_argument("--users", "-n", type=int, default=100_000, help="generated users (default 100000)")
    parser.add_argument("--quick", action="store_true", help=f"a fast check with {QUICK_USERS:,} users")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite",
                        help="postgres: run the same full and incremental runs with the state in PostgreSQL too, "
                             "reported next to SQLite with the ratio")
    parser.add_argument("--full-only", action="store_true", help="stop after the full run and its floor")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the report as JSON")
    output.add_argument("--markdown", action="store_true", help="print the results as markdown (for the README)")
    parser.add_argument("--repeat", type=int, default=1, metavar="K",
                        help="run the whole bench K times and report the median of each figure, with its "
                             "spread (default 1; ratio aims are judged on K >= 5 on a shared machine)")
    parser.add_argument("--keep", type=Path, help="keep the work directory (repo, state, logs) here")
    parser.add_argument("--latency", type=float, metavar="MS",
                        help="instead: full runs at MS ms per Graph page, readConcurrency 1 against --concurrency")
    parser.add_argument("--concurrency", type=int, default=8, help="readConcurrency for --latency (default 8)")
    args = parser.parse_args(argv)
    users = QUICK_USERS if args.quick else args.users
    if args.latency is not None:
        from benchmarks._latency import render_latency, run_latency_bench

        latency = run_latency_bench(users, args.latency, args.concurrency, quiet=args.json)
        sys.stdout.write(render_json(latency) if args.json else render_latency(latency))
        return 0 if latency["identicalStores"] and all(r["state"] == "SUCCESS" for r in latency["runs"]) else 1
    quiet = args.json or args.markdown
    if args.repeat > 1 and args.keep is not None:
        print("error: --keep keeps one bench's work directory; it cannot be used with --repeat", file=sys.stderr)
        return 1
    try:
        report = repeat_bench(args.repeat, lambda: run_bench(users, quiet=quiet, keep=args.keep,
                                                             incremental=not args.full_only, backend=args.backend),
                              log=None if quiet else lambda line: print(f"[bench] {line}", flush=True))
    except (RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(render_json(report))
    elif args.markdown:
        sys.stdout.write(render_markdown(report))
    else:
        render_table(report)
    return 0 if all(p["check"] == "ok" for p in report["phases"]) else 1


if __name__ == "__main__":
    sys.exit(main())
