"""The ``StateBackend`` contract: every backend passes these (parametrised in ``conftest.BACKENDS``)."""

from __future__ import annotations

import threading

import pytest

from controller.backends import PlatformObject, StateBackend
from controller.errors import LockHeldError, LockLost, StalePlanError, StateError, StateNotInitialized
from tests.backends.contract.conftest import OpenBackend

CONNECTOR = {"apiVersion": "idmctl/v1", "kind": "Connector", "name": "entra",
             "metadata": {"name": "entra"}, "spec": {"type": "microsoft-graph", "tenantId": "t", "clientId": "c",
                                                      "clientSecret": {"sensitive": True, "secret": "s",
                                                                       "fingerprint": None}}}
MAPPING = {"apiVersion": "idmctl/v1", "kind": "Mapping", "name": "entra-users",
           "metadata": {"name": "entra-users"}, "spec": {"target": "managed/alpha_user"}}


def test_a_new_state_exists_only_after_init(open_state: OpenBackend) -> None:
    state = open_state()
    assert not state.exists()
    assert state.init() is True
    assert state.exists()
    assert state.init() is False  # idempotent: nothing changed
    applied = state.read_applied()
    assert (applied.serial, applied.resources, applied.applied_at) == (0, {}, None)
    assert len(state.fingerprint_key) == 32
    assert open_state().fingerprint_key == state.fingerprint_key  # one key per state, shared by every handle


def test_reading_a_missing_state_says_to_init(open_state: OpenBackend) -> None:
    with pytest.raises(StateNotInitialized, match="idmctl init --env dev"):
        open_state().read_applied()


def test_writes_are_all_or_nothing_with_serial_and_lineage(backend: StateBackend) -> None:
    before = backend.read_applied()
    with backend.lock("apply", timeout=5) as lease:
        after = backend.write_applied({"Connector.entra": CONNECTOR, "Mapping.entra-users": MAPPING},
                                      expected_serial=0, expected_lineage=before.lineage, lease=lease,
                                      summary="2 to add", plan_hash="sha256:abc", git_commit="deadbeef")
    assert after.serial == 1 and after.lineage == before.lineage and after.applied_at
    assert after.resources == {"Connector.entra": CONNECTOR, "Mapping.entra-users": MAPPING}
    with backend.lock("apply", timeout=5) as lease:
        deleted = backend.write_applied({"Mapping.entra-users": None}, expected_serial=1,
                                        expected_lineage=before.lineage, lease=lease, summary="1 to destroy")
    assert deleted.serial == 2 and list(deleted.resources) == ["Connector.entra"]
    entry = backend.audit_log(1)[0]
    assert (entry.action, entry.serial, entry.summary) == ("apply", 2, "1 to destroy")
    assert entry.details["addresses"] == ["Mapping.entra-users"]


@pytest.mark.parametrize("serial,lineage,message", [
    (5, None, "serial 5"), (0, "another-lineage", "lineage another-lineage")])
def test_a_write_against_moved_state_is_refused(backend: StateBackend, serial: int, lineage: str | None,
                                                message: str) -> None:
    state = backend.read_applied()
    with backend.lock("apply", timeout=5) as lease, pytest.raises(StalePlanError, match=message):
        backend.write_applied({"Connector.entra": CONNECTOR}, expected_serial=serial,
                              expected_lineage=lineage or state.lineage, lease=lease, summary="x")
    assert backend.read_applied() == state
    assert backend.audit_log() == []


def test_one_holder_at_a_time_and_the_waiter_is_told(open_state: OpenBackend, backend: StateBackend) -> None:
    other = open_state()
    told: list[str] = []
    with backend.lock("apply (alice)", timeout=5) as lease:
        current = backend.current_lock()
        assert current is not None and current.lock_id == lease.lock_id
        with pytest.raises(LockHeldError, match="apply \\(alice\\)") as refused, \
                other.lock("apply (bob)", timeout=0.3, on_wait=lambda held: told.append(held.holder)):
            pass
        assert refused.value.lock_id == lease.lock_id and told == ["apply (alice)"]
    assert backend.current_lock() is None
    with other.lock("apply (bob)", timeout=5) as second:
        assert second.holder == "apply (bob)"


def test_a_waiter_gets_the_lock_when_the_holder_lets_go(open_state: OpenBackend, backend: StateBackend) -> None:
    other = open_state()
    got = threading.Event()

    def waiter() -> None:
        with other.lock("waiter", timeout=10):
            got.set()

    with backend.lock("holder", timeout=5):
        thread = threading.Thread(target=waiter)
        thread.start()
        assert not got.wait(0.3)
    thread.join(10)
    assert got.is_set()


def test_force_unlock_is_audited_and_fences_the_old_holder(open_state: OpenBackend, backend: StateBackend) -> None:
    other = open_state()
    state = backend.read_applied()
    with backend.lock("stalled apply", timeout=5) as lease:
        released = other.force_unlock(lease.lock_id, force=True)
        assert released.lock_id == lease.lock_id
        with other.lock("next apply", timeout=5):
            with pytest.raises(LockLost, match="nothing was written"):
                backend.write_applied({"Connector.entra": CONNECTOR}, expected_serial=0,
                                      expected_lineage=state.lineage, lease=lease, summary="late")
            with pytest.raises(LockLost):
                backend.audit("allow-deletes", "late", lease=lease)
    assert backend.read_applied().resources == {}
    assert [e.action for e in backend.audit_log()] == ["force-unlock"]


def test_force_unlock_of_an_unknown_lock_names_the_holder(backend: StateBackend) -> None:
    with backend.lock("holder", timeout=5), pytest.raises(StateError, match="held by holder"):
        backend.force_unlock("not-the-lock-id")


def test_the_audit_log_is_newest_first(backend: StateBackend) -> None:
    for n in range(3):
        backend.audit("allow-deletes", f"override {n}", details={"n": n})
    log = backend.audit_log()
    assert [e.summary for e in log] == ["override 2", "override 1", "override 0"]
    assert [e.details["n"] for e in backend.audit_log(2)] == [2, 1]
    assert all(e.user and e.host and e.time.endswith("Z") for e in log)


def test_force_unlock_refuses_a_holder_that_still_runs_here(open_state: OpenBackend, backend: StateBackend) -> None:
    other = open_state()
    with backend.lock("live apply", timeout=5) as lease:
        with pytest.raises(LockHeldError, match="still running on this host") as refused:
            other.force_unlock(lease.lock_id)
        assert "--force" in str(refused.value)
        current = other.current_lock()
        assert current is not None and current.lock_id == lease.lock_id  # nothing was unlocked
    assert backend.audit_log() == []


# --- what idmctl wrote to the platform ---------------------------------------------------------------

def _native(native_id: str, kind: str, body: dict[str, object]) -> PlatformObject:
    return PlatformObject(native_id, kind, "Connector.entra", f"sha256:{len(str(body))}", body,
                          "2026-12-01T00:00:00Z")


def test_platform_objects_are_recorded_replaced_and_deleted(open_state: OpenBackend, backend: StateBackend) -> None:
    assert backend.platform_objects() == {}
    variable = _native("esv-idmctl-entra-client-id", "variable",
                       {"_id": "esv-idmctl-entra-client-id", "expressionType": "string", "value": "c"})
    secret = _native("esv-idmctl-entra-client-secret", "secret",
                     {"_id": "esv-idmctl-entra-client-secret", "value": {"sensitive": True, "secret": "s",
                                                                        "fingerprint": "hmac-sha256:ab"}})
    with backend.lock("apply", timeout=5) as lease:
        backend.record_platform_objects({variable.id: variable}, lease=lease)
        backend.record_platform_objects({secret.id: secret}, lease=lease)  # one write confirmed at a time
        assert open_state().platform_objects() == {variable.id: variable, secret.id: secret}
        changed = _native(variable.id, "variable", {**variable.body, "value": "c2"})
        backend.record_platform_objects({variable.id: changed, secret.id: None}, lease=lease)
    assert open_state().platform_objects() == {variable.id: changed}
    assert backend.read_applied().serial == 0  # bookkeeping of the platform, not an apply of resources


def test_recording_platform_objects_is_fenced(open_state: OpenBackend, backend: StateBackend) -> None:
    obj = _native("schedule/entra-incremental", "schedule", {"_id": "schedule/entra-incremental"})
    with backend.lock("apply", timeout=5) as lease:
        open_state().force_unlock(lease.lock_id, force=True)
        with pytest.raises(LockLost):
            backend.record_platform_objects({obj.id: obj}, lease=lease)
    assert backend.platform_objects() == {}
