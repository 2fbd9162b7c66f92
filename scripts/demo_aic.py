"""`make demo-aic`: the seed guide's validation on the Advanced Identity Cloud platform, start to finish.

It starts the local Entra ID + Graph emulator (Sam Carter and the sample tenant) and the local AIC
tenant emulator whose MS Graph connector calls it, then drives `idmctl` exactly as a person would —
validate, init, plan, apply (ESVs, the restart, connector, mapping, application, schedule), Connected,
the Data tab, an initial reconciliation on the tenant, the identity, a change of Sam's first name
through Microsoft Graph, an incremental reconciliation (the tenant's liveSync), the changed identity —
and narrates each step the way the guide's check-ins do. Every check-in is verified from the commands'
JSON output; the demo exits 1 at the first one that does not hold. `make demo` is the embedded one.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import demo  # noqa: E402  (scripts/demo.py: the narration, idmctl runner and Entra admin are the same)
from demo import BOLD, DIM, GREEN, RESET, DemoFailed, check_in, idmctl, idmctl_json, step  # noqa: E402

ENV = "demo-aic"
AIC_PORT = 48443  # environments/demo-aic/environment.yaml points here
MAPPING = "entra-users"
SAM_MAIL = demo.SAM_MAIL
KINDS = ("variable", "secret", "connector", "mapping", "application", "schedule")


def start_aic(state_dir: Path, graph: str, restart_seconds: float) -> subprocess.Popen[str]:
    """`idmctl emulator aic`, its MS Graph connector aimed at the Graph emulator."""
    if demo.port_in_use(AIC_PORT):
        raise DemoFailed(f"port {AIC_PORT} is in use: stop whatever listens there (an earlier AIC emulator?) "
                         "and run make demo-aic again")
    args = ["emulator", "aic", "--port", str(AIC_PORT), "--state-dir", str(state_dir), "--entra-login", graph,
            "--entra-graph", graph, "--entra-ca", str(demo.STATE_DIR / "ca.pem"),
            "--restart-seconds", f"{restart_seconds:g}"]
    print(f"{DIM}$ idmctl {' '.join(args)} &{RESET}", flush=True)
    proc = subprocess.Popen([sys.executable, "-m", "controller", *args], cwd=demo.ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoFailed(f"the AIC emulator exited with {proc.returncode}: "
                             f"{proc.stdout.read() if proc.stdout else ''}")
        if demo.port_in_use(AIC_PORT) and (state_dir / "ca.pem").exists() \
                and (state_dir / "service-account.jwk").exists():
            return proc
        time.sleep(0.1)
    proc.kill()
    raise DemoFailed("the AIC emulator did not start within 60 seconds")


def run_demo(restart_seconds: float) -> None:
    print(f"{BOLD}idmctl demo-aic — provision users from Microsoft Entra ID into Advanced Identity Cloud, "
          f"as code{RESET}")
    print("The seed guide on a PingOne AIC tenant: both Microsoft Entra ID and the tenant are local emulators.")
    aic_dir = demo.ROOT / ".emulator-aic"
    # Start from empty: the demo's state and the tenant are disposable (CAs, keys and secrets are kept).
    for leftover in (demo.ROOT / ".idmctl").glob(f"{ENV}.db*"):
        leftover.unlink()
    (aic_dir / "tenant.json").unlink(missing_ok=True)

    step(1, "Start Microsoft Entra ID and the AIC tenant (the emulators)",
         "Tasks 1-2 of the guide: an Entra tenant with Sam Carter beside the 32 users of Microsoft's sample "
         "tenant; and an Advanced Identity Cloud tenant with a service account for idmctl.")
    graph = demo.start_emulator()
    tenant = None
    try:
        tenant = start_aic(aic_dir, f"https://127.0.0.1:{demo.PORT}", restart_seconds)
        check_in(f"Entra ID answers on https://127.0.0.1:{demo.PORT}, the AIC tenant on https://127.0.0.1:{AIC_PORT}.")

        step(2, "Validate the configuration", "Schemas, references, filters, cron and AIC's naming rules.")
        idmctl("validate", "--env", ENV)
        check_in("The application, connector, mapping, situation rules and schedule are valid for AIC.")

        step(3, "Create the environment's state", "idmctl's own bookkeeping (what it wrote to the tenant, the "
             "lock, the audit): SQLite under .idmctl/.")
        idmctl("init", "--env", ENV)

        step(4, "Plan and apply to the tenant", "Tasks 3-5 in the console's order: the ESVs, the restart that "
             "loads them, the connector and its test, the mapping, the application, the schedule.")
        idmctl("plan", "--env", ENV, "--detailed-exitcode", expect=(2,))
        applied = idmctl_json("apply", "--env", ENV, "--auto-approve")["tenant"]
        kinds = [k for k in KINDS if any(_kind_of(i) == k for i in applied["written"])]
        if kinds != list(KINDS) or not applied["restarted"]:
            raise DemoFailed(f"expected every kind written and a restart, got {applied}")
        again = idmctl("plan", "--env", ENV, "--detailed-exitcode", expect=(0,))
        if "No changes" not in again.stdout:
            raise DemoFailed("a second plan should say 'No changes'")
        check_in("ESVs written and loaded by a restart; connector, mapping, application and schedule written; "
                 "planning again against the live tenant says there is nothing left to change.")

        step(5, "Connected, and the Data tab", "Task 3: the connector's test, then the accounts it reads.")
        tested = idmctl("connector", "test", "--env", ENV)
        if "Connected" not in tested.stdout:
            raise DemoFailed("the tenant's connector did not say Connected")
        idmctl("connector", "preview", "--env", ENV, "entra", "--limit", "5")
        rows = idmctl_json("connector", "preview", "--env", ENV, "entra", "--limit", "50")["rows"]
        if not any(r.get("mail") == SAM_MAIL for r in rows):
            raise DemoFailed(f"the Data tab does not show {SAM_MAIL}")
        check_in("Connected; the Data tab lists Sam Carter among the Entra accounts.")

        step(6, "Initial reconciliation on the tenant", "Validation, 'Reconcile Now': the tenant runs it, idmctl "
             "watches and reports it. The source filter keeps only the test account in scope.")
        idmctl("reconcile", "--env", ENV, "--mapping", MAPPING)
        run = next(r for r in idmctl_json("runs", "list", "--env", ENV) if r.get("origin") == "recorded")
        if run["state"] != "SUCCESS" or run["situations"].get("ABSENT") != 1 or run["actions"].get("CREATE") != 1:
            raise DemoFailed(f"expected one ABSENT -> CREATE, got {run['situations']} / {run['actions']}")
        check_in("Unresolved Microsoft Entra users are greater than zero: one ABSENT account, one CREATE.")

        step(7, "Find the new identity", "Identities > Manage on the tenant: search for the test user.")
        idmctl("identities", "search", "--env", ENV, f'mail eq "{SAM_MAIL}"')
        sam = demo.find_sam(ENV)
        check_in(f"{sam['userName']} exists in alpha_user with givenName {sam['givenName']!r}.")

        step(8, "Change the first name in Entra ID", "Incremental reconciliation: an Entra administrator renames "
             "Sam to Samantha through Microsoft Graph.")
        demo.entra_admin_rename("Samantha")
        check_in("Entra ID has the new first name.")

        step(9, "Incremental reconciliation", "The schedule's work, now: the tenant's liveSync on the connector's "
             "User type brings what changed since its sync token.")
        idmctl("reconcile", "--env", ENV, "--mapping", MAPPING, "--incremental")
        run = next(r for r in idmctl_json("runs", "list", "--env", ENV) if r.get("origin") == "recorded")
        if run["mode"] != "incremental" or run["state"] != "SUCCESS":
            raise DemoFailed(f"expected a successful incremental run, got {run['mode']} {run['state']}")
        sam = demo.find_sam(ENV)
        if sam["givenName"] != "Samantha":
            raise DemoFailed(f"the liveSync did not bring the change: givenName is {sam['givenName']!r}")
        check_in("The liveSync ran on the tenant and brought the change across.")

        step(10, "See the change", "Identities > Manage again.")
        shown = idmctl_json("identities", "get", "--env", ENV, str(sam["_id"]))
        idmctl("identities", "get", "--env", ENV, str(sam["_id"]))
        if shown.get("givenName") != "Samantha":
            raise DemoFailed(f"expected givenName 'Samantha' in {shown}")
        check_in("1-to-1 match: the managed identity on the tenant now says Samantha.")
    finally:
        if tenant is not None:
            demo.stop_emulator(tenant)
        demo.stop_emulator(graph)
    print(f"\n{GREEN}{BOLD}Demo complete.{RESET} Explore further: "
          f"`.venv/bin/idmctl runs list --env {ENV}`, `.venv/bin/idmctl schedule list --env {ENV}`.")


def _kind_of(native_id: str) -> str:
    if native_id.startswith("esv-"):
        return "secret" if native_id.endswith("-secret") else "variable"
    head = native_id.split("/", 1)[0]
    return {"provisioner.openicf": "connector", "managed": "application"}.get(head, head)


def main() -> int:
    global AIC_PORT
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--root", type=Path, default=demo.ROOT,
                        help="configuration repository (default: this checkout)")
    parser.add_argument("--port", type=int, default=demo.PORT,
                        help="Entra/Graph emulator port; must match environments/demo-aic/environment.yaml")
    parser.add_argument("--aic-port", type=int, default=AIC_PORT,
                        help="AIC emulator port; must match environments/demo-aic/environment.yaml")
    parser.add_argument("--restart-seconds", type=float, default=2.0, help="how long the tenant's restart takes")
    args = parser.parse_args()
    demo.ROOT, demo.PORT, AIC_PORT = args.root.resolve(), args.port, args.aic_port
    demo.STATE_DIR = demo.ROOT / ".emulator"
    return demo.exit_code(lambda: run_demo(args.restart_seconds))


if __name__ == "__main__":
    sys.exit(main())
