"""idmctl: a GitOps controller for identity provisioning.

Configuration as code for an identity platform's authoritative sources (Microsoft Entra ID first):
validate, plan, apply and promote YAML resources, and run IDM-style reconciliations into a managed
identity store. The command line is `idmctl` (`python -m controller`); the library surface is the
subpackages' ``__all__``.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
