"""`python benchmarks/confirmations.py` on a small tenant without latency: it runs and reports each way."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # `benchmarks/` sits next to `controller/`, outside the installed package
    sys.path.insert(0, str(REPO))

from benchmarks.confirmations import main  # noqa: E402


def test_confirmations_reports_one_get_each_and_batches(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--ids", "45", "--latency", "0", "--sample", "3", "--concurrency", "1", "3"]) == 0
    out = capsys.readouterr().out
    assert "45 users by id at 0 ms per round trip" in out
    assert "| one GET each (from 3 timed) |" in out
    assert out.count("| $batch, readConcurrency") == 2 and out.rstrip().endswith("| 3 |")  # 45 ids: 3 batches


def test_confirmations_refuses_nonsense(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--ids", "0"]) == 1
    assert "at least 1" in capsys.readouterr().err
