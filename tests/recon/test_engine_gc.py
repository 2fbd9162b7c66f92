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
    assert gc.get_threshold() == before and gc.get_freeze_count() == frozen


def test_collections_stay_off_when_they_were_off() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(0)
        with fewer_collections():
            assert gc.get_threshold()[0] == 0
        assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*before)
