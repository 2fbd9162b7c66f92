"""A command's start-up with the cyclic garbage collector held back, and the moment its real work begins.

Start-up (importing ~550 modules, building the config models and the typer app, loading and validating
the working tree) makes objects that live until the process exits; the collector's passes over them
free nothing. An idle `idmctl reconcile --incremental --json` spent ~30 ms of its ~0.35 s of CPU in
~120 such passes (one of them full), `runs list` and `validate` ~15 ms.

``python -m controller`` and ``cli.run`` run a command inside `held_collector`: the first generation's
threshold is raised so far that start-up triggers no pass. It is raised, not switched off, so that a
command that never calls `start_work` still collects (rarely) and its memory stays bounded.
`start_work` -- called where a long run begins: the engine, the scheduler's loop, the emulator's
server -- puts the thresholds back and freezes what start-up made (``gc.freeze``), so the run's own
passes do not walk it again either. (The engine then applies its own run thresholds, derived from the
ones it finds: ``controller.recon._engine.fewer_collections``; it must find CPython's, not ours.)
When the command ends the thresholds are restored and everything is unfrozen into the oldest
generation, unwalked: a process that runs many commands (the tests) collects their garbage at its
next full collection, as if those objects had aged there.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["START_UP_THRESHOLD", "held_collector", "start_work"]

# Above what the start-up of the heaviest command allocates (~80,000 tracked objects for a reconcile),
# below what would let garbage pile up without bound in a command that never calls start_work.
START_UP_THRESHOLD = 200_000

_lock = threading.Lock()
_saved: tuple[int, int, int] | None = None  # the thresholds while held
_froze = False  # whether start_work froze (then the command's end unfreezes)


@contextmanager
def held_collector() -> Iterator[None]:
    """Hold the collector back for one command (see the module's docstring); nested uses are no-ops."""
    global _saved, _froze
    with _lock:
        mine = _saved is None and gc.isenabled()
        if mine:
            _saved = gc.get_threshold()
            gc.set_threshold(START_UP_THRESHOLD, *_saved[1:])
    try:
        yield
    finally:
        if mine:
            with _lock:
                # Restoring the thresholds alone would make the next allocation walk everything the
                # command made (15-30 ms for a `runs list`); frozen and unfrozen, it is in the oldest
                # generation instead, for the next full collection, as if it had aged there.
                _release()
                if _froze:
                    gc.unfreeze()
                    _froze = False


def start_work() -> None:
    """Start-up is over, a long run begins: the collector's thresholds as before, start-up's objects frozen."""
    with _lock:
        _release()


def _release() -> None:
    global _saved, _froze
    if _saved is None:
        return
    if gc.get_freeze_count() == 0:  # someone else's freeze is theirs to undo; leave it alone
        gc.freeze()
        _froze = True
    gc.set_threshold(*_saved)
    _saved = None
