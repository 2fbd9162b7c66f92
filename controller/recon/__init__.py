"""The reconciliation engine: IDM's situations and actions, property mapping, correlation, runs.

``run_reconciliation`` runs an applied mapping of an environment (the embedded platform calls it);
``reconcile`` is the engine itself (a source, a ``Store``, a compiled mapping), which tests and
benchmarks call directly; ``RunRecorder`` writes a run's record around it.
"""

from controller.recon._correlation import Correlation
from controller.recon._engine import CancelCheck, Progress, Source, cancel_check, reconcile
from controller.recon._mapping import CompiledMapping, Safety, compile_mapping
from controller.recon._policy import DEFAULT_ACTIONS, DESTRUCTIVE, SituationPolicy
from controller.recon._properties import PropertyMap, compile_transform
from controller.recon._records import OverrideAudit, RunRecorder
from controller.recon._run import PlanItem, ReconRun
from controller.recon._safety import safety_block
from controller.recon._service import ConnectorFactory, applied_resources, override_audit, run_reconciliation
from controller.recon._situations import deleted_source_situation, source_situation, target_situation

__all__ = [
    "DEFAULT_ACTIONS",
    "DESTRUCTIVE",
    "CancelCheck",
    "CompiledMapping",
    "ConnectorFactory",
    "Correlation",
    "OverrideAudit",
    "PlanItem",
    "Progress",
    "PropertyMap",
    "ReconRun",
    "RunRecorder",
    "Safety",
    "SituationPolicy",
    "Source",
    "applied_resources",
    "cancel_check",
    "compile_mapping",
    "compile_transform",
    "deleted_source_situation",
    "override_audit",
    "reconcile",
    "run_reconciliation",
    "safety_block",
    "source_situation",
    "target_situation",
]
