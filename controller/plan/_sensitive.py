"""Secret references in canonical state (``{"sensitive": true, "secret", "fingerprint"}``) and masking them.

Canonical state never holds a secret value, only a keyed fingerprint; renderers still show neither.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["SENSITIVE", "SENSITIVE_UNCHECKED", "is_sensitive", "mask", "secret_refs", "sensitive_label"]

SENSITIVE = "(sensitive)"
SENSITIVE_UNCHECKED = "(sensitive, not checked)"


def is_sensitive(node: Any) -> bool:
    return isinstance(node, dict) and node.get("sensitive") is True and "secret" in node


def sensitive_label(node: dict[str, Any]) -> str:
    return SENSITIVE if node.get("fingerprint") else SENSITIVE_UNCHECKED


def secret_refs(node: Any) -> Iterator[dict[str, Any]]:
    """Every secret reference inside ``node``."""
    if is_sensitive(node):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from secret_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from secret_refs(value)


def mask(node: Any) -> Any:
    """``node`` with each secret reference replaced by ``{"sensitive": true, "secret", "checked"}``.

    Fingerprints stay in state and plan files; what people and PR bots read says only which secret
    and whether it could be checked.
    """
    if is_sensitive(node):
        return {"sensitive": True, "secret": node["secret"], "checked": node.get("fingerprint") is not None}
    if isinstance(node, dict):
        return {k: mask(v) for k, v in node.items()}
    if isinstance(node, list):
        return [mask(v) for v in node]
    return node
