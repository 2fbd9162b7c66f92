"""Golden tests of the text renderer: tests/plan/fixtures/<scenario>/{applied,desired}.json -> expected.txt.

Regenerate after an intended change with ``IDMCTL_UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from controller.plan import (
    DRIFT_HEADING,
    Plan,
    compute_plan,
    native_change,
    plan_to_json_data,
    read_plan_file,
    render_markdown,
    render_text,
    write_plan_file,
)

FIXTURES = Path(__file__).parent / "fixtures"
SCENARIOS = sorted(p.name for p in FIXTURES.iterdir() if (p / "desired.json").is_file())


def plan_of(scenario: str) -> Plan:
    applied = json.loads((FIXTURES / scenario / "applied.json").read_text())
    desired = json.loads((FIXTURES / scenario / "desired.json").read_text())
    return compute_plan(desired, applied, applied_serial=4, applied_lineage="lineage-1",
                        desired_hash="sha256:0", environment="dev")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_text_rendering_matches_golden_file(scenario: str) -> None:
    rendered = render_text(plan_of(scenario))
    expected = FIXTURES / scenario / "expected.txt"
    if os.environ.get("IDMCTL_UPDATE_GOLDEN") == "1":
        expected.write_text(rendered)
    assert rendered == expected.read_text()


def test_colour_only_when_asked() -> None:
    plan = plan_of("update-mapping")
    assert "\x1b[" not in render_text(plan)
    coloured = render_text(plan, colour=True)
    assert "\x1b[33m" in coloured
    assert render_text(plan) == __import__("re").sub(r"\x1b\[[0-9;]*m", "", coloured)


# --- a plan on a tenant: the drift section, the resource changes, the tenant changes --------------------


def tenant_plan() -> Plan:
    """tests/plan/fixtures/tenant-drift/native.json as the plan the aic platform makes of it."""
    data = json.loads((FIXTURES / "tenant-drift" / "native.json").read_text())
    native, drift = [], []
    for native_id in data["desired"]:
        kind, address = data["kinds"][native_id]
        change = native_change(native_id, kind, address, data["live"].get(native_id), data["desired"][native_id],
                               restart_required=kind in ("variable", "secret"))
        if change is not None:
            native.append(change)
    for native_id, recorded in data["recorded"].items():
        kind, address = data["kinds"][native_id]
        change = native_change(native_id, kind, address, recorded, data["live"].get(native_id))
        if change is not None:
            drift.append(change)
    return dataclasses.replace(plan_of("update-mapping"), platform="aic", native=tuple(native), drift=tuple(drift),
                               live_hash="sha256:live")


@pytest.mark.parametrize("fmt", ["txt", "md"])
def test_tenant_sections_match_golden_files(fmt: str) -> None:
    plan = tenant_plan()
    rendered = render_text(plan) if fmt == "txt" else render_markdown(plan)
    expected = FIXTURES / "tenant-drift" / f"expected.{fmt}"
    if os.environ.get("IDMCTL_UPDATE_GOLDEN") == "1":
        expected.write_text(rendered)
    assert rendered == expected.read_text()
    drift_at, resources_at, tenant_at = (rendered.index(DRIFT_HEADING), rendered.index("Connector.entra"),
                                         rendered.index("esv-idmctl-entra-client-id"))
    assert drift_at < resources_at < tenant_at  # drift first, then the resources, then the tenant
    assert "hmac-sha256" not in rendered


def test_tenant_sections_in_json_and_plan_files(tmp_path: Path) -> None:
    plan = tenant_plan()
    data = plan_to_json_data(plan)
    assert data["platform"] == "aic" and data["live_hash"] == "sha256:live"
    assert data["summary"]["tenant"] == {"create": 1, "update": 3, "delete": 0, "restart": True}
    secret = next(c for c in data["native"] if c["id"] == "esv-idmctl-entra-client-secret")
    assert secret["sensitive"] and secret["restart_required"] and secret["action"] == "update"
    assert secret["after"]["value"] == {"sensitive": True, "secret": "entra_client_secret", "checked": True}
    [drifted] = data["drift"]
    assert drifted["id"] == "mapping/systemEntraUser_managedAlpha_user"
    assert {d["path"] for d in drifted["diffs"]} == {"/properties/0/target", "/runTargetPhase"}
    assert "hmac-sha256" not in json.dumps(data)
    write_plan_file(tmp_path / "p.json", plan, b"k" * 32)
    assert read_plan_file(tmp_path / "p.json").verify(b"k" * 32) == plan  # format 3 round-trips the tenant part
