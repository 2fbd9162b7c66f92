"""How a bench report is shown: a rich table for people, markdown for the README, JSON for machines."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["COLUMNS", "FIELDS", "PHASE_FIELDS", "render_json", "render_markdown", "render_table"]

# (phase key, column title, format)
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("users", "N", "{:,}"),
    ("phase", "phase", "{}"),
    ("backend", "state", "{}"),
    ("accounts", "accounts", "{:,}"),
    ("wallS", "wall s", "{:.2f}"),
    ("runS", "run s", "{:.2f}"),
    ("cpuS", "cpu s", "{:.2f}"),
    ("accountsPerS", "accounts/s", "{:,}"),
    ("usPerAccount", "µs/account", "{:,.0f}"),
    ("peakRssMiB", "peak RSS MiB", "{:.0f}"),
    ("floorS", "floor s", "{:.2f}"),
    ("floorCpuS", "floor cpu s", "{:.2f}"),
    ("ratio", "ratio", "{:.2f}x"),
    ("cpuRatio", "cpu ratio", "{:.2f}x"),
    ("vsSqlite", "vs sqlite", "{:.2f}x"),
    ("cpuVsFirst", "cpu vs first", "{:.2f}x"),
)
FIELDS = ("users", "machine", "date", "mutation", "emulatorPeakRssMiB", "emulator", "phases")
PHASE_FIELDS = (*(key for key, _, _ in COLUMNS if key not in ("vsSqlite", "cpuVsFirst")),  # not in every phase
                "processed", "floorReadS", "floorWriteS", "runRatio", "emulatorCpuS", "situations",
                "actions", "failures", "state", "mode", "store", "floorRows", "floorDetail", "check")

NOTES = (
    "wall s: the `idmctl reconcile` process, start to exit (interpreter start, config load and token "
    "included); run s: the run's own durationMs; cpu s: that process's user + system CPU time "
    "(steadier than wall time on a shared machine). accounts: N for the full run; creates + changes + deletes "
    "for the incremental. peak RSS: that process alone (wait4 ru_maxrss). floor s: reading the same pages "
    "with requests + orjson ($top=999, same $select; the full run's pages served from memory by a minimal "
    "HTTP server in its own process, so the emulator's cost is not in the floor; the same delta round for "
    "the incremental) plus writing the same rows (objects, index rows, links, entries) with executemany, "
    "committed in batches as the run commits them (5,000, then each batch twice the last, up to 50,000), "
    "into a fresh SQLite file with the store's pragmas. "
    "ratio: wall s / floor s; cpu ratio: cpu s / the floor's CPU seconds. state: where the run kept its "
    "state; vs sqlite (with --backend postgres): the PostgreSQL run's wall s over the same phase's SQLite "
    "run, same emulator, same bench. second full: the full run again with nothing changed (it must write "
    "nothing); its floor is the read alone; cpu vs first: its cpu s over the first full run's."
)


_SPREAD_TITLES = {"wallS": "wall s", "cpuS": "cpu s", "floorCpuS": "floor cpu s", "cpuRatio": "cpu ratio",
                  "cpuVsFirst": "cpu vs first", "cpuUsPerChange": "µs per change",
                  "perChangeVsFullAccount": "per change / full per account", "idleCpuS": "idle cpu s",
                  "floorPerChangeVsAccount": "floor per change / floor per account"}


def _title(report: dict[str, Any]) -> str:
    repeats = report.get("repeats")
    return f"idmctl reconcile benchmark, {report['users']:,} users" + \
        (f" (median of {repeats} benches)" if repeats else "")


def _cell(phase: dict[str, Any], key: str, fmt: str) -> str:
    value = phase.get(key)
    return "–" if value is None else fmt.format(value)


def _footer(report: dict[str, Any]) -> list[str]:
    m = report["machine"]
    mut = report["mutation"]
    line = (f"{m['cpus']} CPUs, Python {m['python']}, SQLite {m['sqlite']}, {m['platform']}; {report['date']}. "
            f"Emulator (a separate process) peak RSS {report['emulatorPeakRssMiB']:.0f} MiB.")
    emu = report.get("emulator") or {}
    if emu:
        line += (f" Emulator's own cost, apart from the floor: reading its {emu['pages']:,} pages took "
                 f"{emu['emulatorReadS']:.2f} s against {emu['memoryReadS']:.2f} s from memory "
                 f"(+{emu['emulatorS']:.2f} s); it used {emu['runEmulatorCpuS']:.2f} CPU s during the full run.")
    if mut is not None:
        line += (f" Incremental round: {mut['creates']:,} creates, {mut['changes']:,} changes, {mut['deletes']:,} "
                 f"deletes (applied in {mut['seconds']:.1f} s through the emulator's admin API).")
    lines = [line]
    if report.get("repeats"):
        lines.append(f"Every figure is the median of {report['repeats']} whole benches ({', '.join(report['dates'])}); "
                     "a ratio is the median of the benches' ratios. Spread (min–max):")
        for phase in report["phases"]:
            spread = phase.get("spread", {})
            parts = [f"{_SPREAD_TITLES[key]} {low:g}–{high:g}" for key, (low, high) in spread.items()
                     if key in _SPREAD_TITLES]
            lines.append(f"{phase['phase']} ({phase['backend']}): " + ", ".join(parts) + ".")
    for phase in report["phases"]:
        if phase.get("cpuUsPerChange") is not None:
            lines.append(
                f"Incremental ({phase['backend']}): {phase['cpuUsPerChange']:,.0f} µs CPU per change beyond the "
                f"fixed cost of a run ({phase['idleCpuS']:.2f} CPU s: the same command with nothing to read), "
                f"{phase['perChangeVsFullAccount']:.2f}x the full run's {phase['fullCpuUsPerAccount']:,.0f} µs per "
                f"account; {phase['cpuUsPerChangeAllIn']:,.0f} µs per change all in. The floor alone: "
                f"{phase['floorCpuUsPerChange']:,.0f} µs per change (the round's reads and writes), "
                f"{phase['floorPerChangeVsAccount']:.2f}x its {phase['floorCpuUsPerAccount']:,.0f} µs per account "
                "of the full run's.")
    for phase in report["phases"]:
        if phase["check"] != "ok":
            lines.append(f"CHECK FAILED ({phase['phase']}): {phase['check']}")
    return lines


def render_table(report: dict[str, Any], console: Console | None = None) -> None:
    """Print the results table (rich) with the floor's parts and the checks under it."""
    if console is None:
        console = Console(highlight=False)
        if not console.is_terminal:
            console.width = 150  # a pipe or CI log: do not squeeze the table into 80 columns
    table = Table(title=_title(report), title_justify="left")
    for key, title, _ in COLUMNS:
        table.add_column(title, justify="left" if key in ("phase", "backend") else "right")
    for phase in report["phases"]:
        table.add_row(*(_cell(phase, key, fmt) for key, _, fmt in COLUMNS))
    console.print(table)
    for phase in report["phases"]:
        if phase.get("vsSqlite") is not None:
            console.print(f"{phase['phase']}: PostgreSQL state {phase['vsSqlite']:.2f}x the wall time of SQLite state "
                          f"({phase.get('cpuVsSqlite')}x its CPU)")
    for phase in report["phases"]:
        console.print(f"[dim]{phase['phase']} ({phase['backend']}): floor = read {phase['floorReadS']:.2f} s + write "
                      f"{phase['floorWriteS']:.2f} s; run s / floor = {phase['runRatio']}x; "
                      f"check: {phase['check']}[/dim]")
    for line in _footer(report):
        console.print(f"[{'red' if line.startswith('CHECK') else 'dim'}]{line}[/]")


def render_markdown(report: dict[str, Any]) -> str:
    """The results as a markdown table with its notes, to paste into the README."""
    lines = [] if not report.get("repeats") else [f"{_title(report)}:", ""]
    lines += ["| " + " | ".join(title for _, title, _ in COLUMNS) + " |",
             "|" + "|".join("---" if key in ("phase", "backend") else "---:" for key, _, _ in COLUMNS) + "|"]
    for phase in report["phases"]:
        lines.append("| " + " | ".join(_cell(phase, key, fmt) for key, _, fmt in COLUMNS) + " |")
    lines.append("")
    for phase in report["phases"]:
        lines.append(f"- {phase['phase']}: floor = read {phase['floorReadS']:.2f} s + write "
                     f"{phase['floorWriteS']:.2f} s; run s / floor = {phase['runRatio']}x; check: {phase['check']}.")
    lines.extend(f"- {line}" for line in _footer(report))
    lines.append(f"- {NOTES}")
    return "\n".join(lines) + "\n"


def render_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
