"""`make demo`: the seed guide's validation, start to finish, on the embedded default.

It starts the local Entra ID + Graph emulator (Sam Carter and the sample tenant), then drives `idmctl`
exactly as a person would — validate, init, plan, apply, connector test, a full reconciliation with the
demo's source filter, the identity, a change of Sam's first name through Microsoft Graph, an incremental
reconciliation, the changed identity — and narrates each step the way the guide's check-ins do. Every
check-in is verified from the commands' JSON output; the demo exits 1 at the first one that does not hold.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msal  # type: ignore[import-untyped]
import requests

ROOT = Path(__file__).resolve().parent.parent
ENV = "demo"
PORT = 47443  # environments/demo/environment.yaml points here
STATE_DIR = ROOT / ".emulator"
MAPPING = "entra-users"
SAM_MAIL = "scarter@example.com"

BOLD, GREEN, RED, DIM, RESET = "\033[1m", "\033[32m", "\033[31m", "\033[2m", "\033[0m"
if not sys.stdout.isatty():
    BOLD = GREEN = RED = DIM = RESET = ""


class DemoFailed(Exception):
    pass


def step(number: int, title: str, why: str) -> None:
    print(f"\n{BOLD}Step {number}: {title}{RESET}\n{DIM}{why}{RESET}", flush=True)


def check_in(text: str) -> None:
    print(f"{GREEN}✓ Check in:{RESET} {text}", flush=True)


def idmctl(*args: str, expect: tuple[int, ...] = (0,), show: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `idmctl ARGS` like a user; show what it printed; fail on an unexpected exit code."""
    cmd = [sys.executable, "-m", "controller", *args]  # the installed idmctl, run as a user would
    print(f"{DIM}$ idmctl {shlex.join(args)}{RESET}", flush=True)
    # Output is captured (to verify it), so tell rich how wide the reader's terminal is.
    width = str(max(shutil.get_terminal_size((120, 24)).columns, 120))
    proc = subprocess.run(cmd, cwd=ROOT, text=True, capture_output=True,
                          env={**os.environ, "IDMCTL_ROOT": str(ROOT), "COLUMNS": width})
    if show:
        if proc.stdout.strip():
            print(proc.stdout.rstrip())
        if proc.stderr.strip():
            print(proc.stderr.rstrip())
    if proc.returncode not in expect:
        if not show:
            print(proc.stdout + proc.stderr)
        raise DemoFailed(f"`idmctl {' '.join(args)}` exited {proc.returncode}, expected {expect}")
    return proc


def idmctl_json(*args: str, expect: tuple[int, ...] = (0,)) -> Any:
    proc = idmctl(*args, "--json", expect=expect, show=False)
    return json.loads(proc.stdout)


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start_emulator() -> subprocess.Popen[str]:
    if port_in_use(PORT):
        raise DemoFailed(f"port {PORT} is in use: stop whatever listens there (an earlier emulator?) "
                         "and run make demo again")
    print(f"{DIM}$ idmctl emulator --port {PORT} --state-dir .emulator &{RESET}", flush=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller", "emulator", "--port", str(PORT), "--state-dir", str(STATE_DIR)],
        cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoFailed(f"the emulator exited with {proc.returncode}: {proc.stdout.read() if proc.stdout else ''}")
        if port_in_use(PORT) and (STATE_DIR / "ca.pem").exists():
            return proc
        time.sleep(0.1)
    proc.kill()
    raise DemoFailed("the emulator did not start within 60 seconds")


def stop_emulator(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def entra_admin_rename(first_name: str) -> None:
    """What an Entra administrator does in the portal: PATCH the user through Microsoft Graph."""
    base = f"https://127.0.0.1:{PORT}"
    ca = str(STATE_DIR / "ca.pem")
    # The admin API answers only who can read the emulator's state directory (its admin token).
    admin = {"X-Emulator-Token": (STATE_DIR / "admin_token").read_text("utf-8").strip()}
    info = requests.get(f"{base}/_emulator/info", verify=ca, timeout=10, headers=admin).json()
    app = requests.post(f"{base}/_emulator/apps", json={"roles": ["User.ReadWrite.All"]},
                        verify=ca, timeout=10, headers=admin).json()
    session = requests.Session()
    session.verify = ca
    session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override verify
    client = msal.ConfidentialClientApplication(
        app["client_id"], client_credential=app["secret"], authority=f"{base}/{info['tenantId']}",
        http_client=session, instance_discovery=False, validate_authority=False)
    token = client.acquire_token_for_client(scopes=[f"{base}/.default"])
    if "access_token" not in token:
        raise DemoFailed(f"the Entra admin could not sign in: {token.get('error_description')}")
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    users = session.get(f"{base}/v1.0/users", params={"$filter": f"mail eq '{SAM_MAIL}'",
                                                       "$select": "id,userPrincipalName"},
                        headers=headers, timeout=10).json()["value"]
    if len(users) != 1:
        raise DemoFailed(f"expected one user with mail {SAM_MAIL} in Entra ID, found {len(users)}")
    upn = users[0]["userPrincipalName"]
    print(f"{DIM}PATCH /v1.0/users/{upn}  {{\"givenName\": \"{first_name}\"}}{RESET}")
    resp = session.patch(f"{base}/v1.0/users/{users[0]['id']}", json={"givenName": first_name},
                         headers=headers, timeout=10)
    if resp.status_code != 204:
        raise DemoFailed(f"Graph refused the change: {resp.status_code} {resp.text[:200]}")


def find_sam(env: str = ENV) -> dict[str, Any]:
    found = idmctl_json("identities", "search", "--env", env, f'mail eq "{SAM_MAIL}"')
    if len(found) != 1:
        raise DemoFailed(f"expected exactly one identity with mail {SAM_MAIL} in {env}, found {len(found)}")
    sam: dict[str, Any] = found[0]
    return sam


def run_demo() -> None:
    print(f"{BOLD}idmctl demo — provision users from Microsoft Entra ID, as code{RESET}")
    print("The seed guide, every console click a command; Microsoft Entra ID is the local emulator.")

    # Start from empty: the demo's state is disposable (the emulator's CA and secret are kept).
    shutil.rmtree(ROOT / ".idmctl" / "demo", ignore_errors=True)
    for leftover in (ROOT / ".idmctl").glob("demo.db*"):
        leftover.unlink()

    step(1, "Start Microsoft Entra ID (the emulator)",
         "Tasks 1-2 of the guide: a tenant, an app registration with User.Read.All, and the test user "
         "Sam Carter (scarter@example.com) beside the 32 users of Microsoft's sample tenant.")
    emulator = start_emulator()
    try:
        check_in(f"Entra ID login and Microsoft Graph answer on https://127.0.0.1:{PORT} with their own CA.")

        step(2, "Validate the configuration", "Schemas, references, filters and cron, before anything is touched.")
        idmctl("validate", "--env", ENV)
        check_in("The application, connector, mapping, situation rules and schedule are valid.")

        step(3, "Create the environment's state", "The embedded default: SQLite under .idmctl/ (gitignored).")
        idmctl("init", "--env", ENV)

        step(4, "Plan and apply", "Task 3-4: connect the application and configure reconciliation, as a reviewed plan.")
        plan_file = ROOT / ".idmctl" / "demo.plan.json"
        idmctl("plan", "--env", ENV, "--out", str(plan_file), "--detailed-exitcode", expect=(2,))
        idmctl("apply", "--env", ENV, str(plan_file))
        again = idmctl("plan", "--env", ENV, "--detailed-exitcode", expect=(0,))
        if "No changes" not in again.stdout:
            raise DemoFailed("a second plan should say 'No changes'")
        check_in("Applied; planning again says there is nothing left to change.")

        step(5, "Test the connection", "Task 3's 'Connected': token, granted roles, one read.")
        idmctl("connector", "test", "--env", ENV)
        check_in("Connected to the tenant with User.Read.All.")

        step(6, "Initial reconciliation", "Validation, 'Reconcile Now': the demo's source filter keeps only the "
             "test account in scope, so one ABSENT situation creates one identity.")
        idmctl("reconcile", "--env", ENV, "--mapping", MAPPING)
        run = idmctl_json("runs", "list", "--env", ENV)[0]
        if run["state"] != "SUCCESS" or run["situations"].get("ABSENT") != 1 or run["actions"].get("CREATE") != 1:
            raise DemoFailed(f"expected one ABSENT -> CREATE, got {run['situations']} / {run['actions']}")
        check_in("One ABSENT account, one CREATE.")

        step(7, "Find the new identity", "Identities > Manage: search for the test user.")
        idmctl("identities", "search", "--env", ENV, f'mail eq "{SAM_MAIL}"')
        sam = find_sam()
        check_in(f"{sam['userName']} exists with givenName {sam['givenName']!r}.")

        step(8, "Change the first name in Entra ID", "Incremental reconciliation: an Entra administrator renames "
             "Sam to Samantha through Microsoft Graph.")
        entra_admin_rename("Samantha")
        check_in("Entra ID has the new first name.")

        step(9, "Incremental reconciliation", "The scheduled job's work, now: Graph delta brings only what changed.")
        idmctl("reconcile", "--env", ENV, "--mapping", MAPPING, "--incremental")
        run = idmctl_json("runs", "list", "--env", ENV)[0]
        if run["mode"] != "incremental" or run["actions"].get("UPDATE") != 1:
            raise DemoFailed(f"expected an incremental run with one UPDATE, got {run['mode']} {run['actions']}")
        check_in("CONFIRMED -> UPDATE, from the delta round alone.")

        step(10, "See the change", "Identities > Manage again.")
        idmctl("identities", "get", "--env", ENV, sam["_id"] if "_id" in sam else sam["id"])
        sam = find_sam()
        if sam["givenName"] != "Samantha":
            raise DemoFailed(f"expected givenName 'Samantha', found {sam['givenName']!r}")
        check_in("The managed identity now says Samantha.")
    finally:
        stop_emulator(emulator)
    print(f"\n{GREEN}{BOLD}Demo complete.{RESET} Explore further: "
          f"`.venv/bin/idmctl runs list --env {ENV}`, `.venv/bin/idmctl schedule list --env {ENV}`.")


def main() -> int:
    global ROOT, PORT, STATE_DIR
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="configuration repository (default: this checkout)")
    parser.add_argument("--port", type=int, default=PORT,
                        help="emulator port; must match environments/demo/environment.yaml")
    args = parser.parse_args()
    ROOT, PORT = args.root.resolve(), args.port
    STATE_DIR = ROOT / ".emulator"
    return exit_code(run_demo)


def exit_code(run: Callable[[], None]) -> int:
    """Run a demo: 0 when every check-in held, 1 at the first that did not (said on stderr), 130 on Ctrl-C."""
    try:
        run()
    except DemoFailed as exc:
        print(f"\n{RED}Demo failed:{RESET} {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
