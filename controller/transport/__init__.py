"""The HTTP transport idmctl's REST clients share: the Graph connector and the AIC platform's client.

One requests session per client, TLS trust pinned on every request (a configured CA bundle wins over
``REQUESTS_CA_BUNDLE``), connect/read timeouts, and one retry loop for throttling and dropped
connections within a single bounded total wait, ``Retry-After`` first. What a client's errors say is
the client's own business: it subclasses ``Transport`` and builds them in ``tls_error`` and
``connection_error``.
"""

from controller.transport._transport import (
    DEFAULT_CONNECT_TIMEOUT,
    RetryPolicy,
    Timeouts,
    Transport,
    host_of,
    is_unreachable,
    one_line,
    parse_retry_after,
    redact,
    short_reason,
    where,
)

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "RetryPolicy",
    "Timeouts",
    "Transport",
    "host_of",
    "is_unreachable",
    "one_line",
    "parse_retry_after",
    "redact",
    "short_reason",
    "where",
]
