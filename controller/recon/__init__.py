"""The reconciliation engine: IDM's situations and actions, property mapping, correlation, runs.

``run_reconciliation`` runs an applied mapping of an environment; ``reconcile`` is the engine itself
(a source, an identity store, a compiled mapping), which tests and benchmarks call directly.
"""

from controller.recon._correlation import Correlation
from controller.recon._engine import Progress, Source, reconcile
from controller.recon._mapping import CompiledMapping, Safety, compile_mapping
from controller.recon._policy import DEFAULT_ACTIONS, DESTRUCTIVE, SituationPolicy
from controller.recon._properties import PropertyMap, compile_transform
from controller.recon._records import (
    delete_identity,
    get_identity,
    list_runs,
    prune_runs,
    search_identities,
    show_run,
)
from controller.recon._run import PlanItem, ReconRun, RunState
from controller.recon._service import ConnectorFactory, applied_resources, run_reconciliation
from controller.recon._situations import deleted_source_situation, source_situation, target_situation

__all__ = [
    "DEFAULT_ACTIONS",
    "DESTRUCTIVE",
    "CompiledMapping",
    "ConnectorFactory",
    "Correlation",
    "PlanItem",
    "Progress",
    "PropertyMap",
    "ReconRun",
    "RunState",
    "Safety",
    "SituationPolicy",
    "Source",
    "applied_resources",
    "compile_mapping",
    "compile_transform",
    "delete_identity",
    "deleted_source_situation",
    "get_identity",
    "list_runs",
    "prune_runs",
    "reconcile",
    "run_reconciliation",
    "search_identities",
    "show_run",
    "source_situation",
    "target_situation",
]
