"""Plan files round-trip exactly and refuse tampering; JSON and Markdown views hide secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.errors import StalePlanError, UsageError
from controller.plan import (
    FORMAT_VERSION,
    compute_plan,
    plan_hash,
    plan_to_json_data,
    read_plan_file,
    render_json,
    render_markdown,
    write_plan_file,
)
from controller.plan.planfile import PLANFILE_FORMAT, decode_plan

FIXTURES = Path(__file__).parent / "fixtures"


KEY = bytes(range(32))  # a state's fingerprint key, as `init` makes one


def plan_of(scenario: str):  # type: ignore[no-untyped-def]
    applied = json.loads((FIXTURES / scenario / "applied.json").read_text())
    desired = json.loads((FIXTURES / scenario / "desired.json").read_text())
    return compute_plan(desired, applied, applied_serial=7, applied_lineage="lin", desired_hash="sha256:d",
                        environment="dev")


@pytest.mark.parametrize("scenario", ["update-mapping", "rename-mapping", "replace-mapping", "first-apply"])
def test_plan_file_round_trips_exactly(tmp_path: Path, scenario: str) -> None:
    plan = plan_of(scenario)
    digest = write_plan_file(tmp_path / "p.json", plan, KEY)
    again = read_plan_file(tmp_path / "p.json").verify(KEY)
    assert again == plan
    assert plan_hash(again) == digest
    data = json.loads((tmp_path / "p.json").read_text())
    assert data["format_version"] == PLANFILE_FORMAT == 3 and data["environment"] == "dev"
    assert data["signature"].startswith("hmac-sha256:") and KEY.hex() not in json.dumps(data)
    assert data["state"] == {"lineage": "lin", "serial": 7} and data["desired_hash"] == "sha256:d"


def test_edited_or_foreign_plan_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    write_plan_file(path, plan_of("update-mapping"), KEY)
    path.write_text(path.read_text().replace('"email"', '"e-mail"'))
    with pytest.raises(UsageError, match="edited after it was saved"):
        read_plan_file(path)
    path.write_text("{}")
    with pytest.raises(UsageError, match="not an idmctl plan file"):
        read_plan_file(path)
    with pytest.raises(UsageError, match="does not exist"):
        read_plan_file(tmp_path / "missing.json")


def test_a_plan_edited_with_a_recomputed_hash_fails_its_signature(tmp_path: Path) -> None:
    """plan_hash is a plain SHA-256 anyone can recompute; the signature needs the state's key."""
    path = tmp_path / "p.json"
    write_plan_file(path, plan_of("update-mapping"), KEY)
    data = json.loads(path.read_text())
    data["plan"]["changes"][0]["after"]["spec"]["tampered"] = True
    data["plan_hash"] = plan_hash(decode_plan(data["plan"]))
    path.write_text(json.dumps(data))
    saved = read_plan_file(path)  # well formed, and its hash matches...
    with pytest.raises(StalePlanError, match="signature does not match"):
        saved.verify(KEY)  # ...but it is not what was signed
    write_plan_file(path, plan_of("update-mapping"), KEY)
    with pytest.raises(StalePlanError, match="made for another state"):
        read_plan_file(path).verify(b"k" * 32)


def test_json_view_is_documented_shape_without_fingerprints() -> None:
    data = plan_to_json_data(plan_of("update-mapping"))
    assert data["format_version"] == FORMAT_VERSION
    assert data["summary"] == {"add": 0, "change": 2, "destroy": 0,
                               "tenant": {"create": 0, "update": 0, "delete": 0, "restart": False}}
    assert (data["platform"], data["native"], data["drift"], data["live_hash"]) == ("embedded", [], [], None)
    connector = next(c for c in data["changes"] if c["address"] == "Connector.entra")
    assert connector["actions"] == ["update"]
    assert connector["after"]["spec"]["clientSecret"] == {
        "sensitive": True, "secret": "entra_client_secret", "checked": True}
    assert "hmac-sha256" not in render_json(plan_of("update-mapping"))
    mapping = next(c for c in data["changes"] if c["address"] == "Mapping.entra-users")
    assert {"path": "/spec/properties/1/target", "change": "changed", "before": "mail", "after": "email",
            "sensitive": False, "checked": True, "forces_replacement": False} in mapping["diffs"]
    replaced = plan_to_json_data(plan_of("replace-mapping"))["changes"][0]
    assert replaced["action"] == "replace" and replaced["actions"] == ["delete", "create"]


def test_markdown_view_for_a_pull_request() -> None:
    md = render_markdown(plan_of("replace-mapping"))
    assert md.startswith("### idmctl plan for `dev`")
    assert "**Plan: 1 to add, 0 to change, 1 to destroy.**" in md
    assert "| `-/+` | `Mapping.entra-users` | replace | `/spec/target` |" in md
    assert "> [!WARNING]" in md and "drops its links" in md
    assert "```diff" in md and "hmac-sha256" not in md
    assert "(sensitive, not checked)" in render_markdown(plan_of("secret-not-checked"))


def test_a_format_2_plan_file_is_read_as_the_embedded_plan_it_is(tmp_path: Path) -> None:
    """Format 3 adds the tenant's part; an embedded plan encodes as in format 2, so old files still verify."""
    path = tmp_path / "old.plan"
    plan = plan_of("update-mapping")
    write_plan_file(path, plan, KEY)
    data = json.loads(path.read_text())
    assert "platform" not in data["plan"]  # nothing new in an embedded plan's encoding
    data["format_version"] = 2
    path.write_text(json.dumps(data))
    again = read_plan_file(path).verify(KEY)
    assert again == plan and again.platform == "embedded" and again.native == () and again.live_hash is None
    data["format_version"] = 1
    path.write_text(json.dumps(data))
    with pytest.raises(UsageError, match="has plan file format 1; this idmctl reads 2 and 3"):
        read_plan_file(path)
