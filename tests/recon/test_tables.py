"""IDM's situation tables, default policies and transforms as pure functions."""

from __future__ import annotations

import pytest

from controller.config.models import Action, MapTransform, PolicySpec, Situation
from controller.recon import (
    DEFAULT_ACTIONS,
    SituationPolicy,
    compile_transform,
    deleted_source_situation,
    source_situation,
    target_situation,
)

S = Situation


@pytest.mark.parametrize(("valid", "linked", "exists", "hits", "hit_linked", "expected"), [
    (True, True, True, None, False, S.CONFIRMED),
    (True, True, False, None, False, S.MISSING),
    (True, False, False, None, False, S.ABSENT),
    (True, False, False, [], False, S.ABSENT),
    (True, False, False, ["t1"], False, S.FOUND),
    (True, False, False, ["t1"], True, S.FOUND_ALREADY_LINKED),
    (True, False, False, ["t1", "t2"], False, S.AMBIGUOUS),
    (False, True, True, None, False, S.UNQUALIFIED),
    (False, False, False, None, False, S.SOURCE_IGNORED),
    (False, False, False, ["t1"], False, S.UNQUALIFIED),
    (False, False, False, ["t1", "t2"], False, S.UNQUALIFIED),
])
def test_source_table(valid, linked, exists, hits, hit_linked, expected) -> None:
    assert source_situation(valid=valid, linked=linked, target_exists=exists, hits=hits,
                            hit_linked=hit_linked) is expected


@pytest.mark.parametrize(("kw", "expected"), [
    ({"linked": True, "target_exists": True}, S.SOURCE_MISSING),
    ({"linked": True, "target_exists": True, "target_valid": False}, S.TARGET_IGNORED),
    ({"linked": True, "target_exists": False}, S.LINK_ONLY),
    ({"linked": False, "target_exists": False}, S.ALL_GONE),
    ({"linked": False, "target_exists": False, "old_source_valid": True, "hits": []}, S.ALL_GONE),
    ({"linked": False, "target_exists": False, "old_source_valid": True, "hits": ["t"]}, S.UNASSIGNED),
    ({"linked": False, "target_exists": False, "old_source_valid": False, "hits": ["t"]}, S.TARGET_IGNORED),
    ({"linked": False, "target_exists": False, "old_source_valid": True, "hits": ["a", "b"]}, S.AMBIGUOUS),
    ({"linked": False, "target_exists": False, "old_source_valid": False, "hits": ["a", "b"]}, S.UNQUALIFIED),
])
def test_deleted_source_table(kw, expected) -> None:
    assert deleted_source_situation(**kw) is expected


@pytest.mark.parametrize(("kw", "expected"), [
    ({"target_valid": False, "linked": True, "source_exists": True}, S.TARGET_IGNORED),
    ({"target_valid": True, "linked": False, "source_exists": False}, S.UNASSIGNED),
    ({"target_valid": True, "linked": True, "source_exists": False}, S.SOURCE_MISSING),
    ({"target_valid": True, "linked": True, "source_exists": True, "source_valid": False}, S.UNQUALIFIED),
    ({"target_valid": True, "linked": True, "source_exists": True}, S.CONFIRMED),
])
def test_target_table(kw, expected) -> None:
    assert target_situation(**kw) is expected


def test_engine_defaults_are_idms() -> None:
    assert DEFAULT_ACTIONS[S.LINK_ONLY] is Action.EXCEPTION
    assert DEFAULT_ACTIONS[S.UNQUALIFIED] is Action.DELETE
    assert DEFAULT_ACTIONS[S.ALL_GONE] is Action.NOREPORT
    assert DEFAULT_ACTIONS[S.SOURCE_IGNORED] is Action.REPORT
    assert set(DEFAULT_ACTIONS) == set(Situation)
    ro = SituationPolicy("read-only", {"CONFIRMED": "UPDATE"})
    assert ro.action(S.CONFIRMED) is Action.UPDATE and ro.action(S.ABSENT) is Action.ASYNC
    linkonly_unlink = SituationPolicy.from_spec(PolicySpec(rules={S.LINK_ONLY: Action.UNLINK}))
    assert linkonly_unlink.action(S.LINK_ONLY) is Action.UNLINK


def test_transforms() -> None:
    status = compile_transform(MapTransform(map={"true": "active", "false": "inactive"}, default="unknown"))
    assert status(True) == "active" and status(False) == "inactive" and status("maybe") == "unknown"
    assert compile_transform(["trim", "lower"])("  SCarter@Contoso.COM ") == "scarter@contoso.com"
    assert compile_transform("upper")(42) == 42
    with pytest.raises(ValueError, match="unknown transform"):
        compile_transform("title")  # type: ignore[arg-type]  # not a transform name: the point of the test
