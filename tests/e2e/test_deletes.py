"""Users that disappear from Entra ID: kept by default, deleted when the rule says so, guarded in bulk.

SOURCE_MISSING, LINK_ONLY and the safety guard, each through the CLI with the deletes made in the
emulator the way an administrator makes them.
"""

from __future__ import annotations

from typing import Any

from controller.backends import open_backend
from controller.config import load_environment
from tests.e2e.conftest import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS  # every situation here runs with the state in SQLite and in PostgreSQL

PEOPLE_ONLY = "givenName pr and surname pr"  # the tenant's people, not its rooms and shared mailbox


def test_user_deleted_in_entra_is_kept_by_default_then_deleted_by_rule(emulator: Any, idm: Any,
                                                                       entra_admin: Any) -> None:
    env = idm(emulator)
    assert env.reconcile()[0] == 0
    [sam] = env.identities()
    user = entra_admin.find("scarter@example.com")
    entra_admin.delete(user["id"])  # soft delete: the recycle bin

    code, run = env.reconcile("--incremental")
    assert code == 0, run["reason"]
    assert run["situations"] == {"SOURCE_MISSING": 1} and run["actions"] == {"EXCEPTION": 1}
    assert run["failures"] == 0  # an EXCEPTION is for a person to look at, not a failed entry
    [entry] = env.run_record(run["id"])["entries"]
    assert (entry["sourceId"], entry["targetId"], entry["phase"]) == (user["id"], sam["_id"], "deleted")
    assert "soft-deleted in Entra ID" in entry["message"]
    assert env.identities() == [sam]  # kept, unchanged
    assert env.get(sam["_id"])["_links"] == [{"mapping": "entra-users", "sourceId": user["id"]}]

    # The team decides that identities follow Entra ID deletes.
    env.edit_mapping(policies={"base": "default", "rules": {"LINK_ONLY": "UNLINK", "SOURCE_MISSING": "DELETE"}})
    plan = env.cli("plan", "--env", "demo", "--detailed-exitcode")
    assert plan.code == 2, plan.text
    assert "~ Mapping.entra-users" in plan.out and "SOURCE_MISSING" in plan.out and "DELETE" in plan.out
    assert "will be full" not in plan.out  # the rules select nothing new
    env.apply()

    # The delete was reported once by the delta round; the next full run finds the source gone (404 by id).
    code, run = env.reconcile("--incremental")
    assert code == 0 and run["situations"] == {} and env.identities() == [sam]
    # With Sam gone the demo filter matches nobody: an empty source is blocked until a person says so.
    code, run = env.reconcile()
    assert code == 3 and run["state"] == "BLOCKED" and "no objects in scope" in run["reason"]
    assert env.identities() == [sam]
    code, run = env.reconcile("--allow-deletes", "1")
    assert code == 0, run["reason"]
    assert run["situations"] == {"SOURCE_MISSING": 1} and run["actions"] == {"DELETE": 1}
    assert env.identities() == [] and env.store_rows() == {"alpha_user": [], "links": []}
    [entry] = env.run_record(run["id"], "--action", "DELETE")["entries"]
    assert entry["sourceId"] == user["id"] and entry["targetId"] == sam["_id"]


def test_link_only_after_identity_and_entra_delete_is_unlinked(emulator: Any, idm: Any, entra_admin: Any) -> None:
    env = idm(emulator)
    assert env.reconcile()[0] == 0
    [sam] = env.identities()
    deleted = env.cli("identities", "delete", "--env", "demo", sam["_id"], "--yes")
    assert deleted.code == 0 and f"Deleted managed/alpha_user/{sam['_id']}" in deleted.out
    assert env.identities() == []
    user = entra_admin.find("scarter@example.com")
    assert [row[1:3] for row in env.store_rows()["links"]] == [(user["id"], sam["_id"])]  # the link stays
    entra_admin.delete(user["id"])

    code, run = env.reconcile("--incremental")
    assert code == 0, run["reason"]
    assert run["situations"] == {"LINK_ONLY": 1} and run["actions"] == {"UNLINK": 1}
    assert run["deletes"] == 0  # LINK_ONLY's target is already gone: the guard does not count it
    [entry] = env.run_record(run["id"])["entries"]
    assert (entry["situation"], entry["action"], entry["sourceId"], entry["targetId"]) == (
        "LINK_ONLY", "UNLINK", user["id"], sam["_id"])
    assert env.store_rows()["links"] == []


def test_guard_blocks_mass_deletes_until_allowed(emulator: Any, idm: Any, entra_admin: Any) -> None:
    env = idm(emulator, source_filter=PEOPLE_ONLY, mapping={
        "policies": {"base": "default", "rules": {"LINK_ONLY": "UNLINK", "SOURCE_MISSING": "DELETE"}},
        "safety": {"maxDeletes": 2, "maxDeletePercent": 50, "allowEmptySource": False}})
    code, run = env.reconcile()
    assert code == 0, run["reason"]
    assert run["actions"] == {"CREATE": 26} and run["outOfScope"] == 7
    before = env.store_rows()

    # Three people leave on the same day.
    leavers = [emulator.get_user(f"{n}@{emulator.domain}") for n in ("AdeleV", "AlexW", "BenW")]
    for user in leavers:
        entra_admin.delete(user["id"])

    result = env.cli("reconcile", "--env", "demo", "--mapping", "entra-users", "--incremental")
    assert result.code == 3, result.text
    assert "BLOCKED" in result.out and "exceed safety.maxDeletes (2)" in result.out
    assert "--allow-deletes 3" in result.out
    [run] = env.json("runs", "list", "--env", "demo", "--limit", "1")
    assert run["state"] == "BLOCKED" and "Nothing was deleted" in run["reason"]
    assert run["situations"] == {"SOURCE_MISSING": 3} and run["actions"] == {"DELETE": 3}
    assert env.store_rows() == before

    # The delta link did not advance: the same three deletes are seen again, and blocked again.
    code, run = env.reconcile("--incremental")
    assert code == 3 and run["state"] == "BLOCKED" and run["situations"] == {"SOURCE_MISSING": 3}
    assert run["mode"] == "incremental"
    code, run = env.reconcile("--incremental", "--allow-deletes", "2")
    assert code == 3 and "--allow-deletes 2 is not enough" in run["reason"]
    assert env.store_rows() == before

    # A person reviews them and lets exactly these through.
    code, run = env.reconcile("--incremental", "--allow-deletes", "3")
    assert code == 0, run["reason"]
    assert run["state"] == "SUCCESS" and run["actions"] == {"DELETE": 3} and run["deletes"] == 3
    remaining = env.by_user_name()
    assert len(remaining) == 23 and not {u["userPrincipalName"] for u in leavers} & set(remaining)
    deleted = {e["sourceId"] for e in env.run_record(run["id"], "--action", "DELETE")["entries"]}
    assert deleted == {u["id"] for u in leavers}

    backend = open_backend(env.root, load_environment(env.root, "demo").resources.environment)
    try:
        audit = [e for e in backend.audit_log() if e.action == "allow-deletes"]
    finally:
        backend.close()
    [entry] = audit  # the one record of the override
    assert "--allow-deletes 3" in entry.summary and entry.details["run"] == run["id"]
    assert entry.details["allowed"] == 3 and entry.details["deletes"] == 3

    # Done: the next incremental run has nothing left to delete.
    code, run = env.reconcile("--incremental")
    assert code == 0 and run["situations"] == {}


def test_a_partitioned_full_run_deletes_only_what_graph_says_is_gone(emulator: Any, idm: Any,
                                                                     entra_admin: Any) -> None:
    """readConcurrency 4: the read is not a snapshot, so the linked users it did not list are read back
    by id (JSON batches) and only the ones Graph answers 404 for are SOURCE_MISSING — here a partition
    answered empty (as a read racing a UPN change sees it) and three users deleted elsewhere."""
    env = idm(emulator, source_filter=PEOPLE_ONLY,
              mapping={"policies": {"base": "default", "rules": {"SOURCE_MISSING": "DELETE"}},
                       "safety": {"maxDeletes": 10, "maxDeletePercent": 100, "allowEmptySource": False}})
    connector = env.root / "environments" / "demo" / "connector.yaml"
    connector.write_text(connector.read_text() + "  readConcurrency: 4\n")
    env.apply()
    code, run = env.reconcile()
    assert code == 0, run["reason"]
    everyone = run["actions"]["CREATE"]
    listed = entra_admin.session.get(f"{entra_admin.base}/v1.0/users", timeout=10,
                                     params={"$select": "id,givenName,surname,userPrincipalName",
                                             "$top": "999"}).json()["value"]
    people = [u for u in listed if u.get("givenName") and u.get("surname")]
    assert len(people) == everyone > 3
    # The partitions read first are j, m, a and d (LIKELY_LARGEST); the deleted users are not in them.
    gone = [u["id"] for u in people if u["userPrincipalName"][0].lower() not in "jmad"][:3]
    for uid in gone:
        entra_admin.delete(uid)
    # After the delta link (taken first), the next listing page answers empty: its partition's people
    # exist but are not listed.
    emulator.inject_fault(kind="body", body='{"value": []}', count=1, skip=1, method="GET", path="/v1.0/users")

    code, run = env.reconcile()
    assert code == 0, run["reason"]
    assert not emulator.faults.list()  # the empty page was served
    assert run["situations"] == {"CONFIRMED": everyone - 3, "SOURCE_MISSING": 3}
    assert run["actions"] == {"UPDATE": everyone - 3, "DELETE": 3}
    deleted = env.run_record(run["id"], "--action", "DELETE")["entries"]
    assert sorted(e["sourceId"] for e in deleted) == sorted(gone)
    assert len(env.identities()) == everyone - 3
