"""A run collects garbage less often (RUN_GC_THRESHOLDS) and puts the collector back as it was after."""

from __future__ import annotations

import gc

from controller.recon._engine import RUN_GC_THRESHOLDS, fewer_collections
from tests.recon.conftest import PEOPLE, Runner


def test_a_run_raises_the_thresholds_and_restores_them(recon: Runner) -> None:
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    during: list[tuple[int, int, int]] = []
    run = recon(progress=lambda *_: during.append(gc.get_threshold()))
    assert run.state == "SUCCESS" and run.actions == {"CREATE": len(PEOPLE)}
    assert during and all(t == tuple(max(a, b) for a, b in zip(RUN_GC_THRESHOLDS, before, strict=True))
                          for t in during)
    # (A count, not a set: a frozen object freed meanwhile lowers it; what matters is frozen or not.)
    assert gc.get_threshold() == before and (gc.get_freeze_count() > 0) == (frozen > 0)


def test_collections_stay_off_when_they_were_off() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(0)
        with fewer_collections():
            assert gc.get_threshold()[0] == 0
        assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*before)


def test_a_freeze_made_before_the_run_outlasts_it() -> None:
    """Objects frozen before a run (a command's start-up: controller._startup) are still frozen after it."""
    gc.freeze()
    try:
        assert gc.get_freeze_count() > 0
        with fewer_collections():
            pass
        assert gc.get_freeze_count() > 0  # not thawed by the run (it would be 0)
    finally:
        gc.unfreeze()
