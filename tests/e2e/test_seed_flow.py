"""The seed's validation as a user runs it: full run, a change in Entra ID, incremental runs, dry runs.

Each test drives `idmctl` through the CLI against the emulator over HTTPS; the store is read back
through `identities` and `runs show`, and byte for byte from the SQLite file where the claim is that
nothing was written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SAM_FILTER = 'mail eq "scarter@example.com"'


def _files(db: Path) -> dict[str, bytes]:
    """The SQLite file and its WAL/shm companions, as bytes."""
    return {p.name: p.read_bytes() for p in sorted(db.parent.glob(db.name + "*"))}


def test_seed_flow_create_then_update_then_nothing(emulator: Any, idm: Any, entra_admin: Any) -> None:
    env = idm(emulator)

    # Validation, "Reconcile Now": the demo filter keeps Sam alone in scope.
    code, run = env.reconcile()
    assert code == 0, run["reason"]
    assert (run["state"], run["mode"]) == ("SUCCESS", "full")
    assert run["situations"] == {"ABSENT": 1} and run["actions"] == {"CREATE": 1}
    assert run["failures"] == 0 and run["processed"] == 1
    [sam] = env.identities(SAM_FILTER)
    assert (sam["givenName"], sam["sn"], sam["accountStatus"], sam["_rev"]) == ("Sam", "Carter", "active", 1)
    assert sam["userName"].startswith("scarter@")

    # An Entra administrator renames Sam through Microsoft Graph.
    user = entra_admin.find("scarter@example.com")
    entra_admin.patch(user["id"], {"givenName": "Samantha"})

    code, run = env.reconcile("--incremental")
    assert code == 0, run["reason"]
    assert (run["state"], run["mode"], run["fullBecause"]) == ("SUCCESS", "incremental", None)
    assert run["situations"] == {"CONFIRMED": 1} and run["actions"] == {"UPDATE": 1}
    got = env.get(sam["_id"])
    assert (got["givenName"], got["_rev"]) == ("Samantha", 2)
    assert got["_links"] == [{"mapping": "entra-users", "sourceId": user["id"]}]
    shown = env.run_record(run["id"])
    assert [(e["situation"], e["action"], e["status"], e["changes"]) for e in shown["entries"]] == [
        ("CONFIRMED", "UPDATE", "SUCCESS", {"givenName": ["Sam", "Samantha"]})]

    # Nothing changed since: an incremental run writes no object and no link.
    before = env.store_rows()
    code, run = env.reconcile("--incremental")
    assert code == 0 and run["mode"] == "incremental"
    assert run["entries"] == 0 and run["actions"].get("UPDATE", 0) == 0 and run["failures"] == 0
    assert env.store_rows() == before
    assert env.run_record(run["id"])["entries"] == []


def test_second_full_run_writes_no_object_or_link(emulator: Any, idm: Any) -> None:
    env = idm(emulator, source_filter=None)
    code, first = env.reconcile()
    # Counts are per decided action, as in IDM: 33 CREATE decisions, 7 of them failed entries.
    assert code == 4 and first["actions"] == {"CREATE": 33} and first["failures"] == 7
    before = env.store_rows()
    assert len(before["alpha_user"]) == 26 and len(before["links"]) == 26

    code, second = env.reconcile()
    assert code == 4 and second["mode"] == "full"
    assert second["situations"] == {"CONFIRMED": 26, "ABSENT": 7}
    assert second["actions"] == {"UPDATE": 26, "CREATE": 7}  # UPDATE assessed equal: nothing to write
    assert env.store_rows() == before  # ids, revisions, properties and link timestamps alike
    # Only the accounts that still cannot be stored leave entries, as failures again.
    entries = env.run_record(second["id"])["entries"]
    assert {e["status"] for e in entries} == {"FAILURE"} and len(entries) == second["failures"] == 7


def test_dry_run_prints_the_plan_and_writes_nothing(emulator: Any, idm: Any, entra_admin: Any) -> None:
    env = idm(emulator)
    files = _files(env.db)
    result = env.cli("reconcile", "--env", "demo", "--mapping", "entra-users", "--dry-run")
    assert result.code == 0, result.text
    assert "nothing was written" in result.out
    assert "+ create scarter@" in result.out and "[ABSENT]" in result.out
    assert _files(env.db) == files
    assert env.json("runs", "list", "--env", "demo") == []

    code, run = env.reconcile()
    assert code == 0
    user = entra_admin.find("scarter@example.com")
    entra_admin.patch(user["id"], {"givenName": "Samantha"})
    files = _files(env.db)

    result = env.cli("reconcile", "--env", "demo", "--mapping", "entra-users", "--incremental", "--dry-run")
    assert result.code == 0, result.text
    assert "~ update scarter@" in result.out and "givenName: Sam -> Samantha" in result.out
    assert _files(env.db) == files

    code, planned = env.reconcile("--incremental", "--dry-run")
    assert code == 0 and planned["dryRun"] is True and planned["mode"] == "incremental"
    [item] = planned["plan"]
    assert (item["op"], item["action"], item["situation"]) == ("~", "UPDATE", "CONFIRMED")
    assert item["changes"] == {"givenName": ["Sam", "Samantha"]} and item["sourceId"] == user["id"]
    assert _files(env.db) == files
    assert [r["id"] for r in env.json("runs", "list", "--env", "demo")] == [run["id"]]
    [sam] = env.identities(SAM_FILTER)
    assert sam["givenName"] == "Sam"  # the dry run changed nothing; the real run then does
    code, run = env.reconcile("--incremental")
    assert code == 0 and run["actions"] == {"UPDATE": 1}


def test_expired_delta_link_falls_back_to_a_full_run(emulator: Any, idm: Any) -> None:
    env = idm(emulator)
    assert env.reconcile()[0] == 0
    sam = emulator.get_user(f"scarter@{emulator.domain}")
    emulator.update_user(sam["id"], {"surname": "Carter-Jones"})
    emulator.expire_delta_tokens()

    result = env.cli("reconcile", "--env", "demo", "--mapping", "entra-users", "--incremental")
    assert result.code == 0, result.text
    assert "Full run because the stored delta link has expired" in result.out
    [run] = env.json("runs", "list", "--env", "demo", "--limit", "1")
    assert run["mode"] == "full" and "expired" in run["fullBecause"] and "syncStateNotFound" in run["fullBecause"]
    assert run["actions"] == {"UPDATE": 1}
    assert env.identities(SAM_FILTER)[0]["sn"] == "Carter-Jones"

    # The full run stored a fresh delta link: the next incremental run is incremental again.
    code, again = env.reconcile("--incremental")
    assert code == 0 and again["mode"] == "incremental" and again["fullBecause"] is None
