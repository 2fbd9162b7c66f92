"""The rest of IDM's situations, each reached by something an administrator does.

With the other e2e files (ABSENT, CONFIRMED, AMBIGUOUS, SOURCE_MISSING, LINK_ONLY) this reaches every
situation the engine produces: SOURCE_IGNORED, UNQUALIFIED, FOUND, UNASSIGNED, MISSING here for a
validity rule on disabled accounts, and ALL_GONE and FOUND_ALREADY_LINKED on the sample tenant.
TARGET_IGNORED is the exception: it needs a validity rule on *managed* objects, which the resource
model does not have, so no run reaches it.
"""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS  # every situation here runs with the state in SQLite and in PostgreSQL

PILOT = 'mail eq "scarter@example.com" or surname eq "Vance"'  # Sam and Adele


def test_disabled_accounts_through_a_validity_rule(emulator: Any, idm: Any, entra_admin: Any) -> None:
    sam = entra_admin.find("scarter@example.com")
    entra_admin.patch(sam["id"], {"accountEnabled": False})  # disabled before the first run
    env = idm(emulator, source_filter=PILOT, mapping={"validSource": "accountEnabled eq true"})

    code, run = env.reconcile()
    assert code == 0, run["reason"]
    assert run["situations"] == {"ABSENT": 1, "SOURCE_IGNORED": 1}
    assert run["actions"] == {"CREATE": 1, "REPORT": 1}
    reported = env.run_record(run["id"], "--situation", "SOURCE_IGNORED")["entries"]
    assert [e["sourceId"] for e in reported] == [sam["id"]]
    assert [i["sn"] for i in env.identities()] == ["Vance"]

    entra_admin.patch(sam["id"], {"accountEnabled": True})
    code, run = env.reconcile("--incremental")
    assert code == 0 and run["situations"] == {"ABSENT": 1} and run["actions"] == {"CREATE": 1}
    [identity] = env.identities('sn eq "Carter"')

    # Disabled accounts keep their identity but stop being synchronised (IDM's default would DELETE).
    env.edit_mapping(policies={"base": "default", "rules": {"LINK_ONLY": "UNLINK", "UNQUALIFIED": "UNLINK"}})
    env.apply()
    entra_admin.patch(sam["id"], {"accountEnabled": False})
    code, run = env.reconcile("--incremental")
    assert code == 0, run["reason"]
    assert run["situations"] == {"UNQUALIFIED": 1} and run["actions"] == {"UNLINK": 1}
    assert env.get(identity["_id"])["_links"] == []

    # Enabled again: the unlinked identity is found by userName and linked again.
    entra_admin.patch(sam["id"], {"accountEnabled": True, "givenName": "Samuel"})
    code, run = env.reconcile("--incremental")
    assert code == 0 and run["situations"] == {"FOUND": 1} and run["actions"] == {"UPDATE": 1}
    got = env.get(identity["_id"])
    assert got["_links"] == [{"mapping": "entra-users", "sourceId": sam["id"]}] and got["givenName"] == "Samuel"

    # Disabled and moved out of the pilot: with targetScope all, the orphaned identity is UNASSIGNED.
    entra_admin.patch(sam["id"], {"accountEnabled": False})
    assert env.reconcile("--incremental")[1]["actions"] == {"UNLINK": 1}
    entra_admin.patch(sam["id"], {"mail": "sam.carter@example.com"})
    env.edit_mapping(targetScope="all")
    env.apply()
    code, run = env.reconcile()
    assert code == 0, run["reason"]
    assert run["situations"] == {"CONFIRMED": 1, "UNASSIGNED": 1}
    [entry] = env.run_record(run["id"], "--situation", "UNASSIGNED")["entries"]
    assert (entry["action"], entry["targetId"], entry["phase"]) == ("EXCEPTION", identity["_id"], "target")

    # Adele's identity is deleted by hand: the next full run finds her link without its object.
    [adele] = env.identities('sn eq "Vance"')
    assert env.cli("identities", "delete", "--env", "demo", adele["_id"], "--yes").code == 0
    code, run = env.reconcile()
    assert code == 0 and run["situations"] == {"MISSING": 1, "UNASSIGNED": 1}
    assert run["actions"] == {"EXCEPTION": 2}
    assert env.identities('sn eq "Vance"') == []  # reported for a person; not silently re-created


def test_all_gone_and_found_already_linked_on_the_sample_tenant(emulator: Any, idm: Any,
                                                                entra_admin: Any) -> None:
    env = idm(emulator, source_filter=None, mapping={"correlation": {"any": ["mail", "userName"]}})
    code, run = env.reconcile()
    assert code == 4 and run["failures"] == 7

    # A conference room that never became an identity is deleted: nothing is left on either side.
    rainier = emulator.get_user(f"Rainier@{emulator.domain}")
    entra_admin.delete(rainier["id"])
    # Adele gets a second account that shares her mailbox.
    second = emulator.create_user({"accountEnabled": True, "displayName": "Adele Vance (admin)",
                                   "givenName": "Adele", "surname": "Vance", "mail": f"AdeleV@{emulator.domain}",
                                   "userPrincipalName": f"adelev.adm@{emulator.domain}",
                                   "mailNickname": "adelev.adm"})
    before = env.store_rows()
    code, run = env.reconcile("--incremental")
    assert code == 4, run["reason"]
    assert run["situations"]["ALL_GONE"] == 1 and run["actions"]["NOREPORT"] == 1
    assert run["situations"]["FOUND_ALREADY_LINKED"] == 1 and run["actions"]["EXCEPTION"] == 1
    assert run["failures"] == 6  # the deleted room is no longer retried
    [entry] = env.run_record(run["id"], "--situation", "FOUND_ALREADY_LINKED")["entries"]
    assert entry["sourceId"] == second["id"] and entry["action"] == "EXCEPTION"
    assert env.store_rows() == before
