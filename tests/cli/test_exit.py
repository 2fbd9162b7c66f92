"""The `idmctl` process ends without the interpreter's teardown, and loses nothing by it.

``controller.cli.main`` runs the exit handlers, flushes the streams and then ends the process at once
(``os._exit``): the exit code, every byte written to a pipe and what exit handlers do must be as with
an ordinary exit. Each case runs a fresh interpreter, as a user's shell does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from controller import __version__

# Buffered streams, as a user's shell has them (this machine's shell sets PYTHONUNBUFFERED).
_ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}, "NO_COLOR": "1", "COLUMNS": "100"}


def _idmctl(*argv: str, cwd: Path, prelude: str = "") -> subprocess.CompletedProcess[str]:
    code = f"import sys\n{prelude}\nsys.argv = ['idmctl', *{list(argv)!r}]\nfrom controller.cli import main\nmain()\n"
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=_ENV, capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_exit_code_and_the_whole_output_arrive(tmp_path: Path) -> None:
    ok = _idmctl("--version", cwd=tmp_path)
    assert ok.returncode == 0 and __version__ in ok.stdout
    # Help long enough to fill a pipe's buffer several times over, all of it there.
    helped = _idmctl("reconcile", "--help", cwd=tmp_path)
    assert helped.returncode == 0 and helped.stdout.rstrip().endswith("╯") and "--allow-deletes" in helped.stdout
    (tmp_path / "environments").mkdir()
    missing = _idmctl("runs", "list", "--env", "nowhere", "--json", cwd=tmp_path)
    assert missing.returncode == 1 and "nowhere" in missing.stderr
    assert json.loads(missing.stdout)["error"]  # the JSON error, flushed before the process ended


def test_exit_handlers_still_run(tmp_path: Path) -> None:
    marker = tmp_path / "handled"
    # One handler leaves a file, one writes to stdout unflushed: the streams are flushed after them.
    prelude = (f"import atexit, pathlib\natexit.register(pathlib.Path({str(marker)!r}).write_text, 'yes')\n"
               "atexit.register(sys.stdout.write, 'last words')")
    done = _idmctl("--version", cwd=tmp_path, prelude=prelude)
    assert done.returncode == 0 and marker.read_text() == "yes" and done.stdout.endswith("last words")


def test_a_thread_still_running_gets_the_ordinary_exit(tmp_path: Path) -> None:
    """A non-daemon thread alive at the end is waited for, as Python's own exit does."""
    marker = tmp_path / "thread"
    prelude = ("import threading, time, pathlib\n"
               f"threading.Thread(target=lambda: (time.sleep(0.5), pathlib.Path({str(marker)!r}).write_text('done'))"
               ").start()")
    done = _idmctl("--version", cwd=tmp_path, prelude=prelude)
    assert done.returncode == 0 and marker.read_text() == "done"
