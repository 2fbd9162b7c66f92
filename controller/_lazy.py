"""A package's re-exports, imported on first use (PEP 562), so a command loads only what it touches.

``controller.commands``, ``controller.config`` and ``controller.platforms`` re-export the names of their
private modules; importing every module up front cost an `idmctl runs list` about 0.4 s of CPU for
machinery it never calls (plans, the aic platform, the config loader for a command that needs an enum).
Each package keeps the real imports under ``TYPE_CHECKING`` (the contract for mypy and readers) and
hands the same names, by module, to ``exports``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["exports"]


def exports(package: str, homes: Mapping[str, Sequence[str]]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, whose module ``.home`` defines each of ``homes[home]``."""
    module_of = {name: home for home, names in homes.items() for name in names}

    def __getattr__(name: str) -> Any:
        home = module_of.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        setattr(sys.modules[package], name, value)  # the next access is a plain lookup
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *module_of})

    return __getattr__, __dir__
