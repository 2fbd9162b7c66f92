"""A run uses the applied configuration and says when the working tree differs, for every applied resource."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from controller.emulator import Emulator

OTHER_TENANT = "3c9b2d1e-7a4f-4e8b-9c5d-2f1a0b8e7d6c"


def test_no_warning_when_the_working_tree_is_what_was_applied(emulator_session: Emulator,
                                                               idm: Callable[..., Any]) -> None:
    env = idm(emulator_session)
    result = env.cli("reconcile", "--env", "demo", "--mapping", "entra-users", "--dry-run")
    assert result.code == 0 and "working tree" not in result.err


def test_a_changed_tenant_in_the_files_is_said_and_the_applied_one_is_used(emulator: Emulator,
                                                                           idm: Callable[..., Any]) -> None:
    env = idm(emulator)
    env_file = env.root / "environments" / "demo" / "environment.yaml"
    env_file.write_text(env_file.read_text().replace(emulator.tenant_id, OTHER_TENANT))
    schedule = env.root / "environments" / "demo" / "schedule.yaml"
    schedule.write_text(schedule.read_text().replace('"0 0/15 * * * ?"', '"0 0/30 * * * ?"'))

    code, run = env.reconcile()
    assert code == 0 and run["state"] == "SUCCESS"  # the applied tenant answered
    warnings = run["warnings"]
    hint = "this run uses the applied configuration (`idmctl plan --env demo`, then apply, to change that)"
    assert f"connector 'entra' in the working tree differs from the applied one (changed: tenantId); {hint}" \
        in warnings
    assert f"environment 'demo' in the working tree differs from the applied one (changed: variables); {hint}" \
        in warnings
    assert ("the working tree differs from the applied configuration in Schedule.entra-incremental "
            f"(changed: cron); {hint}") in warnings
    text = env.cli("reconcile", "--env", "demo", "--mapping", "entra-users", "--dry-run").err
    assert "connector 'entra' in the working tree differs" in " ".join(text.split())
