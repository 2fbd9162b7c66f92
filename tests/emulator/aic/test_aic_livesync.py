"""liveSync (Graph delta, the sync token in the repo), schedules that fire, and a Graph that is not ours."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from controller.emulator import SAM_CARTER, Emulator
from controller.emulator.aic import AicEmulator
from tests.emulator.aic.conftest import (
    SEED_MAPPING,
    Tenant,
    apply_seed,
    finished,
    pinned,
    rendered_seed,
    seeded_tenant,
    tenant_for,
    wait_for,
)
from tests.emulator.aic.test_aic_recon import recon, seeded, users
from tests.emulator.aic.test_aic_system import FAKE_CLIENT, FAKE_SECRET, FAKE_TENANT, USERS, FakeGraph, fake_graph

__all__ = ["fake_graph", "seeded"]  # fixtures reused from the sibling modules

ADELE = "AdeleV@M365x214355.onmicrosoft.com"


def live_sync(tenant: Tenant) -> dict[str, Any]:
    answer = tenant.post("/openidm/system/Entra/User?_action=liveSync")
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def last_livesync(tenant: Tenant) -> dict[str, Any]:
    result: dict[str, Any] = tenant.admin("GET", "livesync").json()["runs"][-1]
    return result


def test_livesync_brings_the_first_name_change_and_leaves_the_filtered_out_alone(
        seeded: Tenant, emulator: Emulator) -> None:
    recon(seeded)
    first = live_sync(seeded)
    assert set(first) == {"_rev", "_id", "connectorData"} and first["_id"] == "SYSTEMENTRAUSER"
    assert first["connectorData"]["nativeType"] == "string"
    assert "/v1.0/users/delta" in first["connectorData"]["syncToken"]
    assert last_livesync(seeded)["firstRun"] is True and last_livesync(seeded)["changes"] == 0
    assert seeded.get("/openidm/repo/synchronisation/pooledSyncStage/SYSTEMENTRAUSER").json() == first

    adele = emulator.get_user(ADELE)
    assert adele is not None
    emulator.update_user(SAM_CARTER["id"], {"givenName": "Samuel"})
    emulator.update_user(adele["id"], {"givenName": "Adelaide"})
    second = seeded.post("/openidm/system?_action=liveSync&source=system/Entra/User").json()  # the other form
    assert second["_rev"] != first["_rev"]
    assert second["connectorData"]["syncToken"] != first["connectorData"]["syncToken"]
    [sam] = users(seeded, f'userName eq "{SAM_CARTER["userPrincipalName"]}"')
    assert sam["givenName"] == "Samuel"
    assert users(seeded, f'userName eq "{ADELE}"') == []  # outside the source filter: never created
    run = last_livesync(seeded)
    assert run["changes"] == 2 and run["mappings"] == [SEED_MAPPING]
    assert run["situationSummary"]["CONFIRMED"] == 1 and run["situationSummary"]["SOURCE_IGNORED"] == 1
    assert run["target"]["updated"] == 1 and run["statusSummary"] == {"SUCCESS": 2, "FAILURE": 0}

    full = recon(seeded)  # the full run leaves Adele alone too (sourceQuery)
    assert full["progress"]["source"]["existing"]["total"] == "1"
    assert users(seeded, f'userName eq "{ADELE}"') == []


def test_link_only_is_unlinked(seeded: Tenant, emulator: Emulator) -> None:
    recon(seeded)
    live_sync(seeded)
    [sam] = users(seeded, f'userName eq "{SAM_CARTER["userPrincipalName"]}"')
    assert seeded.admin("DELETE", f"managed/alpha_user/{sam['_id']}").status_code == 204  # target gone, link stays
    emulator.delete_user(SAM_CARTER["id"])
    live_sync(seeded)
    run = last_livesync(seeded)
    assert run["situationSummary"]["LINK_ONLY"] == 1
    assert [(e["situation"], e["action"], e["status"]) for e in run["entries"]] == [("LINK_ONLY", "UNLINK", "SUCCESS")]
    links = seeded.get("/openidm/repo/link", params={"_queryFilter": f'linkType eq "{SEED_MAPPING}"'}).json()
    assert links["result"] == []


def test_a_schedule_fires_and_can_be_triggered(seeded: Tenant) -> None:
    schedule = rendered_seed()["schedule/entra-incremental"]
    full = {**schedule, "invokeService": "sync", "schedule": "*/1 * * * * ?",
            "invokeContext": {"action": "reconcile", "mapping": SEED_MAPPING}}
    assert seeded.put("/openidm/config/schedule/entra-full", full).ok
    runs = wait_for(lambda: seeded.get("/openidm/recon").json()["reconciliations"], "a scheduled recon")
    assert runs[0]["mapping"] == SEED_MAPPING
    finished(seeded, runs[0]["_id"])
    assert users(seeded, f'userName eq "{SAM_CARTER["userPrincipalName"]}"')
    assert seeded.put("/openidm/config/schedule/entra-full", {**full, "enabled": False}).ok

    jobs = seeded.get("/openidm/scheduler/job?_queryFilter=true").json()["result"]
    assert {j["_id"] for j in jobs} == {"entra-full"} and jobs[0]["nextRunDate"] is None
    assert seeded.put("/openidm/config/schedule/entra-incremental", schedule).ok
    job = seeded.get("/openidm/scheduler/job/entra-incremental").json()
    assert job["nextRunDate"].endswith(":00.000Z") and job["invokeService"] == "org.forgerock.openidm.provisioner"
    refused = seeded.post("/openidm/scheduler/job/entra-incremental?_action=trigger",
                          headers={"Accept-API-Version": "resource=1.0"})
    assert refused.status_code == 501
    assert seeded.post("/openidm/scheduler/job/entra-incremental?_action=trigger").json() == {"success": True}
    wait_for(lambda: seeded.get("/openidm/repo/synchronisation/pooledSyncStage/SYSTEMENTRAUSER").ok,
             "the triggered liveSync")
    assert seeded.post("/openidm/scheduler/job/nope?_action=trigger").status_code == 404
    for text, valid in (("0 0/15 * * * ?", True), ("*/15 * * * * ?", True), ("0 */15 * * *", False)):
        answer = seeded.post("/openidm/scheduler?_action=validateQuartzCronExpression", {"cronExpression": text})
        assert answer.json() == {"valid": valid}, text


def test_recon_and_livesync_read_a_graph_that_is_not_the_projects_emulator(tmp_path: Path,
                                                                           fake_graph: FakeGraph) -> None:
    with AicEmulator(tmp_path, restart_seconds=0, entra_login=fake_graph.url, entra_graph=fake_graph.url) as emu, \
            pinned(emu) as session:
        tenant = tenant_for(emu, session)
        apply_seed(tenant, FAKE_TENANT, FAKE_CLIENT, FAKE_SECRET, rendered_seed(sourceFilter='mail co "example.com"'))
        summary = recon(tenant)
        assert summary["situationSummary"]["ABSENT"] == 5 and summary["progress"]["target"]["created"] == 5
        assert any("$skiptoken" in r.get("query", {}) for r in fake_graph.requests)  # it paged the fake's users
        assert {u["userName"] for u in users(tenant, 'sn eq "Fake"')} == {u["userPrincipalName"] for u in USERS}

        live_sync(tenant)
        fake_graph.change(USERS[1]["id"], givenName="Renamed")
        fake_graph.remove(USERS[4]["id"])
        live_sync(tenant)
        run = last_livesync(tenant)
        assert run["situationSummary"]["CONFIRMED"] == 1 and run["situationSummary"]["SOURCE_MISSING"] == 1
        assert [u["givenName"] for u in users(tenant, f'userName eq "{USERS[1]["userPrincipalName"]}"')] == ["Renamed"]
        delta_calls = [r for r in fake_graph.requests if r.get("path") == "/v1.0/users/delta"]
        assert delta_calls[0]["query"]["$deltatoken"] == "latest"
        assert delta_calls[0]["authorization"] == "Bearer fake-graph-token"


def test_an_expired_delta_token_fails_the_call_and_keeps_the_stage(seeded: Tenant, emulator: Emulator) -> None:
    first = live_sync(seeded)
    emulator.expire_delta_tokens()
    failed = seeded.post("/openidm/system/Entra/User?_action=liveSync")
    assert failed.status_code == 503 and "sync state" in failed.json()["message"].lower()
    assert last_livesync(seeded)["state"] == "FAILED"
    assert seeded.get("/openidm/repo/synchronisation/pooledSyncStage/SYSTEMENTRAUSER").json() == first
    assert seeded.delete("/openidm/repo/synchronisation/pooledSyncStage/SYSTEMENTRAUSER").ok  # reset sync token
    assert live_sync(seeded)["_id"] == "SYSTEMENTRAUSER" and last_livesync(seeded)["firstRun"] is True


def test_a_schedule_without_concurrent_execution_skips_a_fire_while_its_run_goes(
        aic_with_graph: AicEmulator, emulator: Emulator) -> None:
    with seeded_tenant(aic_with_graph, emulator, rendered_seed(sourceFilter=None)) as tenant:
        aic_with_graph.sync.record_delay = 0.1  # 33 records: a run outlasts the next fire
        full = {**rendered_seed()["schedule/entra-incremental"], "invokeService": "sync", "schedule": "*/1 * * * * ?",
                "invokeContext": {"action": "reconcile", "mapping": SEED_MAPPING}}
        assert tenant.put("/openidm/config/schedule/entra-full", full).ok

        def skipped() -> bool:
            jobs = tenant.admin("GET", "scheduler").json()["jobs"]
            return bool(jobs and jobs[0]["skipped"] >= 1)

        wait_for(skipped, "a skipped fire")
        assert tenant.put("/openidm/config/schedule/entra-full", {**full, "enabled": False}).ok
        runs = tenant.get("/openidm/recon").json()["reconciliations"]
        assert [r["state"] for r in runs].count("ACTIVE") <= 1
        for run in runs:
            tenant.post(f"/openidm/recon/{run['_id']}?_action=cancel")
