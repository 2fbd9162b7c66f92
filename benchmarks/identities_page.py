"""First-page time of `idmctl identities search` on N identities (default 300,000): measured, not asserted.

The identities arrive as they do for a user: `idmctl emulator --generate N` in its own process, the demo
environment aimed at it without a source filter, `init`, `apply` and one full `reconcile`. Then the
emulator stops and `identities search` runs as a process of its own (what a person waits for: the
interpreter, the configuration and the page), several times, without and with a filter. Aim: the
first page in under 2 s. Run it as `python benchmarks/identities_page.py [-n N] [--json]`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.emulator_pages import _wait_for_info, stop_process  # noqa: E402 - after the path is set

__all__ = ["run"]

REPO = Path(__file__).resolve().parents[1]
QUERIES = {"no filter": [], "filter": ['accountStatus eq "active"'], "json": ["--json"]}


def _idmctl(root: Path | None, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    where = ["--root", str(root)] if root is not None else []
    proc = subprocess.run([sys.executable, "-m", "controller", *args, *where], text=True,
                          capture_output=True, env={**os.environ, "COLUMNS": "200"})
    seconds = time.perf_counter() - started
    if proc.returncode not in (0, 4):  # 4: a run with failed entries (generated users are all valid)
        raise RuntimeError(f"`idmctl {' '.join(args)}` exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return seconds, proc


def _populate(root: Path, n: int) -> float:
    """N identities in ``root``'s demo environment, through the emulator and one full run; its seconds."""
    shutil.copytree(REPO / "environments" / "demo", root / "environments" / "demo")
    state = root / ".emulator"
    emulator = subprocess.Popen(
        [sys.executable, "-m", "controller", "emulator", "--state-dir", str(state), "--generate", str(n),
         "--no-sample", "--quiet", "--json", "--port", "0"], cwd=root, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        info = _wait_for_info(state / "emulator.json", emulator, timeout=600)
        env_file = root / "environments" / "demo" / "environment.yaml"
        text = env_file.read_text().replace("https://127.0.0.1:47443", info["base_url"])
        env_file.write_text(re.sub(r"(source_filter: ).*", r"\1null", text))
        _idmctl(root, "init", "--env", "demo")
        _idmctl(root, "apply", "--env", "demo", "--auto-approve", "-q")
        seconds, _ = _idmctl(root, "reconcile", "--env", "demo", "--mapping", "entra-users", "-q")
        return seconds
    finally:
        stop_process(emulator)


def run(n: int = 300_000, repeat: int = 5) -> dict[str, Any]:
    """Populate N identities, then time the first page of `identities search` ``repeat`` times per query."""
    with tempfile.TemporaryDirectory(prefix="idmctl-bench-page-") as tmp:
        root = Path(tmp)
        populate = _populate(root, n)
        _, first = _idmctl(root, "identities", "search", "--env", "demo")
        found = re.search(r"([\d,]+\+?) found", first.stdout)
        result: dict[str, Any] = {"identities": found.group(1) if found else None,
                                  "populateSeconds": round(populate, 1), "firstPage": {}}
        for label, extra in QUERIES.items():
            times = [_idmctl(root, "identities", "search", "--env", "demo", *extra)[0] for _ in range(repeat)]
            result["firstPage"][label] = {"medianSeconds": round(statistics.median(times), 3),
                                          "minSeconds": round(min(times), 3)}
        baseline = [_idmctl(None, "--version")[0] for _ in range(repeat)]
        result["interpreterSeconds"] = round(statistics.median(baseline), 3)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--identities", type=int, default=300_000, help="identities (default 300000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per query (default 5)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = run(args.identities, args.repeat)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"identities search, first page of 50, {result['identities']} identities "
          f"(populated by one full run in {result['populateSeconds']} s):")
    for label, figures in result["firstPage"].items():
        print(f"  {label:10} median {figures['medianSeconds']:.3f} s, best {figures['minSeconds']:.3f} s "
              "(aim: under 2 s)")
    print(f"  `idmctl --version` alone: {result['interpreterSeconds']:.3f} s (interpreter and imports)")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
