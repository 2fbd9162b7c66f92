"""Issue 12 as a user runs it: reconciliations on an AIC tenant, watched, reported and guarded by idmctl.

Both emulators are real HTTPS servers and the AIC one runs the reconciliations for real (its own
engine, reading Graph from the Graph emulator). ``environments/demo-aic`` is applied to it through the
CLI; then the seed's initial and incremental runs, a user outside the source filter, the sample
tenant's rooms and shared mailboxes failing required properties (exit 4), LINK_ONLY -> UNLINK, a dry
run that writes nothing, the guard blocking a mass delete before the tenant writes anything, Ctrl-C
cancelling the tenant's run, and a schedule the emulator fires.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from controller.emulator import SAM_CARTER
from tests.e2e.conftest import AIC_ENV as ENV
from tests.e2e.conftest import TenantRepo

MAPPING = "entra-users"
OUTSIDER = "AdeleV@M365x214355.onmicrosoft.com"  # one of the sample tenant's users


def _applied(repo: TenantRepo) -> None:
    assert repo.cli("init", "--env", ENV).code == 0
    repo.apply()


def _edit(repo: TenantRepo, name: str, old: str, new: str) -> None:
    path = repo.root / "environments" / ENV / name
    text = path.read_text()
    assert old in text, (name, old)
    path.write_text(text.replace(old, new))


def _reconcile(repo: TenantRepo, *args: str) -> tuple[int, dict[str, Any]]:
    result = repo.cli("reconcile", "--env", ENV, "--mapping", MAPPING, "--json", *args)
    assert result.out.strip(), result.text
    data: dict[str, Any] = json.loads(result.out)
    return result.code, data


def _identities(repo: TenantRepo, query: str = "true") -> list[dict[str, Any]]:
    result = repo.cli("identities", "search", "--env", ENV, query, "--all", "--json")
    assert result.code == 0, result.text
    found: list[dict[str, Any]] = json.loads(result.out)
    return found


def _people(repo: TenantRepo) -> dict[str, dict[str, Any]]:
    return {str(u.get("userName")): u for u in _identities(repo) if u.get("userName") != "app-owner"}


def test_the_seed_flow_initial_then_incremental_and_a_user_outside_the_filter_untouched(tenant: TenantRepo) -> None:
    _applied(tenant)
    code, run = _reconcile(tenant)
    assert code == 0 and run["state"] == "SUCCESS", run
    assert run["situations"] == {"ABSENT": 1} and run["actions"] == {"CREATE": 1}
    assert list(_people(tenant)) == [SAM_CARTER["userPrincipalName"]]  # the 32 sample users are out of scope

    found = _identities(tenant, 'mail eq "scarter@example.com"')
    assert [(u["givenName"], u["sn"]) for u in found] == [("Sam", "Carter")]

    tenant.graph.update_user(SAM_CARTER["id"], {"givenName": "Samantha"})
    outsider = tenant.graph.get_user(OUTSIDER)
    assert outsider is not None
    tenant.graph.update_user(outsider["id"], {"givenName": "Changed"})  # outside the source filter
    code, incremental = _reconcile(tenant, "--incremental")
    assert code == 0 and incremental["state"] == "SUCCESS" and incremental["mode"] == "incremental", incremental
    people = _people(tenant)
    assert list(people) == [SAM_CARTER["userPrincipalName"]]  # the outsider's change brought no one in
    sam = people[SAM_CARTER["userPrincipalName"]]
    assert sam["givenName"] == "Samantha"

    shown = tenant.cli("identities", "get", "--env", ENV, sam["_id"], "--json")
    assert shown.code == 0 and "Samantha" in shown.out, shown.text
    runs = json.loads(tenant.cli("runs", "list", "--env", ENV, "--json").out)
    recorded = {r["id"]: r for r in runs if r.get("origin") == "recorded"}
    assert set(recorded) == {run["id"], incremental["id"]}
    assert recorded[run["id"]]["situations"] == {"ABSENT": 1}

    again = tenant.cli("reconcile", "--env", ENV, "--mapping", MAPPING)  # linked now: CONFIRMED
    assert again.code == 0 and "CONFIRMED" in again.out, again.text


def test_rooms_and_shared_mailboxes_fail_required_properties_with_exit_4(tenant: TenantRepo) -> None:
    _edit(tenant, "environment.yaml", "source_filter: 'mail eq \"scarter@example.com\"'", "source_filter: null")
    _applied(tenant)
    code, run = _reconcile(tenant)
    assert code == 4 and run["state"] == "SUCCESS", run
    assert run["failures"] == 7 and run["situations"]["ABSENT"] == 33, run
    shown = tenant.cli("runs", "show", "--env", ENV, run["id"], "--status", "FAILURE", "--json")
    assert shown.code == 0, shown.text
    entries = json.loads(shown.out)["entries"]
    assert len(entries) == 7 and all(e["status"] == "FAILURE" and e["message"] for e in entries)


def test_link_only_is_unlinked(tenant: TenantRepo) -> None:
    _applied(tenant)
    assert _reconcile(tenant)[0] == 0
    [sam] = _identities(tenant, 'mail eq "scarter@example.com"')
    deleted = tenant.cli("identities", "delete", "--env", ENV, sam["_id"], "--yes")
    assert deleted.code == 0, deleted.text
    tenant.graph.delete_user(SAM_CARTER["id"], permanent=True)
    code, run = _reconcile(tenant, "--incremental")
    assert code == 0, run
    links = tenant.aic.sync.repo.links
    assert not [link for link in links.values() if link.get("firstId") == SAM_CARTER["id"]]


def test_a_dry_run_writes_nothing(tenant: TenantRepo) -> None:
    _applied(tenant)
    before = _identities(tenant)
    code, run = _reconcile(tenant, "--dry-run")
    assert code == 0 and run["dryRun"] is True, run
    assert [(p["op"], p["action"], p["situation"]) for p in run["plan"]] == [("+", "CREATE", "ABSENT")]
    assert _identities(tenant) == before
    assert not tenant.aic.sync.repo.links


def test_the_guard_blocks_a_mass_delete_before_the_tenant_writes_anything(tenant: TenantRepo) -> None:
    _edit(tenant, "mapping.yaml", "LINK_ONLY: UNLINK", "LINK_ONLY: UNLINK\n      SOURCE_MISSING: DELETE")
    _edit(tenant, "mapping.yaml", "safety: {maxDeletes: 500", "targetScope: all\n  safety: {maxDeletes: 500")
    _edit(tenant, "environment.yaml", "source_filter: 'mail eq \"scarter@example.com\"'", "source_filter: null")
    _applied(tenant)
    assert _reconcile(tenant)[0] == 4  # 26 created (the rooms fail)
    _edit(tenant, "environment.yaml", "source_filter: null", "source_filter: 'mail eq \"scarter@example.com\"'")
    tenant.apply()
    people, links = _people(tenant), dict(tenant.aic.sync.repo.links)

    code, run = _reconcile(tenant)
    assert code == 3 and run["state"] == "BLOCKED", run
    assert "maxDeletePercent" in run["reason"] and "--allow-deletes 25" in run["reason"], run["reason"]
    assert _people(tenant) == people and dict(tenant.aic.sync.repo.links) == links  # nothing written
    assert [r.analyze for r in tenant.aic.sync.recons.values()] == [True, False, True]  # the guard's analysis only

    code, dry = _reconcile(tenant, "--dry-run")
    assert code == 3 and sum(p["blocked"] for p in dry["plan"]) == 25, dry

    code, allowed = _reconcile(tenant, "--allow-deletes", "25")
    assert code == 0 and allowed["state"] == "SUCCESS", allowed
    assert list(_people(tenant)) == [SAM_CARTER["userPrincipalName"]]
    audit = json.loads(tenant.cli("audit", "list", "--env", ENV, "--json").out)
    assert any(e["action"] == "allow-deletes" and e["details"]["run"] == allowed["id"] for e in audit)


def test_ctrl_c_cancels_the_tenants_run(tenant: TenantRepo) -> None:
    _edit(tenant, "environment.yaml", "source_filter: 'mail eq \"scarter@example.com\"'", "source_filter: null")
    _applied(tenant)
    tenant.aic.sync.record_delay = 0.5  # a slow tenant: 33 users take long enough to press Ctrl-C
    env = {k: v for k, v in os.environ.items() if k != "IDMCTL_ROOT"}
    proc = subprocess.Popen([sys.executable, "-m", "controller", "reconcile", "--env", ENV, "--mapping", MAPPING,
                             "--json", "--root", str(tenant.root)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not [r for r in tenant.aic.sync.recons.values() if r.state == "ACTIVE"]:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, out + err
    run = json.loads(out)
    assert run["state"] == "CANCELED", run
    assert [r.state for r in tenant.aic.sync.recons.values()] == ["CANCELED"]
    assert not _people(tenant)  # the analysis was canceled before the real run: nothing written


@pytest.mark.slow
def test_a_schedule_on_the_tenant_fires(tenant: TenantRepo) -> None:
    _edit(tenant, "schedule.yaml", "mode: incremental", "mode: full")
    _edit(tenant, "schedule.yaml", 'cron: "0 0/15 * * * ?"', 'cron: "0/2 * * * * ?"')
    validated = tenant.cli("validate", "--env", ENV)
    assert validated.code == 0 and "safety guard" in validated.text, validated.text  # a full recon that deletes
    assert tenant.cli("init", "--env", ENV).code == 0
    planned = tenant.cli("plan", "--env", ENV)
    assert planned.code == 0 and "safety guard" in planned.text, planned.text
    tenant.apply()
    listed = json.loads(tenant.cli("schedule", "list", "--env", ENV, "--json").out)
    [row] = listed["schedules"]
    assert (row["name"], row["mode"], row["enabled"], row["managedBy"]) == ("entra-incremental", "full", True,
                                                                           "idmctl")
    deadline = time.monotonic() + 60
    while not _people(tenant):  # the tenant fires the schedule: its recon creates Sam Carter
        assert time.monotonic() < deadline, "the schedule did not fire"
        time.sleep(0.2)
    runs = json.loads(tenant.cli("runs", "list", "--env", ENV, "--json").out)
    assert any(r.get("origin") == "tenant" and r["mapping"] == MAPPING for r in runs), runs
