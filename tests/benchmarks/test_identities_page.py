"""benchmarks/identities_page.py at a tiny size: it populates, measures every query and reports them."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # `benchmarks/` sits next to `controller/`, outside the installed package
    sys.path.insert(0, str(REPO))

from benchmarks.identities_page import run  # noqa: E402


def test_the_first_page_benchmark_reports_every_query() -> None:
    result = run(60, repeat=1)
    assert result["identities"] == "60"
    assert set(result["firstPage"]) == {"no filter", "filter", "json"}
    assert all(f["medianSeconds"] > 0 for f in result["firstPage"].values())  # measured, never compared
