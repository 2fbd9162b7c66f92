"""Saved plans (``idmctl plan --out FILE``): a versioned JSON file that ``apply FILE`` applies exactly.

A plan file holds the plan, the environment, the state lineage and serial it was computed against and
the hash of the desired state, so a stale plan is refused. It holds no secret: only fingerprints.

Format 3 adds what a plan on a tenant carries: the platform, the native changes, the drift and the
hash of the live objects read (``live_hash``). A format 2 file (made before) is still read, as the
embedded plan it is; on the aic platform it is refused as stale, since it holds no live hash.
An embedded plan encodes exactly as in format 2, so its hash and signature are unchanged.

It is authenticated: ``signature`` is an HMAC of the file's content under a key only the environment's
state holds (derived from its fingerprint key), so anyone may recompute ``plan_hash`` but nobody without
the state can make an edited plan pass. ``apply`` checks the signature before anything else.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.errors import StalePlanError, UsageError
from controller.plan._model import AttributeDiff, ChangeAction, NativeChange, Plan, PlanChange, PlanWarning

__all__ = ["PLANFILE_FORMAT", "SavedPlan", "decode_plan", "encode_plan", "plan_hash", "read_plan_file",
           "sign_plan", "write_plan_file"]

PLANFILE_FORMAT = 3  # 2: signed with a key from the environment's state; 3: native changes, drift
_READABLE = (2, 3)
_KIND = "idmctl-plan"
_KEY_LABEL = b"idmctl plan file signature v1"  # the plan key is not the fingerprint key itself


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _diffs(diffs: tuple[AttributeDiff, ...]) -> list[dict[str, Any]]:
    return [{"path": d.path, "change": d.change, "before": d.before, "after": d.after, "sensitive": d.sensitive,
             "checked": d.checked, "forces_replacement": d.forces_replacement} for d in diffs]


def _native(change: NativeChange) -> dict[str, Any]:
    return {"id": change.id, "kind": change.kind, "address": change.address, "action": change.action.name,
            "before": change.before, "after": change.after, "diffs": _diffs(change.diffs),
            "restart_required": change.restart_required, "sensitive": change.sensitive}


def _decode_native(data: dict[str, Any]) -> NativeChange:
    return NativeChange(id=data["id"], kind=data["kind"], address=data["address"],
                        action=ChangeAction[data["action"]], before=data["before"], after=data["after"],
                        diffs=tuple(AttributeDiff(**d) for d in data["diffs"]),
                        restart_required=data["restart_required"], sensitive=data["sensitive"])


def encode_plan(plan: Plan) -> dict[str, Any]:
    """The plan as JSON-safe data, losslessly (``decode_plan`` reverses it).

    The platform's part appears only for a plan made on a platform other than embedded, so an
    embedded plan encodes (and hashes, and signs) exactly as format 2 did.
    """
    data = _encode_resources(plan)
    if plan.platform != "embedded" or plan.native or plan.drift or plan.live_hash is not None:
        data["platform"] = {"type": plan.platform, "live_hash": plan.live_hash,
                            "native": [_native(c) for c in plan.native], "drift": [_native(c) for c in plan.drift],
                            "pending_restart": list(plan.pending_restart)}
    return data


def _encode_resources(plan: Plan) -> dict[str, Any]:
    return {
        "environment": plan.environment,
        "applied_serial": plan.applied_serial,
        "applied_lineage": plan.applied_lineage,
        "desired_hash": plan.desired_hash,
        "unchecked_secrets": list(plan.unchecked_secrets),
        "changes": [
            {
                "address": c.address, "kind": c.kind, "name": c.name, "action": c.action.name,
                "before": c.before, "after": c.after,
                "diffs": _diffs(c.diffs),
            }
            for c in plan.changes
        ],
        "warnings": [
            {"address": w.address, "code": w.code, "message": w.message, "severity": w.severity}
            for w in plan.warnings
        ],
    }


def decode_plan(data: dict[str, Any]) -> Plan:
    platform = data.get("platform") or {"type": "embedded", "live_hash": None, "native": [], "drift": []}
    return Plan(
        environment=data["environment"],
        changes=tuple(
            PlanChange(
                address=c["address"], kind=c["kind"], name=c["name"], action=ChangeAction[c["action"]],
                before=c["before"], after=c["after"],
                diffs=tuple(AttributeDiff(**d) for d in c["diffs"]),
            )
            for c in data["changes"]
        ),
        warnings=tuple(PlanWarning(**w) for w in data["warnings"]),
        applied_serial=data["applied_serial"],
        applied_lineage=data["applied_lineage"],
        desired_hash=data["desired_hash"],
        unchecked_secrets=tuple(data["unchecked_secrets"]),
        platform=platform["type"],
        native=tuple(_decode_native(c) for c in platform["native"]),
        drift=tuple(_decode_native(c) for c in platform["drift"]),
        live_hash=platform["live_hash"],
        pending_restart=tuple(platform.get("pending_restart", ())),
    )


def plan_hash(plan: Plan) -> str:
    """A hash naming exactly this plan (recorded in the audit log)."""
    return "sha256:" + hashlib.sha256(_canonical(encode_plan(plan)).encode()).hexdigest()


def sign_plan(plan: Plan, state_key: bytes) -> str:
    """The plan's signature under the environment's state key (``hmac-sha256:...``)."""
    key = hmac.new(state_key, _KEY_LABEL, hashlib.sha256).digest()
    return "hmac-sha256:" + hmac.new(key, _canonical(encode_plan(plan)).encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SavedPlan:
    """A plan read from a file, not yet trusted: ``verify`` it with the state's key before applying it."""

    plan: Plan
    signature: str
    path: Path

    def verify(self, state_key: bytes) -> Plan:
        """The plan, when its signature is the state's; ``StalePlanError`` (tampered) otherwise."""
        if not hmac.compare_digest(sign_plan(self.plan, state_key), self.signature):
            raise StalePlanError(
                f"plan file {self.path} was changed after it was saved, or was made for another state: its "
                "signature does not match; nothing was applied",
                hint=f"Make the plan again with `idmctl plan --env {self.plan.environment} --out {self.path}` "
                "and review it")
        return self.plan


def write_plan_file(path: Path, plan: Plan, state_key: bytes) -> str:
    """Write ``plan`` to ``path`` atomically, signed with the state's key; returns the plan hash."""
    digest = plan_hash(plan)
    data = {
        "format_version": PLANFILE_FORMAT,
        "kind": _KIND,
        "environment": plan.environment,
        "state": {"lineage": plan.applied_lineage, "serial": plan.applied_serial},
        "desired_hash": plan.desired_hash,
        "plan_hash": digest,
        "signature": sign_plan(plan, state_key),
        "plan": encode_plan(plan),
    }
    if path.is_dir():
        raise UsageError(f"--out {path} is a folder", hint="Name a file to save the plan in, e.g. --out dev.plan")
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise UsageError(f"cannot save the plan to {path}: {exc.strerror or exc}",
                         hint="Pass --out a file in a folder you may write") from None
    return digest


def read_plan_file(path: Path) -> SavedPlan:
    """Read a plan file written by ``write_plan_file``; a clear error when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"plan file {path} does not exist",
                         hint="Save one with `idmctl plan --env E --out FILE`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path} is not an idmctl plan file ({exc.__class__.__name__})",
                         hint="Save one with `idmctl plan --env E --out FILE`") from None
    if not isinstance(data, dict) or data.get("kind") != _KIND:
        raise UsageError(f"{path} is not an idmctl plan file",
                         hint="Save one with `idmctl plan --env E --out FILE`")
    if data.get("format_version") not in _READABLE:
        raise UsageError(
            f"{path} has plan file format {data.get('format_version')!r}; this idmctl reads "
            f"{' and '.join(map(str, _READABLE))}",
            hint="Make the plan with the same idmctl version that applies it")
    try:
        plan = decode_plan(data["plan"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{path} is damaged: {exc.__class__.__name__} in its plan",
                         hint="Make the plan again with `idmctl plan --env E --out FILE`") from None
    if plan_hash(plan) != data.get("plan_hash"):
        raise UsageError(f"{path} was edited after it was saved (its plan hash does not match)",
                         hint="Make the plan again with `idmctl plan --env E --out FILE`")
    signature = data.get("signature")
    if not isinstance(signature, str):
        raise UsageError(f"{path} carries no signature",
                         hint="Make the plan again with `idmctl plan --env E --out FILE`")
    return SavedPlan(plan, signature, path)
