"""`make bench`: full and incremental reconciliation of N generated users through the emulator, with a floor.

``run_bench(users)`` returns the report (``FIELDS``, each phase ``PHASE_FIELDS``); ``python -m
benchmarks`` prints it as a table, ``--markdown`` or ``--json``.
"""

from benchmarks._bench import Mix, run_bench
from benchmarks._report import FIELDS, PHASE_FIELDS, render_json, render_markdown, render_table

__all__ = ["FIELDS", "PHASE_FIELDS", "Mix", "render_json", "render_markdown", "render_table", "run_bench"]
