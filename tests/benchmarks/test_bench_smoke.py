"""`make bench` end to end on 300 users: the emulator and every `idmctl` command as real processes.

No timing is asserted (machines are noisy); the report must hold every field, the runs' counts must
match the changes the bench made, and the floor must have written as many rows as the full run.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # `benchmarks/` sits next to `controller/`, outside the installed package
    sys.path.insert(0, str(REPO))

from benchmarks import FIELDS, PHASE_FIELDS, median_report, render_markdown, run_bench  # noqa: E402
from benchmarks.__main__ import main  # noqa: E402

USERS = 300


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return run_bench(USERS, quiet=True, keep=tmp_path_factory.mktemp("bench"))


def test_report_has_every_field(report: dict) -> None:
    assert set(FIELDS) <= set(report)
    assert [p["phase"] for p in report["phases"]] == ["full", "second full", "incremental"]
    for phase in report["phases"]:
        missing = [f for f in PHASE_FIELDS if phase.get(f) is None]
        assert not missing, f"{phase['phase']} lacks {missing}"
        assert phase["users"] == USERS
        assert phase["wallS"] > 0 and phase["floorS"] > 0 and phase["peakRssMiB"] > 0


def test_runs_do_what_the_changes_ask(report: dict) -> None:
    full, again, inc = report["phases"]
    assert full["check"] == "ok" and again["check"] == "ok" and inc["check"] == "ok"
    assert full["actions"] == {"CREATE": USERS}
    # The second full run, nothing changed: every account confirmed, not one entry or row written.
    assert again["situations"] == {"CONFIRMED": USERS} and again["store"]["recon_entries"] == 0
    assert again["floorWriteS"] == 0 and again["cpuVsFirst"] > 0
    mut = report["mutation"]
    assert (mut["creates"], mut["changes"], mut["deletes"]) == (3, 15, 3)
    assert inc["mode"] == "incremental"
    assert inc["actions"] == {"CREATE": 3, "UPDATE": 15, "DELETE": 3}
    assert inc["accounts"] == 21
    # The same incremental command with nothing to read measures the fixed cost of a run.
    assert inc["idleCpuS"] > 0 and inc["cpuUsPerChange"] >= 0 and inc["perChangeVsFullAccount"] >= 0
    assert inc["cpuUsPerChangeAllIn"] >= inc["cpuUsPerChange"]
    assert inc["floorCpuUsPerChange"] > 0 and inc["floorCpuUsPerAccount"] > 0 and inc["floorPerChangeVsAccount"] > 0
    assert "µs CPU per change beyond the fixed cost" in render_markdown(report)


def test_floor_writes_the_rows_the_run_writes(report: dict) -> None:
    full, _, inc = report["phases"]
    for table in ("alpha_user", "links", "recon_entries"):
        assert full["floorRows"][table] == full["store"][table] == USERS, table
    # Correlation index rows: as many as the run's store keeps (none when it indexes no property).
    assert full["floorRows"].get("managed_index", 0) == full["store"]["managed_index"]
    assert inc["floorRows"]["recon_entries"] == inc["store"]["recon_entries"] == 21
    assert inc["floorDetail"]["users"] == 18 and inc["floorDetail"]["removed"] == 3


def test_markdown_is_a_table_with_every_phase(report: dict) -> None:
    lines = render_markdown(report).splitlines()
    assert lines[0].startswith("| N | phase |") and "ratio" in lines[0]
    assert lines[2].startswith("| 300 | full |") and lines[3].startswith("| 300 | second full |")
    assert lines[4].startswith("| 300 | incremental |")


def test_cli_rejects_too_few_users(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--users", "3", "--json"]) == 1
    assert "too few" in capsys.readouterr().err


def _scaled(report: dict, factor: float, date: str) -> dict:
    """The report as a bench on a machine ``factor`` times slower would give it (times and costs scaled)."""
    scaled = copy.deepcopy(report)
    scaled["date"] = date
    for phase in scaled["phases"]:
        for key in ("wallS", "cpuS", "floorCpuS", "cpuUsPerChange", "idleCpuS"):
            if phase.get(key) is not None:
                phase[key] = phase[key] * factor
    return scaled


def test_repeated_benches_report_medians_and_their_spread(report: dict) -> None:
    slow, slower = _scaled(report, 2.0, "2026-12-02T07:01:00Z"), _scaled(report, 3.0, "2026-12-02T07:02:00Z")
    slower["phases"][2]["check"] = "CREATE: expected 3, got 2"
    merged = median_report([slower, report, slow])
    assert merged["repeats"] == 3 and merged["dates"][1] == report["date"]
    full, again, inc = merged["phases"]
    assert full["cpuS"] == round(report["phases"][0]["cpuS"] * 2, 3)  # the median, whichever order
    assert full["spread"]["cpuS"] == [report["phases"][0]["cpuS"], report["phases"][0]["cpuS"] * 3]
    assert full["cpuRatio"] == report["phases"][0]["cpuRatio"] and full["spread"]["cpuRatio"][0] == full["cpuRatio"]
    assert full["actions"] == {"CREATE": USERS} and full["check"] == "ok" and again["check"] == "ok"
    assert inc["check"] == "bench 1: CREATE: expected 3, got 2"
    text = render_markdown(merged)
    assert text.startswith(f"idmctl reconcile benchmark, {USERS} users (median of 3 benches):")
    assert "Spread (min–max)" in text and "incremental (sqlite): wall s " in text


def test_repeat_needs_one_bench_and_no_kept_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--users", "300", "--repeat", "0", "--json"]) == 1
    assert "--repeat must be at least 1, not 0" in capsys.readouterr().err
    assert main(["--users", "300", "--repeat", "2", "--keep", str(tmp_path), "--json"]) == 1
    assert "cannot be used with --repeat" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no bench"):
        median_report([])


def test_a_command_s_peak_rss_is_its_own_not_the_bench_s(tmp_path: Path) -> None:
    """On Linux a child's ru_maxrss starts at the resident size of the process it was forked from: a
    bench holding 300 MiB would have reported at least that for every command it measured."""
    from benchmarks._processes import run_idmctl

    held = bytearray(300 * 2**20)
    for i in range(0, len(held), 4096):  # resident, not just reserved
        held[i] = 1
    result = run_idmctl(["--help"], root=tmp_path, logs=tmp_path / "logs")
    assert result.returncode == 0 and "reconcile" in result.stdout
    assert 0 < result.peak_rss < 150 * 2**20, result.peak_rss
    del held


def test_a_command_that_cannot_start_is_reported_and_the_next_one_runs(tmp_path: Path) -> None:
    from benchmarks._processes import run_idmctl

    with pytest.raises(RuntimeError, match="could not start .*No such file or directory"):
        run_idmctl(["--help"], root=tmp_path / "missing", logs=tmp_path / "logs")
    assert run_idmctl(["--help"], root=tmp_path, logs=tmp_path / "logs").returncode == 0
