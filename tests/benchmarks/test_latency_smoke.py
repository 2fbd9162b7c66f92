"""`python -m benchmarks --latency MS` end to end on a few users: sequential and partitioned full runs
give the same store. No timing is asserted."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # `benchmarks/` sits next to `controller/`, outside the installed package
    sys.path.insert(0, str(REPO))

from benchmarks._latency import render_latency, run_latency_bench  # noqa: E402


def test_partitioned_and_sequential_full_runs_give_the_same_store() -> None:
    report = run_latency_bench(120, 1, 4, quiet=True)
    assert report["identicalStores"] is True
    assert [r["state"] for r in report["runs"]] == ["SUCCESS", "SUCCESS"]
    assert [r["actions"] for r in report["runs"]] == [{"CREATE": 120}] * 2
    assert [r["users"] for r in report["reads"]] == [120, 120]
    assert "identical stores: True" in render_latency(report)
