"""The aic platform's plan and apply against an in-memory tenant with AIC's semantics (``fake_tenant.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller import commands
from controller.errors import PlatformError, RestartError, StalePlanError, UsageError
from controller.plan import (
    DRIFT_HEADING,
    ChangeAction,
    plan_hash,
    plan_to_json_data,
    render_markdown,
    render_text,
    sign_plan,
)
from controller.plan.planfile import decode_plan
from controller.platforms import ApplyOptions
from tests.conftest import STATE_SECRET
from tests.platforms.aic.conftest import SA_KEY_MARK, AicHarness

MAPPING = "mapping/systemEntraUser_managedAlpha_user"
CONNECTOR = "provisioner.openicf/Entra"
SCHEDULE = "schedule/entra-incremental"
TENANT_ID, CLIENT_ID, CLIENT_SECRET = (f"esv-idmctl-entra-{w}" for w in ("tenant-id", "client-id", "client-secret"))
ESVS = [TENANT_ID, CLIENT_ID, CLIENT_SECRET]


def _writes(aic: AicHarness) -> list[str]:
    return [c for c in aic.tenant.calls if c.split(" ")[0] in ("PUT", "POST", "DELETE")]


def _application_id(aic: AicHarness) -> str:
    return next(i for i in aic.tenant.managed if i.startswith("alpha_application/"))


def test_first_apply_writes_in_the_safe_order_and_a_second_plan_has_no_changes(aic: AicHarness) -> None:
    plan = aic.plan()
    assert plan.platform == "aic" and plan.live_hash and plan.drift == ()
    assert [(c.kind, c.action) for c in plan.native] == [
        ("variable", ChangeAction.CREATE), ("variable", ChangeAction.CREATE), ("secret", ChangeAction.CREATE),
        ("connector", ChangeAction.CREATE), ("mapping", ChangeAction.CREATE), ("application", ChangeAction.CREATE),
        ("schedule", ChangeAction.CREATE)]
    assert all(c.restart_required == (c.kind in ("variable", "secret")) for c in plan.native)
    result = aic.apply()
    assert result.applied and result.platform.restarted and result.platform.pending == ()
    assert result.platform.connector_tests == (("Entra", "Connected"),)
    app = _application_id(aic)
    assert _writes(aic) == [
        f"PUT /environment/variables/{TENANT_ID}", f"PUT /environment/variables/{CLIENT_ID}",
        f"PUT /environment/secrets/{CLIENT_SECRET}", "POST /environment/startup?_action=restart",
        f"PUT /openidm/config/{CONNECTOR}?waitForCompletion=true", "POST /openidm/system/Entra?_action=test",
        f"PUT /openidm/config/{MAPPING}?waitForCompletion=true", f"PUT /openidm/managed/{app} If-None-Match: *",
        f"PUT /openidm/config/{SCHEDULE}?waitForCompletion=true"]
    assert aic.tenant.secret_values[CLIENT_SECRET] == [STATE_SECRET]  # read from its source for the write only
    owners = aic.tenant.managed[app]["owners"]
    assert owners == [{"_ref": "managed/alpha_user/9b1c6a2e-5d4f-4e3a-8b7c-1f2e3d4c5b6a", "_refProperties": {}}]
    backend = aic.backend()
    try:
        recorded = backend.platform_objects()
        assert sorted(recorded) == sorted([*ESVS, CONNECTOR, MAPPING, f"managed/{app}", SCHEDULE])
        entry = backend.audit_log(1)[0]
        assert entry.details["tenant"]["written"] == [c.id for c in plan.native]  # native ids, never values
        assert result.state.serial == 1
    finally:
        backend.close()
    again = aic.plan()
    assert not again.has_changes and again.native == () and again.drift == () and again.pending_restart == ()
    assert "No changes. Environment 'dev' and its tenant matches" in render_text(again)


def test_an_edit_on_the_tenant_shows_as_drift_and_apply_restores_it(aic: AicHarness) -> None:
    aic.apply()
    aic.tenant.edit_as_person(MAPPING, lambda body: body["properties"][0].update(target="cn"))
    aic.tenant.edit_as_person(f"managed/{_application_id(aic)}", lambda body: body.update(description="mine now"))
    plan = aic.plan()
    assert not plan.has_resource_changes and plan.has_changes
    drift = {c.id: c for c in plan.drift}
    assert set(drift) == {MAPPING, f"managed/{_application_id(aic)}"}
    target = "/properties/0/target"
    assert [(d.path, d.before, d.after) for d in drift[MAPPING].diffs] == [(target, "givenName", "cn")]
    restore = {c.id: c for c in plan.native}
    assert [(d.path, d.before, d.after) for d in restore[MAPPING].diffs] == [(target, "cn", "givenName")]
    text = render_text(plan)
    assert text.index(DRIFT_HEADING) < text.index("idmctl will make the following changes on the tenant")
    assert "mine now" in render_markdown(plan) and plan_to_json_data(plan)["drift"][0]["id"]
    result = aic.apply()
    assert result.applied and not result.platform.restarted  # no ESV changed: no restart
    assert aic.tenant.config[MAPPING]["properties"][0]["target"] == "givenName"
    assert not aic.plan().has_changes


def test_a_saved_plan_is_stale_after_the_tenant_changed(aic: AicHarness, tmp_path: Path) -> None:
    aic.apply()
    aic.edit_environment("entra_client_id: 0a1b2c3d-1111-4222-8333-444455556666",
                         "entra_client_id: 11111111-2222-4333-8444-555555555555")
    saved = tmp_path / "dev.plan"
    aic.plan(out=saved)
    aic.tenant.edit_as_person(SCHEDULE, lambda body: body.update(enabled=False))
    with pytest.raises(StalePlanError, match="the objects on the tenant changed since it was made"):
        aic.apply(saved)
    assert aic.tenant.variables[CLIENT_ID]["valueBase64"] != "MTExMTExMTEtMjIyMi00MzMzLTg0NDQtNTU1NTU1NTU1NTU1"
    fresh = tmp_path / "fresh.plan"
    aic.plan(out=fresh)
    assert aic.apply(fresh).applied  # made again, it applies exactly
    assert not aic.plan().has_changes


def test_a_lost_write_is_detected_retried_and_converges(aic: AicHarness) -> None:
    aic.tenant.lose_writes[MAPPING] = 2
    with aic.platform() as (platform, backend), backend.lock("apply", 5) as lease:
        report = platform.apply(aic.live_plan(platform, backend), aic.resources, lease)
    assert MAPPING in report.written and MAPPING in aic.tenant.config
    assert aic.tenant.calls.count(f"PUT /openidm/config/{MAPPING}?waitForCompletion=true") == 3
    assert aic.clock.sleeps == [0.5, 1.0]  # 0.5 s * 2^n between attempts, on the injected clock


def test_a_write_the_tenant_never_keeps_fails_and_the_state_records_what_was_applied(aic: AicHarness) -> None:
    aic.tenant.lose_writes[MAPPING] = 99
    with aic.platform() as (platform, backend), backend.lock("apply", 5) as lease:
        with pytest.raises(PlatformError, match=f"the tenant did not keep the write of {MAPPING}: after 5 attempts"):
            platform.apply(aic.live_plan(platform, backend), aic.resources, lease)
        assert sorted(backend.platform_objects()) == sorted([*ESVS, CONNECTOR])
    assert aic.clock.sleeps == [0.5, 1.0, 2.0, 4.0]
    aic.tenant.lose_writes.clear()
    assert aic.apply().applied and not aic.plan().has_changes  # a rerun converges


def test_a_mapping_of_the_same_name_in_sync_is_refused(aic: AicHarness) -> None:
    aic.tenant.config["sync"]["mappings"] = [{"name": "systemEntraUser_managedAlpha_user",
                                              "source": "system/Entra/User", "target": "managed/alpha_user"}]
    with pytest.raises(PlatformError, match="IDM would run both, and idmctl never rewrites sync") as refused:
        aic.plan()
    assert "Remove 'systemEntraUser_managedAlpha_user' from sync" in str(refused.value.hint)
    assert "spec.aic.name" in str(refused.value.hint)
    assert _writes(aic) == []


@pytest.mark.parametrize("native_id", [SCHEDULE, CLIENT_ID])
def test_a_foreign_object_at_a_desired_id_is_refused(aic: AicHarness, native_id: str) -> None:
    if native_id == SCHEDULE:
        aic.tenant.config[SCHEDULE] = {"_id": SCHEDULE, "enabled": True, "schedule": "0 0 * * * ?"}
    else:
        aic.tenant.put_variable(CLIENT_ID, value="someone else's", description="theirs", expression_type="string")
    with pytest.raises(PlatformError, match=f"{native_id} already exists .* idmctl did not write it") as refused:
        aic.apply()
    assert "idmctl import --env dev" in str(refused.value.hint) and "pin another name" in str(refused.value.hint)
    assert [c for c in _writes(aic) if "variables" not in c] == []


def test_removed_resources_delete_only_what_idmctl_recorded(aic: AicHarness) -> None:
    aic.apply()
    aic.tenant.config["schedule/nightly-export"] = {"_id": "schedule/nightly-export", "enabled": True}
    (aic.root / "environments" / "dev" / "schedule.yaml").unlink()
    plan = aic.plan()
    assert [(c.id, c.action) for c in plan.native] == [(SCHEDULE, ChangeAction.DELETE)]
    result = aic.apply()
    assert result.platform.deleted == (SCHEDULE,)
    assert SCHEDULE not in aic.tenant.config and "schedule/nightly-export" in aic.tenant.config
    backend = aic.backend()
    try:
        assert SCHEDULE not in backend.platform_objects()
    finally:
        backend.close()
    assert not aic.plan().has_changes


def test_an_esv_change_restarts_the_tenant(aic: AicHarness) -> None:
    aic.apply()
    aic.edit_environment("entra_client_id: 0a1b2c3d-1111-4222-8333-444455556666",
                         "entra_client_id: 11111111-2222-4333-8444-555555555555")
    plan = aic.plan()
    [change] = plan.native
    assert (change.id, change.restart_required) == (CLIENT_ID, True)
    assert [(d.path, d.after) for d in change.diffs] == [("/value", "11111111-2222-4333-8444-555555555555")]
    assert "restart required" in render_text(plan)
    result = aic.apply()
    assert result.platform.restarted and aic.tenant.restarts == 2 and aic.tenant.pending() == []


def test_a_rotated_client_secret_is_a_new_version_shown_as_sensitive(aic: AicHarness,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    aic.apply()
    monkeypatch.setenv("ENTRA_CLIENT_SECRET", "R0tated-S3cret-V4lue-2b9d")
    plan = aic.plan()
    secret = next(c for c in plan.native if c.id == CLIENT_SECRET)
    assert secret.sensitive and secret.action is ChangeAction.UPDATE
    assert "/value: (sensitive)" in render_text(plan)
    aic.apply()
    assert aic.tenant.secret_values[CLIENT_SECRET] == [STATE_SECRET, "R0tated-S3cret-V4lue-2b9d"]
    assert aic.tenant.secrets[CLIENT_SECRET]["loadedVersion"] == "2"
    assert not aic.plan().has_changes


def test_a_restart_already_running_is_refused_before_anything_is_written(aic: AicHarness) -> None:
    aic.tenant.restart_reads = None
    aic.tenant.restart()  # someone else's restart, which does not end during this test
    with pytest.raises(RestartError, match="a restart of .* is already running"):
        aic.apply()
    assert _writes(aic) == ["POST /environment/startup?_action=restart"]  # theirs: nothing of apply's


def test_a_restart_that_never_finishes_times_out_on_the_clock(aic: AicHarness) -> None:
    aic.tenant.restart_reads = None
    progress: list[str] = []
    with aic.platform() as (platform, backend), backend.lock("apply", 5) as lease:
        started = aic.clock.now
        with pytest.raises(RestartError, match="did not reach ready within 900s"):
            platform.apply(aic.live_plan(platform, backend), aic.resources, lease,
                           ApplyOptions(progress=progress.append))
        assert sorted(backend.platform_objects()) == sorted(ESVS)  # the ESVs were written and recorded
    assert aic.clock.now - started >= 900
    assert aic.clock.sleeps[:5] == [0.5, 1.0, 2.0, 4.0, 5.0] and max(aic.clock.sleeps) == 5.0
    assert progress[0].startswith("Restarting https://openam-acme-dev.forgeblocks.com")
    assert CONNECTOR not in aic.tenant.config


def test_no_restart_leaves_the_esvs_pending_and_says_so(aic: AicHarness) -> None:
    result = aic.apply(restart=False)
    assert result.applied and not result.platform.restarted and aic.tenant.restarts == 0
    assert sorted(result.platform.pending) == sorted(ESVS)
    [(connector, verdict)] = result.platform.connector_tests
    assert connector == "Entra" and verdict.startswith("skipped: 3 ESV(s) are pending a restart")
    plan = aic.plan()
    assert plan.native == () and plan.has_changes and sorted(plan.pending_restart) == sorted(ESVS)
    assert "has not loaded" in render_text(plan)
    again = aic.apply()
    assert again.platform.restarted and again.platform.connector_tests == (("Entra", "Connected"),)
    assert not aic.plan().has_changes


def test_a_failed_connector_test_stops_apply_and_a_rerun_converges(aic: AicHarness) -> None:
    aic.tenant.connector_error = "AADSTS7000215: Invalid client secret provided"
    with pytest.raises(PlatformError, match="connector Entra .* failed its test: AADSTS7000215") as failed:
        aic.apply()
    assert "nothing after it" in str(failed.value)
    assert MAPPING not in aic.tenant.config and SCHEDULE not in aic.tenant.config
    backend = aic.backend()
    try:
        assert sorted(backend.platform_objects()) == sorted([*ESVS, CONNECTOR])  # exactly what was applied
        assert backend.read_applied().serial == 0
        assert backend.audit_log(1)[0].action == "apply-failed"
        assert backend.audit_log(1)[0].details["written"] == [TENANT_ID, CLIENT_ID, CLIENT_SECRET, CONNECTOR]
    finally:
        backend.close()
    aic.tenant.connector_error = None
    plan = aic.plan()
    assert [c.kind for c in plan.native] == ["mapping", "application", "schedule"]
    assert aic.apply().applied and not aic.plan().has_changes


def test_an_owner_missing_on_the_tenant_is_a_clear_error(aic: AicHarness) -> None:
    aic.tenant.managed.clear()
    with pytest.raises(UsageError, match="owner 'app-owner' matches no managed/alpha_user on https://"):
        aic.plan()


def test_validate_stays_offline_on_aic(aic: AicHarness) -> None:
    report = commands.validate(aic.root, "dev")
    assert not [d for d in report.diagnostics if d.severity == "error"]
    assert any("not checked offline" in d.message for d in report.diagnostics)
    assert aic.connects == 0 and aic.tenant.calls == []


def test_the_scheduler_loop_on_aic_says_the_tenant_fires_them(aic: AicHarness) -> None:
    with pytest.raises(UsageError, match="the tenant, which fires them itself"):
        commands.serve_schedules(aic.root, "dev", once=True)
    assert aic.tenant.calls == []  # without reaching the tenant (nor reading its key)


def test_no_secret_or_key_in_any_plan_plan_file_state_or_output(aic: AicHarness, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    saved = tmp_path / "dev.plan"
    plan = aic.plan(out=saved)
    result = aic.apply(saved)
    monkeypatch.setenv("ENTRA_CLIENT_SECRET", "R0tated-S3cret-V4lue-2b9d")
    rotated = aic.plan(out=tmp_path / "rotated.plan")
    aic.apply(tmp_path / "rotated.plan")
    outputs = [render_text(p) + render_markdown(p) + json.dumps(plan_to_json_data(p)) for p in (plan, rotated)]
    outputs += [saved.read_text(), (tmp_path / "rotated.plan").read_text(), aic.state_text(),
                json.dumps(result.platform.to_dict()),
                json.dumps([e.to_dict() for e in commands.audit_list(aic.root, "dev")])]
    for text in outputs:
        for value in (STATE_SECRET, "R0tated-S3cret-V4lue-2b9d", SA_KEY_MARK):
            assert value not in text


def test_a_client_secret_not_available_where_the_plan_runs_is_not_a_change(aic: AicHarness,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    aic.apply()
    monkeypatch.delenv("ENTRA_CLIENT_SECRET")
    plan = aic.plan()
    assert plan.native == () and plan.unchecked_secrets == ("entra_client_secret",)


def test_a_plan_file_without_the_tenant_part_is_refused_on_aic(aic: AicHarness, tmp_path: Path) -> None:
    """A format 2 plan (made before the aic platform) holds no live hash: on aic it is stale, never applied."""
    saved = tmp_path / "dev.plan"
    aic.plan(out=saved)
    data = json.loads(saved.read_text())
    del data["plan"]["platform"]
    old = decode_plan(data["plan"])  # the embedded plan such a file holds, signed with this state's key
    backend = aic.backend()
    try:
        data.update(format_version=2, plan_hash=plan_hash(old), signature=sign_plan(old, backend.fingerprint_key))
    finally:
        backend.close()
    saved.write_text(json.dumps(data))
    with pytest.raises(StalePlanError, match="was made for the embedded platform, but 'dev' is now on aic"):
        aic.apply(saved)
    assert _writes(aic) == []
