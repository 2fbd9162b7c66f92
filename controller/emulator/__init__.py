"""A local Microsoft Entra login + Microsoft Graph v1.0 server over HTTPS, for the demo, tests and benchmarks.

``Emulator`` serves msal's client-credentials flow and Graph's users API (list, get, delta, writes) with
Microsoft's wire formats and errors, its own CA, fault injection and up to millions of generated users.
"""

from controller.emulator._control import Control
from controller.emulator._emulator import (
    ADMIN_TOKEN_HEADER,
    DEFAULT_CLIENT_ID,
    DEFAULT_DOMAIN,
    DEFAULT_TENANT_ID,
    SAM_CARTER,
    Emulator,
    load_users_file,
    serve,
)
from controller.emulator._faults import Fault
from controller.emulator._graph import READ_ROLES, WRITE_ROLES

__all__ = [
    "ADMIN_TOKEN_HEADER",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_DOMAIN",
    "DEFAULT_TENANT_ID",
    "READ_ROLES",
    "SAM_CARTER",
    "WRITE_ROLES",
    "Control",
    "Emulator",
    "Fault",
    "load_users_file",
    "serve",
]
