"""compute_plan: actions, attribute paths, replacements, secrets and the warnings a reviewer must see."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from controller.plan import ChangeAction, apply_changes, compute_plan

FIXTURES = Path(__file__).parent / "fixtures"


def load(scenario: str) -> tuple[dict[str, Any], dict[str, Any]]:
    applied = json.loads((FIXTURES / scenario / "applied.json").read_text())
    desired = json.loads((FIXTURES / scenario / "desired.json").read_text())
    return applied, desired


def by_address(plan):  # type: ignore[no-untyped-def]
    return {c.address: c for c in plan.changes}


def test_first_plan_creates_every_resource() -> None:
    applied, desired = load("first-apply")
    plan = compute_plan(desired, applied)
    assert {c.action for c in plan.changes} == {ChangeAction.CREATE}
    assert [c.address for c in plan.changes] == [
        "Environment.dev", "Connector.entra", "Application.microsoft-entra-id", "Mapping.entra-users",
        "Schedule.entra-incremental"]
    assert (plan.to_add, plan.to_change, plan.to_destroy) == (5, 0, 0)


def test_same_state_is_no_change() -> None:
    _, desired = load("first-apply")
    plan = compute_plan(desired, copy.deepcopy(desired))
    assert not plan.has_changes
    assert all(c.action is ChangeAction.NOOP and not c.diffs for c in plan.changes)


def test_mapping_edit_is_an_update_at_the_exact_path() -> None:
    applied, desired = load("update-mapping")
    change = by_address(compute_plan(desired, applied))["Mapping.entra-users"]
    assert change.action is ChangeAction.UPDATE
    diffs = {d.path: d for d in change.diffs}
    assert diffs["/spec/properties/1/target"].change == "changed"
    assert (diffs["/spec/properties/1/target"].before, diffs["/spec/properties/1/target"].after) == ("mail", "email")
    assert diffs["/spec/properties/4"].change == "added"
    assert diffs["/spec/policies/rules/SOURCE_MISSING"].after == "DELETE"


def test_changed_secret_fingerprint_is_one_sensitive_diff() -> None:
    applied, desired = load("update-mapping")
    change = by_address(compute_plan(desired, applied))["Connector.entra"]
    secret = next(d for d in change.diffs if d.path == "/spec/clientSecret")
    assert secret.sensitive and secret.checked and secret.change == "changed"
    assert not any(d.path.startswith("/spec/clientSecret/") for d in change.diffs)


def test_unavailable_secret_is_not_a_change_and_keeps_the_applied_fingerprint() -> None:
    applied, desired = load("secret-not-checked")
    plan = compute_plan(desired, applied)
    assert not plan.has_changes
    assert plan.unchecked_secrets == ("entra_client_secret",)
    assert not plan.secrets_checked
    # another change in the same resource: the fingerprint written is still the applied one
    desired["Connector.entra"]["spec"]["pageSize"] = 100
    change = by_address(compute_plan(desired, applied))["Connector.entra"]
    assert [d.path for d in change.diffs] == ["/spec/pageSize"]
    assert change.after["spec"]["clientSecret"] == applied["Connector.entra"]["spec"]["clientSecret"]


def test_unchecked_secret_under_another_name_is_a_change_shown_not_checked() -> None:
    applied, desired = load("secret-not-checked")
    desired["Connector.entra"]["spec"]["clientSecret"]["secret"] = "entra_client_secret_v2"
    diff = by_address(compute_plan(desired, applied))["Connector.entra"].diffs[0]
    assert diff.sensitive and not diff.checked and diff.path == "/spec/clientSecret"


def test_identity_field_change_is_a_replacement() -> None:
    applied, desired = load("replace-mapping")
    plan = compute_plan(desired, applied)
    change = by_address(plan)["Mapping.entra-users"]
    assert change.action is ChangeAction.REPLACE
    assert change.action.actions == ("delete", "create")
    assert [d.path for d in change.diffs if d.forces_replacement] == ["/spec/target"]
    assert (plan.to_add, plan.to_destroy) == (1, 1)
    codes = {(w.address, w.code) for w in plan.warnings}
    assert ("Mapping.entra-users", "links-dropped") in codes
    assert ("Schedule.entra-incremental", "full-run") in codes


def test_source_object_type_and_connector_type_force_replacement() -> None:
    _, base = load("first-apply")
    desired = copy.deepcopy(base)
    desired["Mapping.entra-users"]["spec"]["source"]["objectType"] = "Group"
    desired["Connector.entra"]["spec"]["type"] = "ldap"
    changes = by_address(compute_plan(desired, base))
    assert changes["Mapping.entra-users"].action is ChangeAction.REPLACE
    assert changes["Connector.entra"].action is ChangeAction.REPLACE


def test_mapping_change_that_forces_a_full_run_is_warned() -> None:
    _, base = load("first-apply")
    desired = copy.deepcopy(base)
    desired["Mapping.entra-users"]["spec"]["sourceFilter"] = None
    plan = compute_plan(desired, base)
    [warning] = plan.warnings
    assert warning.code == "full-run" and "source filter" in warning.message
    # a change of a property's target only does not select anything new: no warning
    desired = copy.deepcopy(base)
    desired["Mapping.entra-users"]["spec"]["properties"][2]["target"] = "surname"
    assert compute_plan(desired, base).warnings == ()


def test_removed_mapping_warns_that_links_are_dropped_naming_its_schedule() -> None:
    _, base = load("first-apply")
    desired = copy.deepcopy(base)
    del desired["Mapping.entra-users"]
    del desired["Schedule.entra-incremental"]
    plan = compute_plan(desired, base)
    [warning] = [w for w in plan.warnings if w.address == "Mapping.entra-users"]
    assert warning.code == "links-dropped"
    assert "Schedule.entra-incremental" in warning.message and "renamedFrom: entra-users" in warning.message


def test_renamed_mapping_carries_links_and_schedule_left_behind_is_warned() -> None:
    applied, desired = load("rename-mapping")
    plan = compute_plan(desired, applied)
    codes = {(w.address, w.code, w.severity) for w in plan.warnings}
    assert ("Mapping.entra-users", "links-carried", "info") in codes
    assert not any(code == "links-dropped" for _, code, _ in codes)
    desired["Schedule.entra-incremental"]["spec"]["mapping"] = "entra-users"
    plan = compute_plan(desired, applied)
    assert ("Schedule.entra-incremental", "schedule-orphaned") in {(w.address, w.code) for w in plan.warnings}


def test_renamed_from_a_mapping_that_does_not_exist_is_warned() -> None:
    _, base = load("first-apply")
    desired = copy.deepcopy(base)
    desired["Mapping.entra-users"]["spec"]["renamedFrom"] = "old-users"
    new = copy.deepcopy(desired["Mapping.entra-users"])
    new["name"] = new["metadata"]["name"] = "more-users"
    desired["Mapping.more-users"] = new
    codes = {(w.address, w.code) for w in compute_plan(desired, base).warnings}
    assert ("Mapping.more-users", "rename-source-missing") in codes


def test_apply_changes_yields_desired() -> None:
    for scenario in ("first-apply", "update-mapping", "rename-mapping", "replace-mapping"):
        applied, desired = load(scenario)
        assert apply_changes(applied, compute_plan(desired, applied)) == desired
