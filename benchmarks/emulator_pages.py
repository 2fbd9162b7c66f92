"""Pages per second from the emulator: start `idmctl emulator --generate N`, read every user at $top=999.

`run(n)` returns the figures as a dict (the `make bench` harness builds on it); run as a script to print
them. The emulator runs in its own process, as in the demo, so client and server do not share a GIL.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import requests

__all__ = ["run"]

REPO = Path(__file__).resolve().parents[1]


def _peak_rss(pid: int) -> int:
    """Peak resident set size of ``pid`` in bytes (VmHWM on Linux, else the current RSS)."""
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return psutil.Process(pid).memory_info().rss


def _wait_for_info(path: Path, proc: subprocess.Popen[bytes], timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return json.loads(path.read_text())
        if proc.poll() is not None:
            raise RuntimeError(f"the emulator exited with {proc.returncode} before it was ready")
        time.sleep(0.05)
    raise RuntimeError(f"the emulator did not write {path} within {timeout:.0f} s")


def _token(session: requests.Session, info: dict[str, Any]) -> str:
    secret = Path(info["clientSecretFile"]).read_text().strip()
    resp = session.post(f"{info['authorityHost']}/{info['tenantId']}/oauth2/v2.0/token", timeout=30, data={
        "grant_type": "client_credentials", "client_id": info["clientId"], "client_secret": secret,
        "scope": f"{info['graphUrl']}/.default"})
    resp.raise_for_status()
    return resp.json()["access_token"]


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL after 30 s: how every benchmark ends the processes it started."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run(n: int = 100_000, *, select: str = "id,userPrincipalName,displayName,mail,accountEnabled") -> dict[str, Any]:
    """Page all ``n`` generated users; returns users, pages, seconds, pages/s, users/s and peak RSS (MiB)."""
    with tempfile.TemporaryDirectory(prefix="idmctl-bench-") as tmp:
        state = Path(tmp)
        proc = subprocess.Popen(
            [sys.executable, "-m", "controller", "emulator", "--state-dir", str(state), "--generate", str(n),
             "--no-sample", "--quiet", "--json", "--port", "0"],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            info = _wait_for_info(state / "emulator.json", proc)
            with requests.Session() as session:
                session.verify, session.trust_env = info["caBundle"], False
                session.headers["Authorization"] = f"Bearer {_token(session, info)}"
                url: str | None = f"{info['graphUrl']}/v1.0/users?$top=999&$select={select}"
                users = pages = 0
                started = time.perf_counter()
                while url:
                    resp = session.get(url, timeout=120)
                    resp.raise_for_status()
                    body = resp.json()
                    users += len(body["value"])
                    pages += 1
                    url = body.get("@odata.nextLink")
                seconds = time.perf_counter() - started
            peak = _peak_rss(proc.pid)
        finally:
            stop_process(proc)
    return {
        "generated": n,
        "users": users,
        "pages": pages,
        "seconds": round(seconds, 3),
        "pagesPerSecond": round(pages / seconds, 1) if seconds else None,
        "usersPerSecond": round(users / seconds) if seconds else None,
        "peakRssMiB": round(peak / 2**20, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--generate", type=int, default=100_000, help="users to generate (default 100000)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = run(args.generate)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"emulator: {result['users']:,} users in {result['pages']:,} pages, {result['seconds']} s: "
              f"{result['pagesPerSecond']} pages/s, {result['usersPerSecond']:,} users/s, "
              f"peak RSS {result['peakRssMiB']} MiB")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
