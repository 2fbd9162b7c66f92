"""`make bench`: full and incremental reconciliation of N generated users through the emulator, with a floor.

``run_bench(users)`` returns the report (``FIELDS``, each phase ``PHASE_FIELDS``); ``python -m
benchmarks`` prints it as a table, ``--markdown`` or ``--json``; ``--repeat K`` (``repeat_bench``) runs K
whole benches and reports the median of each figure with its spread (``median_report``).
"""

from benchmarks._bench import Mix, run_bench
from benchmarks._repeat import median_report, repeat_bench
from benchmarks._report import FIELDS, PHASE_FIELDS, render_json, render_markdown, render_table

__all__ = ["FIELDS", "PHASE_FIELDS", "Mix", "median_report", "render_json", "render_markdown", "render_table",
           "repeat_bench", "run_bench"]
