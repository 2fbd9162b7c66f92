"""Child processes of the bench: the emulator it reads from, and `idmctl` commands measured one by one.

Each `idmctl` command runs as its own process so that its wall time, exit code and peak RSS
(``os.wait4``'s ``ru_maxrss``, that process alone) are what a person running it would see.

A child's ``ru_maxrss`` on Linux is at least the resident size of the process it was forked from (the
high-water mark of the memory it replaced at exec is kept), so a bench holding hundreds of MiB would
report that for every command it starts. The commands are therefore started by a small launcher
process of their own (``_Launcher``), whose few MiB are all a command's figure can inherit.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.emulator_pages import REPO, _peak_rss, _wait_for_info, stop_process

__all__ = ["REPO", "ChildResult", "EmulatorProcess", "run_idmctl"]


@dataclass(frozen=True, slots=True)
class ChildResult:
    """What one `idmctl` process did: exit code, wall and CPU seconds, peak RSS in bytes, its output."""

    argv: list[str]
    returncode: int
    seconds: float
    cpu_seconds: float
    peak_rss: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        """The command's ``--json`` output; raises RuntimeError (with its stderr) when there is none."""
        try:
            data = json.loads(self.stdout)
        except ValueError:
            raise RuntimeError(f"`idmctl {' '.join(self.argv)}` exited {self.returncode} without JSON on "
                               f"stdout; stderr: {self.stderr.strip()[-2000:]}") from None
        if not isinstance(data, dict):
            raise RuntimeError(f"`idmctl {' '.join(self.argv)}` printed JSON that is not an object")
        return data


# The launcher: runs each command it is sent (one JSON line: argv, cwd, env, stdout and stderr files) and
# answers one JSON line with its wait status, wall seconds, CPU seconds and peak RSS, or the error that
# kept it from starting the command. (``-I -S``: the standard library only, nothing from the bench's
# directory or site-packages, and a few MiB.)
_LAUNCHER = """
import json, os, subprocess, sys, time
for line in sys.stdin:
    job = json.loads(line)
    try:
        with open(job["out"], "wb") as out, open(job["err"], "wb") as err:
            started = time.perf_counter()
            proc = subprocess.Popen(job["argv"], cwd=job["cwd"], env=job["env"], stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err)
            _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: tell Popen so
        answer = {"status": status, "seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime,
                  "maxrss": usage.ru_maxrss * 1024}
    except OSError as exc:
        answer = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(answer), flush=True)
"""


class _Launcher:
    """The small process every measured command is started from (see the module's docstring)."""

    _proc: subprocess.Popen[str] | None = None
    _lock = threading.Lock()

    @classmethod
    def run(cls, job: dict[str, Any]) -> dict[str, Any]:
        """Run one job; a launcher that ended, or a wait that was interrupted, is not used again (its
        next answer would be this job's), and the next job starts a new one."""
        with cls._lock:
            if cls._proc is None or cls._proc.poll() is not None:
                cls._proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", _LAUNCHER], stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, text=True)
                atexit.register(cls._stop, cls._proc)
            proc = cls._proc
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(json.dumps(job) + "\n")
                proc.stdin.flush()
                answer = proc.stdout.readline()
            except BaseException:
                cls._discard()
                raise
            if not answer:
                cls._discard()
                raise RuntimeError(f"the bench's launcher ended before running `{' '.join(job['argv'])}`")
        result: dict[str, Any] = json.loads(answer)
        if "error" in result:
            raise RuntimeError(f"could not start `{' '.join(job['argv'])}`: {result['error']}")
        return result

    @classmethod
    def _discard(cls) -> None:
        if cls._proc is not None:
            cls._stop(cls._proc, timeout=0)
            cls._proc = None

    @staticmethod
    def _stop(proc: subprocess.Popen[str], timeout: float = 10) -> None:
        """End the launcher: at exit it finishes the command it runs (``timeout``), then it is killed."""
        with contextlib.suppress(OSError):
            if proc.stdin is not None:
                proc.stdin.close()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_idmctl(argv: list[str], *, root: Path, logs: Path, expect: tuple[int, ...] = (0,)) -> ChildResult:
    """Run ``python -m controller ARGV`` in ``root`` and measure it; raises RuntimeError on another exit code.

    Output goes to files (no pipe to fill and stall the child); ``os.wait4`` gives this child's own
    peak RSS, which ``RUSAGE_CHILDREN`` would mix with every earlier child's.
    """
    logs.mkdir(parents=True, exist_ok=True)
    stem = logs / f"{int(time.monotonic_ns())}-{argv[0]}"
    out_path, err_path = stem.with_suffix(".out"), stem.with_suffix(".err")
    # Bytecode is cached as for an installed tool: a shell with PYTHONDONTWRITEBYTECODE set would make
    # every command compile the whole package from source again (0.2-0.3 s of CPU each time).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update({"IDMCTL_ROOT": str(root), "PYTHONUNBUFFERED": "1"})
    done = _Launcher.run({"argv": [sys.executable, "-m", "controller", *argv], "cwd": str(root), "env": env,
                          "out": str(out_path), "err": str(err_path)})
    result = ChildResult(argv, os.waitstatus_to_exitcode(done["status"]), done["seconds"], done["cpu"],
                         done["maxrss"], out_path.read_text("utf-8", "replace"),
                         err_path.read_text("utf-8", "replace"))
    if result.returncode not in expect:
        raise RuntimeError(f"`idmctl {' '.join(argv)}` exited {result.returncode} (expected {expect}); "
                           f"stderr: {result.stderr.strip()[-2000:] or '(empty)'}; "
                           f"stdout: {result.stdout.strip()[-2000:] or '(empty)'}")
    return result


class EmulatorProcess:
    """`idmctl emulator --generate N --no-sample` in a process of its own (it must not share our GIL).

    Use as a context manager; ``info`` is its ``emulator.json`` (base URL, CA, client id, secret file).
    """

    def __init__(self, users: int, state_dir: Path, extra: list[str] | None = None) -> None:
        self.users = users
        self.state_dir = state_dir
        self.extra = list(extra or ())
        self.info: dict[str, Any] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr = state_dir.parent / "emulator.err"

    def __enter__(self) -> EmulatorProcess:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self._stderr.open("wb") as err:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "controller", "emulator", "--generate", str(self.users), "--no-sample",
                 "--port", "0", "--state-dir", str(self.state_dir), "--quiet", "--json", *self.extra],
                cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        try:
            self.info = _wait_for_info(self.state_dir / "emulator.json", self._proc)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def cpu_seconds(self) -> float:
        """The emulator's user + system CPU seconds so far (from /proc; 0.0 where there is none)."""
        assert self._proc is not None
        try:
            fields = Path(f"/proc/{self._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss(self) -> int:
        """The emulator's peak RSS so far, in bytes."""
        assert self._proc is not None
        return _peak_rss(self._proc.pid)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process(proc)
