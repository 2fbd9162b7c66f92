"""Reconciliations on the AIC emulator, for real: the seed's mapping as idmctl renders it, run against Graph."""

from __future__ import annotations

from typing import Any

import pytest

from controller.emulator import SAM_CARTER, Emulator
from controller.emulator.aic import AicEmulator
from tests.emulator.aic.conftest import SEED_MAPPING, Tenant, finished, rendered_seed, seeded_tenant


@pytest.fixture
def seeded(aic_with_graph: AicEmulator, emulator: Emulator) -> Any:
    with seeded_tenant(aic_with_graph, emulator) as tenant:
        yield tenant


def users(tenant: Tenant, query: str = "true") -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = tenant.get("/openidm/managed/alpha_user",
                                              params={"_queryFilter": query}).json()["result"]
    return result


def recon(tenant: Tenant, **params: str) -> dict[str, Any]:
    started = tenant.post("/openidm/recon", params={"_action": "recon", "mapping": SEED_MAPPING, **params})
    assert started.status_code == 200, started.text
    assert started.json() == {"_id": started.json()["_id"], "state": "ACTIVE"}
    return finished(tenant, started.json()["_id"])


def test_the_initial_recon_creates_sam_carter_and_links_him(seeded: Tenant) -> None:
    summary = recon(seeded)
    assert summary["state"] == "SUCCESS" and summary["stage"] == "COMPLETED_SUCCESS"
    assert summary["situationSummary"]["ABSENT"] == 1
    assert set(summary["situationSummary"]) >= {"TARGET_CHANGED", "SOURCE_TARGET_CONFLICT", "LINK_ONLY"}
    assert sum(summary["situationSummary"].values()) == 1
    assert summary["statusSummary"] == {"SUCCESS": 1, "FAILURE": 0}
    assert summary["progress"]["source"]["existing"] == {"processed": 1, "total": "1"}
    assert summary["progress"]["target"]["created"] == 1 and summary["progress"]["links"]["created"] == 1
    assert summary["parameters"]["sourceQuery"]["_queryFilter"] == 'mail eq "scarter@example.com"'
    assert summary["ended"] and isinstance(summary["duration"], int)
    [sam] = users(seeded, 'userName eq "scarter@example.com"') or users(seeded, 'mail eq "scarter@example.com"')
    assert (sam["givenName"], sam["sn"], sam["mail"]) == ("Sam", "Carter", "scarter@example.com")
    assert sam["userName"] == SAM_CARTER["userPrincipalName"]
    links = seeded.get("/openidm/repo/link", params={"_queryFilter": f'linkType eq "{SEED_MAPPING}"'}).json()
    assert [(x["firstId"], x["secondId"]) for x in links["result"]] == [(SAM_CARTER["id"], sam["_id"])]
    listed = seeded.get("/openidm/recon").json()["reconciliations"]
    assert listed[-1]["_id"] == summary["_id"]

    again = recon(seeded)  # linked now: CONFIRMED, nothing to write
    assert again["situationSummary"]["CONFIRMED"] == 1 and again["progress"]["target"]["unchanged"] == 1


def test_unfiltered_the_rooms_and_shared_mailboxes_fail_on_required_properties(
        aic_with_graph: AicEmulator, emulator: Emulator) -> None:
    with seeded_tenant(aic_with_graph, emulator, rendered_seed(sourceFilter=None)) as tenant:
        started = tenant.post("/openidm/recon", params={"_action": "recon", "mapping": SEED_MAPPING,
                                                         "persistAssociations": "true", "waitForCompletion": "true"})
        summary = started.json()
        assert summary["state"] == "SUCCESS", summary
        assert summary["situationSummary"]["ABSENT"] == 33
        assert summary["statusSummary"] == {"SUCCESS": 26, "FAILURE": 7}
        assert summary["progress"]["target"]["created"] == 26
        failed = tenant.get(f"/openidm/recon/assoc/{summary['_id']}/entry",
                            params={"_queryFilter": 'status eq "FAILURE"', "_pageSize": 5}).json()
        entries = failed["result"]
        cookie = failed["pagedResultsCookie"]
        while cookie:
            page = tenant.get(f"/openidm/recon/assoc/{summary['_id']}/entry", params={
                "_queryFilter": 'status eq "FAILURE"', "_pageSize": 5, "_pagedResultsCookie": cookie}).json()
            entries += page["result"]
            cookie = page["pagedResultsCookie"]
        assert len(entries) == 7
        assert {e["situation"] for e in entries} == {"ABSENT"} and {e["action"] for e in entries} == {"CREATE"}
        assert all(e["message"] == "Policy validation failed" and e["phase"] == "source" for e in entries)
        failed_props = {r["property"] for e in entries for r in e["messageDetail"]["failedPolicyRequirements"]}
        assert failed_props == {"givenName", "sn"}
        assert len(users(tenant)) == 27  # the 26 people and app-owner; no room, no shared mailbox


def test_analyze_writes_nothing_and_keeps_associations(seeded: Tenant, aic_with_graph: AicEmulator) -> None:
    before = aic_with_graph.store_view()
    summary = recon(seeded, analyze="true", persistAssociations="true")
    assert summary["state"] == "SUCCESS" and summary["situationSummary"]["ABSENT"] == 1
    assert summary["progress"]["target"]["created"] == 0
    after = aic_with_graph.store_view()
    assert after["managed"] == before["managed"] and after["links"] == before["links"] == []
    [entry] = seeded.get(f"/openidm/recon/assoc/{summary['_id']}/entry?_queryFilter=true").json()["result"]
    assert (entry["sourceObjectId"], entry["situation"], entry["action"], entry["targetObjectId"]) == (
        SAM_CARTER["id"], "ABSENT", "CREATE", None)
    assoc = seeded.get(f"/openidm/recon/assoc/{summary['_id']}").json()
    assert assoc["isAnalysis"] == "true" and assoc["mapping"] == SEED_MAPPING


def test_transform_scripts_and_defaults_run_in_javascript(aic_with_graph: AicEmulator, emulator: Emulator) -> None:
    props = [{"source": "givenName", "target": "givenName", "transform": "upper"},
             {"source": "mail", "target": "mail", "transform": ["trim", "lower"]},
             {"source": "surname", "target": "sn"},
             {"source": "userPrincipalName", "target": "userName"},
             {"source": None, "target": "accountStatus", "default": "active"},
             {"source": "accountEnabled", "target": "description", "transform": {"map": {"true": "enabled"},
                                                                               "default": "other"}}]
    with seeded_tenant(aic_with_graph, emulator, rendered_seed(properties=props)) as tenant:
        assert recon(tenant)["statusSummary"] == {"SUCCESS": 1, "FAILURE": 0}
        [sam] = users(tenant, f'userName eq "{SAM_CARTER["userPrincipalName"]}"')
        assert (sam["givenName"], sam["accountStatus"], sam["description"]) == ("SAM", "active", "enabled")


def test_unknown_mapping_all_async_and_cancel(seeded: Tenant, aic_with_graph: AicEmulator) -> None:
    missing = seeded.post("/openidm/recon?_action=recon&mapping=nope")
    assert missing.status_code == 409 and missing.json()["message"] == "No such mapping: nope"
    assert seeded.post("/openidm/recon/unknown-id?_action=cancel").status_code == 404

    mapping = rendered_seed()[f"mapping/{SEED_MAPPING}"]
    asynchronous = {**mapping, "name": "readOnly",
                    "policies": [{**p, "action": "ASYNC"} for p in mapping["policies"]]}
    assert seeded.put("/openidm/config/mapping/readOnly", asynchronous).ok
    failed = finished(seeded, seeded.post("/openidm/recon?_action=recon&mapping=readOnly").json()["_id"])
    assert (failed["state"], failed["stage"]) == ("FAILED", "COMPLETED_FAILED")
    assert failed["progress"]["source"]["existing"]["processed"] == 0

    aic_with_graph.sync.record_delay = 0.2
    run_id = seeded.post("/openidm/recon", {"sourceQuery": {"_queryFilter": "true"}},
                         params={"_action": "recon", "mapping": SEED_MAPPING}).json()["_id"]
    cancel = seeded.post(f"/openidm/recon/{run_id}?_action=cancel")
    assert cancel.json() == {"_id": run_id, "action": "cancel", "status": "SUCCESS"}
    summary = finished(seeded, run_id)
    assert (summary["state"], summary["stage"]) == ("CANCELED", "COMPLETED_CANCELED")
    assert summary["progress"]["source"]["existing"]["processed"] < 33


def test_the_target_phase_sees_unassigned_targets_and_missing_sources(
        aic_with_graph: AicEmulator, emulator: Emulator) -> None:
    objects = rendered_seed(targetScope="all")
    mapping = objects[f"mapping/{SEED_MAPPING}"]
    assert mapping["runTargetPhase"] is True
    mapping["policies"] = [{**p, "action": "DELETE"} if p["situation"] == "SOURCE_MISSING" else p
                           for p in mapping["policies"]]
    with seeded_tenant(aic_with_graph, emulator, objects) as tenant:
        first = recon(tenant, persistAssociations="true")
        assert first["situationSummary"]["ABSENT"] == 1 and first["situationSummary"]["UNASSIGNED"] == 1
        assert first["progress"]["target"]["existing"] == {"processed": 1, "total": "1"}  # app-owner only
        entries = tenant.get(f"/openidm/recon/assoc/{first['_id']}/entry",
                             params={"_queryFilter": 'phase eq "target"'}).json()["result"]
        assert [(e["situation"], e["action"], e["message"]) for e in entries] == [
            ("UNASSIGNED", "EXCEPTION", "Situation UNASSIGNED marked as EXCEPTION")]

        emulator.delete_user(SAM_CARTER["id"])
        blocked = recon(tenant)  # the filter now finds no one: IDM refuses an empty source set
        assert (blocked["state"], blocked["situationSummary"]["SOURCE_MISSING"]) == ("FAILED", 0)
        assert users(tenant, 'mail eq "scarter@example.com"')
        started = tenant.post("/openidm/recon", {"allowEmptySourceSet": True},
                              params={"_action": "recon", "mapping": SEED_MAPPING}).json()
        summary = finished(tenant, started["_id"])
        assert summary["state"] == "SUCCESS" and summary["situationSummary"]["SOURCE_MISSING"] == 1
        assert summary["progress"]["target"]["deleted"] == 1
        assert users(tenant, 'mail eq "scarter@example.com"') == []
        assert tenant.get("/openidm/repo/link?_queryFilter=true").json()["result"] == []


def test_valid_source_runs_the_rendered_script(aic_with_graph: AicEmulator, emulator: Emulator) -> None:
    objects = rendered_seed(sourceFilter=None, validSource='userPrincipalName sw "adelev@"')
    with seeded_tenant(aic_with_graph, emulator, objects) as tenant:
        summary = recon(tenant, analyze="true")
        assert summary["situationSummary"]["ABSENT"] == 1 and summary["situationSummary"]["SOURCE_IGNORED"] == 32
        assert summary["durationSummary"]["validSourceScript"]["count"] == 33


def test_recon_by_id_reconciles_one_source_object(aic_with_graph: AicEmulator, emulator: Emulator) -> None:
    adele = emulator.get_user("AdeleV@M365x214355.onmicrosoft.com")
    assert adele is not None
    with seeded_tenant(aic_with_graph, emulator, rendered_seed(sourceFilter=None)) as tenant:
        answer = tenant.post("/openidm/recon", params={"_action": "reconById", "mapping": SEED_MAPPING,
                                                        "ids": adele["id"], "waitForCompletion": "true"}).json()
        assert answer["state"] == "SUCCESS" and answer["situationSummary"]["ABSENT"] == 1
        assert answer["parameters"]["sourceQuery"]["sourceIds"] == [adele["id"]]
        assert [u["givenName"] for u in users(tenant, 'userName sw "adelev@"')] == ["Adele"]
