"""`--repeat K`: K whole benches, one report of their medians with each figure's spread.

This machine's speed moves by a third within minutes, and a floor (SQLite's page writes) moves
differently from a run (Python), so one bench cannot decide a ratio aim. Each bench here is complete
(its own emulator, repository, state and floors), and every figure is the median of the K benches'
figures: a ratio is the median of K ratios, each measured in the same minute as its floor, never a
ratio of two medians taken at different times.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["SPREAD_KEYS", "median_report", "repeat_bench"]

# The figures whose spread (min, max over the benches) the report shows next to their medians.
SPREAD_KEYS = ("wallS", "cpuS", "floorCpuS", "cpuRatio", "cpuVsFirst", "cpuUsPerChange",
               "fullCpuUsPerAccount", "perChangeVsFullAccount", "idleCpuS", "floorPerChangeVsAccount")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _median(values: Sequence[Any]) -> Any:
    median = statistics.median(values)
    return round(median, 3) if isinstance(median, float) else median


def _merge(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The first dict with each number replaced by the median of that number in all of them."""
    out = dict(items[0])
    for key, value in items[0].items():
        if _is_number(value) and all(_is_number(i.get(key)) for i in items):
            out[key] = _median([i[key] for i in items])
    return out


def median_report(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One report from K: per phase the median of every figure, ``spread`` (min, max) of the main ones,
    and ``check`` "ok" only when every bench's check was."""
    if not reports:
        raise ValueError("no bench to take medians of")
    first = reports[0]
    out = _merge(reports)
    out["repeats"] = len(reports)
    out["dates"] = [r["date"] for r in reports]
    for key in ("emulator", "mutation"):
        if first.get(key) is not None:
            out[key] = _merge([r[key] for r in reports])
    phases = []
    for phase in first["phases"]:
        same = [p for r in reports for p in r["phases"]
                if (p["phase"], p["backend"]) == (phase["phase"], phase["backend"])]
        if len(same) != len(reports):
            raise ValueError(f"the benches do not all have a {phase['phase']} phase ({phase['backend']})")
        merged = _merge(same)
        merged["spread"] = {key: [min(p[key] for p in same), max(p[key] for p in same)]
                            for key in SPREAD_KEYS if all(_is_number(p.get(key)) for p in same)}
        failed = [f"bench {n}: {p['check']}" for n, p in enumerate(same, 1) if p["check"] != "ok"]
        merged["check"] = "ok" if not failed else "; ".join(failed)
        phases.append(merged)
    out["phases"] = phases
    return out


def repeat_bench(times: int, bench: Callable[[], dict[str, Any]],
                 log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """``bench()`` ``times`` times, one after another, and the report of their medians."""
    if times < 1:
        raise ValueError(f"--repeat must be at least 1, not {times}")
    reports = []
    for n in range(1, times + 1):
        if log is not None:
            log(f"bench {n} of {times}")
        reports.append(bench())
    return reports[0] if times == 1 else median_report(reports)
