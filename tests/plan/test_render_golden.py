"""Golden tests of the text renderer: tests/plan/fixtures/<scenario>/{applied,desired}.json -> expected.txt.

Regenerate after an intended change with ``IDMCTL_UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from controller.plan import compute_plan, render_text

FIXTURES = Path(__file__).parent / "fixtures"
SCENARIOS = sorted(p.name for p in FIXTURES.iterdir() if (p / "desired.json").is_file())


def plan_of(scenario: str):  # type: ignore[no-untyped-def]
    applied = json.loads((FIXTURES / scenario / "applied.json").read_text())
    desired = json.loads((FIXTURES / scenario / "desired.json").read_text())
    return compute_plan(desired, applied, applied_serial=4, applied_lineage="lineage-1",
                        desired_hash="sha256:0", environment="dev")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_text_rendering_matches_golden_file(scenario: str) -> None:
    rendered = render_text(plan_of(scenario))
    expected = FIXTURES / scenario / "expected.txt"
    if os.environ.get("IDMCTL_UPDATE_GOLDEN") == "1":
        expected.write_text(rendered)
    assert rendered == expected.read_text()


def test_colour_only_when_asked() -> None:
    plan = plan_of("update-mapping")
    assert "\x1b[" not in render_text(plan)
    coloured = render_text(plan, colour=True)
    assert "\x1b[33m" in coloured
    assert render_text(plan) == __import__("re").sub(r"\x1b\[[0-9;]*m", "", coloured)
