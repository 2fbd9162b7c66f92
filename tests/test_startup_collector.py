"""The garbage collector during a command's start-up (controller._startup): held back, then as before.

Nothing here is timed: the checks are the collector's thresholds and frozen objects around a command,
and, in a fresh interpreter, that `idmctl --help` (every command module imported) makes no pass
through the older generations at all.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import controller.recon._service as service
from controller._startup import START_UP_THRESHOLD, held_collector, start_work
from controller.cli import run as cli


@pytest.fixture(autouse=True)
def _collector() -> Iterator[tuple[int, int, int]]:
    """The test process's thresholds, checked untouched (and put back) after each test."""
    before = gc.get_threshold()
    gc.unfreeze()  # start from nothing frozen (a run in another test's lingering thread may have frozen)
    assert gc.isenabled()
    yield before
    after = gc.get_threshold()
    gc.set_threshold(*before)
    gc.unfreeze()
    gc.enable()
    assert after == before


def test_start_up_raises_only_the_first_threshold_and_the_end_restores_it(_collector: tuple[int, int, int]) -> None:
    with held_collector():
        assert gc.get_threshold() == (START_UP_THRESHOLD, *_collector[1:])
        assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == _collector
    assert gc.get_freeze_count() == 0  # unfrozen: the command's objects are collectable as before


def test_start_work_restores_the_thresholds_and_freezes_start_up_until_the_end(
        _collector: tuple[int, int, int]) -> None:
    with held_collector():
        start_up = [object() for _ in range(10)]  # noqa: F841  # some objects of the start-up
        start_work()
        assert gc.get_threshold() == _collector
        assert gc.get_freeze_count() > 0
        start_work()  # a second run of the same command (the scheduler's): nothing more
        assert gc.get_threshold() == _collector
    assert gc.get_freeze_count() == 0


def test_a_nested_command_leaves_the_outer_one_in_charge(_collector: tuple[int, int, int]) -> None:
    with held_collector():
        with held_collector():  # `python -m controller` holds it, then `cli.run` again
            pass
        assert gc.get_threshold()[0] == START_UP_THRESHOLD
    assert gc.get_threshold() == _collector


def test_a_disabled_collector_or_anothers_freeze_is_left_alone(_collector: tuple[int, int, int]) -> None:
    gc.disable()
    with held_collector():
        assert gc.get_threshold() == _collector and not gc.isenabled()
    gc.enable()
    start_work()  # outside a command: nothing to release
    assert gc.get_freeze_count() == 0
    gc.freeze()
    assert gc.get_freeze_count() > 0
    with held_collector():
        start_work()
        assert gc.get_threshold() == _collector
    # Not thawed by us: it is not our freeze. (A count, not a set: frozen objects freed meanwhile lower it.)
    assert gc.get_freeze_count() > 0


# The report is written by an exit handler: `idmctl` ends its process without the interpreter's teardown
# once the exit handlers have run (controller.cli._exit).
_CHILD = """
import atexit, gc, json, runpy, sys
passes = [0, 0, 0]
gc.callbacks.append(lambda phase, info: phase == "start" and passes.__setitem__(
    info["generation"], passes[info["generation"]] + 1))
def report():
    with open(OUT, "w") as fh:
        json.dump(passes, fh)
atexit.register(report)
sys.argv = ["idmctl", "--help"]
try:
    runpy.run_module("controller", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
"""


def test_help_imports_every_command_without_an_old_generation_pass(tmp_path: Path) -> None:
    report = tmp_path / "passes.json"
    child = _CHILD.replace("OUT", repr(str(report)))
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "reconcile" in proc.stdout, proc.stderr[-2000:]
    young, middle, old = json.loads(report.read_text())
    # Without the hold this start-up made ~100 young, ~9 middle and a full pass.
    assert (middle, old) == (0, 0) and young <= 2, (young, middle, old)


def test_the_engine_finds_the_collector_as_cpython_has_it(tmp_path: Path, emulator_session: Any, demo_repo: Any,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str],
                                                         _collector: tuple[int, int, int]) -> None:
    """Its own run thresholds are derived from the ones it finds (fewer_collections): not start-up's."""
    root = demo_repo(tmp_path / "repo", emulator_session)
    monkeypatch.chdir(root)
    monkeypatch.delenv("IDMCTL_ROOT", raising=False)
    assert cli(["init", "--env", "demo"]) == 0
    assert cli(["apply", "--env", "demo", "--auto-approve"]) == 0
    seen: list[tuple[int, int, int]] = []
    engine = service.reconcile

    def reconcile(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.get_threshold())
        return engine(*args, **kwargs)

    monkeypatch.setattr(service, "reconcile", reconcile)
    assert cli(["reconcile", "--env", "demo", "--mapping", "entra-users", "--quiet"]) == 0
    capsys.readouterr()
    assert seen == [_collector]
