"""A local PingOne Advanced Identity Cloud tenant over HTTPS, for the demo and tests (`idmctl emulator aic`).

``AicEmulator`` serves AM's service-account token endpoint, ``/openidm/config``, managed objects,
``/openidm/system`` (the MS Graph connector, which really calls the Graph it is pointed at), the
``/environment`` ESV API with its restart, and the sync engine (``/openidm/recon``, liveSync, links,
``/openidm/scheduler`` with schedules that fire), following the recorded AIC traffic in the reference.
"""

from controller.emulator.aic._auth import DEFAULT_SCOPES, DEFAULT_SERVICE_ACCOUNT_ID, private_jwk
from controller.emulator.aic._emulator import (
    APP_OWNER,
    DEFAULT_AIC_PORT,
    DEFAULT_AIC_STATE_DIR,
    AicEmulator,
    serve_aic,
)
from controller.emulator.aic._faults import AicFault
from controller.emulator.aic._query import QueryError, compile_filter

__all__ = [
    "APP_OWNER",
    "DEFAULT_AIC_PORT",
    "DEFAULT_AIC_STATE_DIR",
    "DEFAULT_SCOPES",
    "DEFAULT_SERVICE_ACCOUNT_ID",
    "AicEmulator",
    "AicFault",
    "QueryError",
    "compile_filter",
    "private_jwk",
    "serve_aic",
]
