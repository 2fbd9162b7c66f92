"""Property tests of the diff: applying a plan's changes to the applied state yields the desired state."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.plan import ChangeAction, apply_changes, compute_plan, resolve_pointer
from controller.plan._sensitive import is_sensitive

KINDS = ("Environment", "Connector", "Application", "Mapping", "Schedule")
NAMES = ("dev", "entra", "entra-users", "hr", "x/y~z")  # "/" and "~" exercise JSON pointer escaping
KEYS = st.sampled_from(["source", "target", "type", "mail", "a/b", "t~1", "properties", "rules", "0"])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(["", "mail", "sn", "managed/alpha_user"]),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)


def secrets(checked: bool) -> st.SearchStrategy[dict[str, Any]]:
    fingerprints = st.sampled_from(["hmac-sha256:aa", "hmac-sha256:bb"])
    if not checked:
        fingerprints = st.one_of(fingerprints, st.none())
    return st.fixed_dictionaries({"sensitive": st.just(True), "secret": st.sampled_from(["s1", "s2"]),
                                  "fingerprint": fingerprints})


def values(checked: bool) -> st.SearchStrategy[Any]:
    return st.recursive(
        st.one_of(scalars, secrets(checked)),
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
        max_leaves=12,
    )


def resource_sets(checked: bool = True) -> st.SearchStrategy[dict[str, dict[str, Any]]]:
    def build(entries: dict[tuple[str, str], Any]) -> dict[str, dict[str, Any]]:
        return {f"{k}.{n}": {"apiVersion": "idmctl/v1", "kind": k, "name": n, "spec": spec}
                for (k, n), spec in entries.items()}

    key = st.tuples(st.sampled_from(KINDS), st.sampled_from(NAMES))
    return st.dictionaries(key, st.dictionaries(KEYS, values(checked), max_size=5), max_size=6).map(build)


def strip_fingerprints(node: Any) -> Any:
    if is_sensitive(node):
        return {"sensitive": True, "secret": node["secret"]}
    if isinstance(node, dict):
        return {k: strip_fingerprints(v) for k, v in node.items()}
    if isinstance(node, list):
        return [strip_fingerprints(v) for v in node]
    return node


@settings(max_examples=150, deadline=None)
@given(resource_sets(), resource_sets())
def test_applying_the_plan_yields_the_desired_state(applied: dict, desired: dict) -> None:  # type: ignore[type-arg]
    plan = compute_plan(desired, applied)
    assert apply_changes(applied, plan) == desired
    assert plan.has_changes == (applied != desired)
    assert compute_plan(desired, apply_changes(applied, plan)).has_changes is False


@settings(max_examples=150, deadline=None)
@given(resource_sets(), resource_sets())
def test_every_diff_points_at_its_values(applied: dict, desired: dict) -> None:  # type: ignore[type-arg]
    for change in compute_plan(desired, applied).changes:
        assert (change.action is ChangeAction.NOOP) == (not change.diffs)
        before = change.before or {}
        after = change.after or {}
        for diff in change.diffs:
            if diff.change in ("changed", "removed"):
                assert resolve_pointer(before, diff.path) == diff.before
            if diff.change in ("changed", "added"):
                assert resolve_pointer(after, diff.path) == diff.after
            if diff.sensitive:
                assert is_sensitive(diff.before) or is_sensitive(diff.after)


@settings(max_examples=100, deadline=None)
@given(resource_sets(checked=False), resource_sets(checked=False))
def test_unchecked_secrets_never_change_anything_by_themselves(applied: dict, desired: dict) -> None:  # type: ignore[type-arg]
    result = apply_changes(applied, compute_plan(desired, applied))
    assert strip_fingerprints(result) == strip_fingerprints(desired)
    # planning again from the same files over the result: settled
    assert not compute_plan(desired, result).has_changes
