"""Runs on the aic platform against the in-memory tenant: the recon is the tenant's, the report, record,
exit codes and the safety guard are idmctl's, as on embedded."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from controller.backends import JsonObject
from controller.config.models import RunMode, RunState
from controller.errors import ExitCode, UsageError
from controller.platforms import ReconRequest
from controller.platforms.aic import AicPlatform
from controller.platforms.aic._runs import count, entry_filter, recon_run, stage_path
from tests.platforms.aic.conftest import AicHarness

MAPPING = "entra-users"
NATIVE = "systemEntraUser_managedAlpha_user"
SAM = {"_id": "5e2b6c1d-sam", "userPrincipalName": "scarter@example.com", "givenName": "Sam", "surname": "Carter",
       "mail": "scarter@example.com"}


def _user(n: int) -> JsonObject:
    return {"_id": f"u-{n:04d}", "userPrincipalName": f"user{n}@example.com", "givenName": f"User{n}",
            "surname": "Example", "mail": f"user{n}@example.com"}


@pytest.fixture
def platform(aic: AicHarness) -> Iterator[AicPlatform]:
    aic.apply()
    aic.tenant.system_users["Entra"] = [dict(SAM)]
    with aic.platform() as (platform, _):
        yield platform


def _users(aic: AicHarness) -> dict[str, JsonObject]:
    return {str(b.get("userName")): b for p, b in aic.tenant.managed.items() if p.startswith("alpha_user/")}


def test_the_summary_maps_to_the_same_run_counts_as_embedded() -> None:
    summary: dict[str, Any] = {
        "_id": "r1", "mapping": NATIVE, "state": "SUCCESS", "stage": "COMPLETED_SUCCESS", "duration": 13,
        "started": "2026-06-18T23:25:10.520Z", "ended": "2026-06-18T23:25:10.533Z",
        "situationSummary": {"ABSENT": 2, "CONFIRMED": 1, "SOURCE_IGNORED": 3, "LINK_ONLY": 1, "MISSING": 0},
        "statusSummary": {"SUCCESS": 6, "FAILURE": 1},
        "progress": {"source": {"existing": {"processed": 6, "total": "6"}},
                     "target": {"existing": {"processed": 1, "total": "?"}},
                     "links": {"existing": {"processed": 2, "total": "2"}}}}
    run = recon_run(summary, MAPPING)
    assert run.state is RunState.SUCCESS and run.exit_code == ExitCode.PARTIAL  # a failed entry: exit 4
    assert dict(run.situations) == {"ABSENT": 2, "CONFIRMED": 1, "SOURCE_IGNORED": 3, "LINK_ONLY": 1}
    assert (run.processed, run.failures, run.entries, run.linked, run.out_of_scope, run.duration_ms) == \
        (7, 1, 7, 2, 3, 13)
    entries = [{"action": "CREATE"}, {"action": "UNLINK", "situation": "UNQUALIFIED"},
               {"action": "UNLINK", "situation": "LINK_ONLY"}]
    assert recon_run(summary, MAPPING, entries=entries).deletes == 1
    failed = recon_run({**summary, "state": "FAILED", "stageDescription": "reconciliation failed"}, MAPPING)
    assert failed.exit_code == ExitCode.ERROR and failed.reason == "reconciliation failed"
    assert count("?") is None and count("12") == 12
    assert stage_path("Entra", "User") == "synchronisation/pooledSyncStage/SYSTEMENTRAUSER"
    assert entry_filter("absent", None, "FAILURE") == 'situation eq "ABSENT" and status eq "FAILURE"'


def test_the_initial_run_creates_sam_records_the_run_and_takes_the_sync_token(aic: AicHarness,
                                                                               platform: AicPlatform) -> None:
    seen: list[tuple[str, int, int | None]] = []
    run = platform.reconcile(ReconRequest(MAPPING), progress=lambda *a: seen.append(a))
    assert run.state is RunState.SUCCESS and run.exit_code == ExitCode.OK, run.reason
    assert run.situations == {"ABSENT": 1} and run.actions == {"CREATE": 1}
    assert _users(aic)["scarter@example.com"]["givenName"] == "Sam"
    assert [p for p, _, _ in seen][:1] == ["safety analysis, source phase"] and ("source", 0, 1) in seen
    # The default policies can delete (UNQUALIFIED): the analysis ran first, then the real run.
    starts = [c for c in aic.tenant.calls if c.startswith("POST /openidm/recon?")]
    assert starts == [f"POST /openidm/recon?_action=recon&mapping={NATIVE}&analyze=true&persistAssociations=true",
                      f"POST /openidm/recon?_action=recon&mapping={NATIVE}&persistAssociations=true"]
    assert "synchronisation/pooledSyncStage/SYSTEMENTRAUSER" in aic.tenant.repo  # before the read
    page = platform.list_runs()
    assert page.labels[run.id] == "recorded"  # and the tenant's record of the guard's analysis
    assert sorted(page.labels.values()) == ["analysis", "recorded"]
    recorded, entries = platform.show_run(run.id)
    assert recorded.state is RunState.SUCCESS
    assert [(e.situation, e.action, e.source_id) for e in entries.items] == [("ABSENT", "CREATE", SAM["_id"])]


def test_the_incremental_run_is_a_live_sync_that_brings_the_change(aic: AicHarness, platform: AicPlatform) -> None:
    platform.reconcile(ReconRequest(MAPPING))
    aic.tenant.system_users["Entra"][0]["givenName"] = "Samantha"
    aic.tenant.changed.append(SAM["_id"])
    run = platform.reconcile(ReconRequest(MAPPING, RunMode.INCREMENTAL))
    assert run.state is RunState.SUCCESS and run.mode is RunMode.INCREMENTAL
    assert _users(aic)["scarter@example.com"]["givenName"] == "Samantha"
    assert any("moved the sync token;" in w and "no per-situation counts" in w for w in run.warnings)
    assert "POST /openidm/system/Entra/User?_action=liveSync" in aic.tenant.calls
    assert platform.show_run(run.id)[0].mode is RunMode.INCREMENTAL


def test_an_incremental_run_without_a_sync_token_is_full(aic: AicHarness, platform: AicPlatform) -> None:
    run = platform.reconcile(ReconRequest(MAPPING, RunMode.INCREMENTAL))
    assert run.mode is RunMode.FULL and run.full_because and "no sync token" in run.full_because
    assert "scarter@example.com" in _users(aic)


def test_a_dry_run_writes_nothing_and_lists_the_association_entries(aic: AicHarness, platform: AicPlatform) -> None:
    before = dict(aic.tenant.managed)
    run = platform.reconcile(ReconRequest(MAPPING, dry_run=True))
    assert run.dry_run and run.state is RunState.SUCCESS
    assert [(p.op, p.action, p.situation, p.source_id) for p in run.plan] == [("+", "CREATE", "ABSENT", SAM["_id"])]
    assert aic.tenant.managed == before and not aic.tenant.links
    assert platform.list_runs().items == [] or all(r.id != run.id for r in platform.list_runs().items
                                                   if platform.list_runs().labels.get(r.id) == "recorded")


def test_the_guard_blocks_a_mass_delete_before_the_tenant_writes_anything(aic: AicHarness,
                                                                          platform: AicPlatform) -> None:
    mapping = aic.root / "environments" / "dev" / "mapping.yaml"
    rules = "LINK_ONLY: UNLINK\n      SOURCE_MISSING: DELETE"
    mapping.write_text(mapping.read_text().replace("LINK_ONLY: UNLINK", rules))
    aic.apply()
    aic.tenant.system_users["Entra"] = [_user(n) for n in range(40)]
    assert platform.reconcile(ReconRequest(MAPPING)).state is RunState.SUCCESS
    aic.tenant.system_users["Entra"] = aic.tenant.system_users["Entra"][:10]  # 30 leave Entra
    before = {k: dict(v) for k, v in aic.tenant.managed.items()}
    links = list(aic.tenant.links)

    run = platform.reconcile(ReconRequest(MAPPING))
    assert run.state is RunState.BLOCKED and run.exit_code == ExitCode.BLOCKED
    assert run.reason and "maxDeletePercent" in run.reason and "--allow-deletes 30" in run.reason
    assert aic.tenant.managed == before and aic.tenant.links == links
    assert sum(1 for c in aic.tenant.calls if c.startswith("POST /openidm/recon?")) == 3  # no real run started
    assert platform.show_run(run.id)[0].state is RunState.BLOCKED

    dry = platform.reconcile(ReconRequest(MAPPING, dry_run=True))
    assert dry.state is RunState.BLOCKED and sum(p.blocked for p in dry.plan) == 30

    allowed = platform.reconcile(ReconRequest(MAPPING, allow_deletes=30))
    assert allowed.state is RunState.SUCCESS
    audit = [e for e in platform.backend.audit_log(10) if e.action == "allow-deletes"]
    assert audit and audit[0].details["run"] == allowed.id
    assert len(_users(aic)) == 11  # the 10 left and the app owner


def test_ctrl_c_cancels_the_tenants_run_and_ends_canceled(aic: AicHarness, platform: AicPlatform) -> None:
    aic.tenant.recon_reads = 50
    stop = threading.Event()
    aic.tenant.on_recon_read = lambda summary: stop.set()  # the person presses Ctrl-C while it runs
    run = platform.reconcile(ReconRequest(MAPPING), cancel=stop.is_set)
    assert run.state is RunState.CANCELED and run.exit_code == ExitCode.ERROR
    assert any("_action=cancel" in c for c in aic.tenant.calls)
    assert "scarter@example.com" not in _users(aic)  # the analysis was canceled: nothing started


def test_failed_entries_are_exit_4(aic: AicHarness, platform: AicPlatform) -> None:
    aic.tenant.system_users["Entra"].append({"_id": "room-1", "givenName": "Room", "mail": "room1@example.com"})
    run = platform.reconcile(ReconRequest(MAPPING))
    assert run.state is RunState.SUCCESS and run.failures == 1 and run.exit_code == ExitCode.PARTIAL
    _, failed = platform.show_run(run.id, status="failed")
    assert [(e.source_id, e.status) for e in failed.items] == [("room-1", "FAILURE")]
    assert failed.items[0].message and "userName is required" in failed.items[0].message


def test_link_only_is_unlinked(aic: AicHarness, platform: AicPlatform) -> None:
    platform.reconcile(ReconRequest(MAPPING))
    [sam] = [p for p, b in aic.tenant.managed.items() if b.get("userName") == "scarter@example.com"]
    del aic.tenant.managed[sam]
    aic.tenant.system_users["Entra"] = [_user(1)]
    run = platform.reconcile(ReconRequest(MAPPING))  # its object gone already: not a delete the guard counts
    assert run.state is RunState.SUCCESS and run.deletes == 0
    assert run.situations["LINK_ONLY"] == 1 and run.actions["UNLINK"] == 1
    assert all(link["firstId"] != SAM["_id"] for link in aic.tenant.links)


def test_runs_list_shows_the_tenants_own_runs_too(aic: AicHarness, platform: AicPlatform) -> None:
    mine = platform.reconcile(ReconRequest(MAPPING))
    theirs = aic.tenant.start_recon(NATIVE)["_id"]  # a schedule or the console
    aic.tenant.read_recon(theirs)
    aic.tenant.read_recon(theirs)
    page = platform.list_runs()
    assert {r.id: page.labels[r.id] for r in page.items} == {mine.id: "recorded", theirs: "tenant",
                                                            **{r.id: "analysis" for r in page.items
                                                               if r.id not in (mine.id, theirs)}}
    assert all(r.mapping == MAPPING for r in page.items)
    shown, _ = platform.show_run(theirs[:8])
    assert shown.id == theirs and shown.state is RunState.SUCCESS


def test_identities_search_get_delete_on_the_tenant(aic: AicHarness, platform: AicPlatform) -> None:
    platform.reconcile(ReconRequest(MAPPING))
    found = platform.search_identities('userName eq "scarter@example.com"')
    [sam] = found.items
    assert sam.properties["givenName"] == "Sam"
    assert "GET /openidm/managed/alpha_user?_queryFilter=…" in aic.tenant.calls
    aic.tenant.system_users["Entra"] = [_user(2), _user(1)]
    platform.reconcile(ReconRequest(MAPPING))
    everyone = platform.search_identities(None)
    assert [o.properties["userName"] for o in everyone.items] == [
        "app-owner", "scarter@example.com", "user1@example.com", "user2@example.com"]
    obj, links = platform.get_identity(sam.id[:8])
    assert obj.id == sam.id and links == [(MAPPING, SAM["_id"])]
    platform.delete_identity(sam.id)
    assert f"DELETE /openidm/managed/alpha_user/{sam.id} If-Match: 1" in aic.tenant.calls
    with pytest.raises(UsageError, match="does not exist"):
        platform.get_identity(sam.id)


def test_connector_preview_is_the_data_tab(aic: AicHarness, platform: AicPlatform) -> None:
    preview = platform.connector_preview(aic.resources, None, 20)
    assert preview.rows == ({"id": SAM["_id"], "givenName": "Sam", "mail": "scarter@example.com",
                             "surname": "Carter", "userPrincipalName": "scarter@example.com"},)
    assert "GET /openidm/system/Entra/User" in aic.tenant.calls


def test_schedule_list_is_the_tenants_schedules(aic: AicHarness, platform: AicPlatform) -> None:
    report = platform.schedule_report(aic.resources)
    [row] = report["schedules"]
    assert (row["name"], row["mapping"], row["mode"], row["enabled"], row["managedBy"]) == \
        ("entra-incremental", MAPPING, "incremental", True, "idmctl")
    assert "every 15 minutes" in row["description"] and row["nextFire"]
    assert not row["warnings"]
    body = aic.tenant.config["schedule/entra-incremental"]
    aic.tenant.config["schedule/nightly"] = {**body, "_id": "schedule/nightly", "enabled": False,
                                             "invokeService": "sync",
                                             "invokeContext": {"action": "reconcile", "mapping": NATIVE}}
    aic.tenant.config["schedule/full"] = {**body, "_id": "schedule/full", "invokeService": "sync",
                                          "invokeContext": {"action": "reconcile", "mapping": NATIVE}}
    rows = {r["name"]: r for r in platform.schedule_report(aic.resources)["schedules"]}
    assert rows["nightly"]["enabled"] is False and rows["nightly"]["nextFire"] is None
    assert rows["nightly"]["managedBy"] == "tenant" and rows["nightly"]["mode"] == "full"
    assert any("never checks it" in w for w in rows["full"]["warnings"])
    with pytest.raises(UsageError, match="fires them itself"):
        platform.serve_schedules(once=True)


def test_a_second_ctrl_c_while_watching_still_cancels_and_waits(aic: AicHarness, platform: AicPlatform) -> None:
    aic.tenant.recon_reads = 50
    pressed: list[bool] = []

    def interrupt(summary: JsonObject) -> None:
        if not pressed:
            pressed.append(True)
            raise KeyboardInterrupt  # the signal handler's second Ctrl-C, raised mid-poll

    aic.tenant.on_recon_read = interrupt
    run = platform.reconcile(ReconRequest(MAPPING))
    assert run.state is RunState.CANCELED and sum("_action=cancel" in c for c in aic.tenant.calls) == 1
