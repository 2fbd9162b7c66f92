"""Accounts that cannot become identities, and sources that correlate to more than one identity.

The sample tenant's conference rooms and shared mailbox have no givenName or surname, which alpha_user
requires: they are FAILURE entries, the run goes on, and later incremental runs re-read them by id.
AMBIGUOUS correlation is an EXCEPTION for a person to resolve, never a guess.
"""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS  # every situation here runs with the state in SQLite and in PostgreSQL

ROOMS = {"Adams", "Baker", "Crystal", "Hood", "Rainier", "Stevens"}


def test_rooms_and_shared_mailbox_fail_and_are_retried(emulator: Any, idm: Any, entra_admin: Any) -> None:
    env = idm(emulator, source_filter=None)  # prod's setting: the whole tenant

    code, run = env.reconcile()
    assert code == 4, run["reason"]  # success with failed entries
    assert run["state"] == "SUCCESS" and run["processed"] == 33
    assert run["failures"] == 7 and run["situations"] == {"ABSENT": 33}
    people = env.by_user_name()
    assert len(people) == 26 and all(p["givenName"] and p["sn"] for p in people.values())
    assert not any(name.split("@")[0].capitalize() in ROOMS | {"Support"} for name in people)

    failed = env.run_record(run["id"], "--status", "FAILURE")["entries"]
    assert len(failed) == 7 and {e["action"] for e in failed} == {"CREATE"}
    by_source = {e["sourceId"]: e["message"] for e in failed}
    for e in failed:
        assert e["message"].startswith("cannot create managed/alpha_user: required property 'givenName' is missing")
        assert "userName, givenName, sn, mail" in e["message"]
    assert {e["label"] for e in failed} >= {f"Rainier@{emulator.domain}", f"support@{emulator.domain}"}
    rainier = emulator.get_user(f"Rainier@{emulator.domain}")
    support = emulator.get_user(f"support@{emulator.domain}")
    assert rainier["id"] in by_source and support["id"] in by_source
    # People read the same in the table form.
    shown = env.cli("runs", "show", "--env", "demo", run["id"], "--status", "FAILURE")
    assert shown.code == 0 and "required property 'givenName' is missing" in shown.out
    assert f"Rainier@{emulator.domain}" in shown.out  # the name the room is known by, under its source id

    # Nothing changed in Entra ID: the failed accounts are still re-read by id, and fail again.
    code, run = env.reconcile("--incremental")
    assert code == 4 and run["mode"] == "incremental" and run["failures"] == 7
    retried = env.run_record(run["id"])["entries"]
    assert {e["phase"] for e in retried} == {"retry"} and {e["sourceId"] for e in retried} == set(by_source)

    # An administrator gives one room a name: the next incremental run creates it; the rest still fail.
    entra_admin.patch(rainier["id"], {"givenName": "Conference", "surname": "Rainier"})
    code, run = env.reconcile("--incremental")
    assert code == 4 and run["failures"] == 6
    assert run["actions"]["CREATE"] == 7
    [created] = env.run_record(run["id"], "--status", "SUCCESS")["entries"]
    assert (created["sourceId"], created["action"], created["situation"]) == (rainier["id"], "CREATE", "ABSENT")
    [room] = env.identities('sn eq "Rainier"')
    assert room["givenName"] == "Conference" and room["userName"] == f"Rainier@{emulator.domain}"
    assert env.get(room["_id"])["_links"] == [{"mapping": "entra-users", "sourceId": rainier["id"]}]

    # Created once: the next run confirms it and leaves only the six still nameless accounts failing.
    code, run = env.reconcile("--incremental")
    assert code == 4 and run["failures"] == 6
    assert len(env.identities('sn eq "Rainier"')) == 1


def test_ambiguous_correlation_is_an_exception_and_writes_nothing(emulator: Any, idm: Any) -> None:
    env = idm(emulator)  # correlation {any: [userName]}, the demo's
    sam = emulator.get_user(f"scarter@{emulator.domain}")
    assert env.reconcile()[0] == 0

    # Sam's admin account shares the mailbox; it is in the filter's scope and becomes an identity too.
    emulator.create_user({"accountEnabled": True, "displayName": "Sam Carter (admin)", "givenName": "Sam",
                          "surname": "Carter", "mail": "scarter@example.com",
                          "userPrincipalName": f"scarter.adm@{emulator.domain}", "mailNickname": "scarter.adm"})
    code, run = env.reconcile("--incremental")
    assert code == 0 and run["situations"] == {"ABSENT": 1} and run["actions"] == {"CREATE": 1}
    assert len(env.identities()) == 2

    # The team widens correlation to mail, so that a re-created account finds its old identity.
    env.edit_mapping(correlation={"any": ["mail", "userName"]})
    env.apply()
    # Sam's account is deleted and re-created (a new object id, the same UPN and mail).
    emulator.delete_user(sam["id"], permanent=True)
    new = emulator.create_user({"accountEnabled": True, "displayName": "Sam Carter", "givenName": "Sam",
                                "surname": "Carter", "mail": "scarter@example.com",
                                "userPrincipalName": f"scarter@{emulator.domain}", "mailNickname": "scarter"})
    before = env.store_rows()

    code, run = env.reconcile("--incremental")
    assert code == 0, run["reason"]  # an EXCEPTION asks for a person; it is not a failure
    assert run["failures"] == 0
    assert run["situations"] == {"AMBIGUOUS": 1, "SOURCE_MISSING": 1}
    assert run["actions"] == {"EXCEPTION": 2}
    entries = {e["situation"]: e for e in env.run_record(run["id"])["entries"]}
    ambiguous = entries["AMBIGUOUS"]
    assert ambiguous["sourceId"] == new["id"] and ambiguous["status"] == "SUCCESS"
    assert ambiguous["action"] == "EXCEPTION" and "candidates:" in ambiguous["message"]
    assert all(o["_id"] in ambiguous["message"] for o in env.identities())
    assert entries["SOURCE_MISSING"]["sourceId"] == sam["id"]
    assert env.store_rows() == before  # no object, no link written

    # Still ambiguous next time, via the full run too: never resolved by guessing.
    code, run = env.reconcile()
    assert code == 0 and run["situations"].get("AMBIGUOUS") == 1 and env.store_rows() == before
