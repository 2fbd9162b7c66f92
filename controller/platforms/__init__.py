"""Where configuration is applied and reconciliations run: the ``Platform`` protocol and its factory.

``embedded`` (idmctl's own engine and managed store) now; ``aic`` (a PingOne Advanced Identity Cloud
tenant) next. ``open_environment`` opens an environment's state backend and platform together.
"""

from controller.platforms._factory import OpenEnvironment, TenantFactory, open_environment, open_platform, open_tenant
from controller.platforms._protocol import (
    DEFAULT_LOCK_TIMEOUT,
    DEFAULT_PAGE,
    ApplyOptions,
    ApplyReport,
    CancelCheck,
    LivePlan,
    Page,
    Platform,
    ProgressFactory,
    ReconRequest,
    RunLogger,
)

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "DEFAULT_PAGE",
    "ApplyOptions",
    "ApplyReport",
    "CancelCheck",
    "LivePlan",
    "OpenEnvironment",
    "Page",
    "Platform",
    "ProgressFactory",
    "ReconRequest",
    "RunLogger",
    "TenantFactory",
    "open_environment",
    "open_platform",
    "open_tenant",
]
