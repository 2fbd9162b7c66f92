"""Where configuration is applied and reconciliations run: the ``Platform`` protocol and its factory.

``embedded`` (idmctl's own engine and managed store) now; ``aic`` (a PingOne Advanced Identity Cloud
tenant) next. ``open_environment`` opens an environment's state backend and platform together.
"""

from __future__ import annotations

import typing

from controller import _lazy

if typing.TYPE_CHECKING:
    from controller.platforms._factory import (
        OpenEnvironment,
        TenantFactory,
        open_environment,
        open_platform,
        open_tenant,
    )
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

# Each name's module, imported on first use (PEP 562): a command's option defaults (DEFAULT_PAGE) do not
# load the factory, and through it the config loader and jsonschema, before the command runs.
__getattr__, __dir__ = _lazy.exports(__name__, {
    "_factory": ("OpenEnvironment", "TenantFactory", "open_environment", "open_platform", "open_tenant"),
    "_protocol": ("DEFAULT_LOCK_TIMEOUT", "DEFAULT_PAGE", "ApplyOptions", "ApplyReport", "CancelCheck", "LivePlan",
                  "Page", "Platform", "ProgressFactory", "ReconRequest", "RunLogger"),
})
