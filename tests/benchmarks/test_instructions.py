"""`benchmarks/instructions.py`: the instructions of a full run and of an incremental round, counted by valgrind.

The counts are not asserted (they belong to the code of the day); the runs must do what the round
asks, and a count must be the run's alone: more accounts, more instructions.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.instructions import main  # noqa: E402

needs_valgrind = pytest.mark.skipif(
    shutil.which("valgrind") is None and os.environ.get("CI") != "true",
    reason="valgrind is not installed (Debian: apt-get install valgrind); .ci/run installs it")


@needs_valgrind
def test_counts_a_full_run_and_an_incremental_round(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--users", "300", "--full-users", "200", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mix"] == {"creates": 3, "changes": 15, "deletes": 3}
    assert out["full"]["actions"] == {"CREATE": 200} and out["full"]["units"] == 200
    assert out["incremental"]["actions"] == {"CREATE": 3, "UPDATE": 15, "DELETE": 3}
    # The run's instructions alone: far fewer than a Python start-up's (~1.2 billion with the imports).
    for kind in ("full", "incremental"):
        assert 0 < out[kind]["instructions"] < 500_000_000, out[kind]
    assert out["perChangeVsFullAccount"] == round(out["incremental"]["perUnit"] / out["full"]["perUnit"], 3)


def test_too_few_users_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--users", "10"]) == 1
    assert "too few users (at least 100 for each)" in capsys.readouterr().err
