"""The mapping's scope and its edits: a user leaving the source filter, a mapping change that forces a full run."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS  # every situation here runs with the state in SQLite and in PostgreSQL

PILOT = 'mail eq "scarter@example.com" or surname eq "Vance"'  # Sam and Adele, the pilot group


def test_user_leaving_the_filter_is_untouched(emulator: Any, idm: Any, entra_admin: Any) -> None:
    env = idm(emulator, source_filter=PILOT, mapping={
        "policies": {"base": "default", "rules": {"LINK_ONLY": "UNLINK", "SOURCE_MISSING": "DELETE"}}})
    code, run = env.reconcile()
    assert code == 0 and run["actions"] == {"CREATE": 2}
    before = env.store_rows()
    sam = entra_admin.find("scarter@example.com")

    # Sam's mail changes: the filter no longer matches him. Out of scope is never touched.
    entra_admin.patch(sam["id"], {"mail": "sam.carter@example.com", "givenName": "Samuel"})
    code, run = env.reconcile("--incremental")
    assert code == 0, run["reason"]
    assert run["situations"] == {} and run["actions"] == {} and run["outOfScope"] == 1
    assert env.store_rows() == before

    code, run = env.reconcile()
    assert code == 0, run["reason"]
    assert run["situations"] == {"CONFIRMED": 1} and run["outOfScope"] == 1  # Adele alone is assessed
    assert "UNQUALIFIED" not in run["situations"] and "SOURCE_MISSING" not in run["situations"]
    assert "DELETE" not in run["actions"] and env.store_rows() == before
    [kept] = env.identities('mail eq "scarter@example.com"')
    assert kept["givenName"] == "Sam"  # the identity keeps what it had when Sam was in scope

    # Back in scope, the next incremental run picks the change up again.
    entra_admin.patch(sam["id"], {"mail": "scarter@example.com"})
    code, run = env.reconcile("--incremental")
    assert code == 0 and run["situations"] == {"CONFIRMED": 1} and run["actions"] == {"UPDATE": 1}
    assert env.identities('mail eq "scarter@example.com"')[0]["givenName"] == "Samuel"


def test_mapping_change_forces_a_full_run_said_plainly(emulator: Any, idm: Any) -> None:
    env = idm(emulator)
    assert env.reconcile()[0] == 0
    assert env.reconcile("--incremental")[1]["mode"] == "incremental"

    properties = [{"source": "givenName", "target": "givenName"}, {"source": "mail", "target": "mail"},
                  {"source": "surname", "target": "sn"}, {"source": "userPrincipalName", "target": "userName"},
                  {"source": "displayName", "target": "cn"}]
    env.edit_mapping(properties=properties)
    plan = env.cli("plan", "--env", "demo", "--detailed-exitcode")
    assert plan.code == 2, plan.text
    assert "~ Mapping.entra-users" in plan.out and "displayName" in plan.out
    assert "the next run of Mapping.entra-users will be full, not incremental" in plan.text
    env.apply()

    result = env.cli("reconcile", "--env", "demo", "--mapping", "entra-users", "--incremental")
    assert result.code == 0, result.text
    because = "the mapping's selected attributes or source filter changed since its delta link was stored"
    assert f"Full run because {because}." in result.out
    [run] = env.json("runs", "list", "--env", "demo", "--limit", "1")
    shown = env.run_record(run["id"])
    assert (shown["mode"], shown["fullBecause"]) == ("full", because)
    assert shown["situations"] == {"CONFIRMED": 1} and shown["actions"] == {"UPDATE": 1}
    [entry] = shown["entries"]
    assert entry["changes"] == {"cn": [None, "Sam Carter"]}
    assert env.identities()[0]["cn"] == "Sam Carter"

    # The full run stored a delta link for the new selection: incremental again from here.
    code, run = env.reconcile("--incremental")
    assert code == 0 and (run["mode"], run["fullBecause"], run["entries"]) == ("incremental", None, 0)
