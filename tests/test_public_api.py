"""Each package's ``__all__`` is exactly its public surface, in one order (httpx's check, ruff's order).

A public name is one without a leading underscore that the package defines or re-exports from its
own (private) modules: each must be listed. Names imported from elsewhere (typing, another package)
may be listed as deliberate re-exports; submodules are never names. The order is ruff's RUF022
isort-style order: CONSTANTS, then Classes, then everything else.
"""

from __future__ import annotations
import __future__ as future_module

import importlib
import pkgutil
import re
import sys
import types

import pytest

import controller


def _packages() -> list[str]:
    found = ["controller"]
    found += [m.name for m in pkgutil.walk_packages(controller.__path__, "controller.") if m.ispkg]
    return sorted(found)


PACKAGES = _packages()


def _isort_key(name: str) -> tuple[int, tuple[object, ...]]:
    if len(name) > 1 and name.upper() == name and name.lower() != name:
        category = 0  # SCREAMING_SNAKE_CASE constants
    elif name[:1].isupper():
        category = 1  # CamelCase classes
    else:
        category = 2
    natural = tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))
    return category, natural


def _public_names(module: types.ModuleType) -> tuple[set[str], set[str]]:
    """(names the package defines, in itself or its modules; public names it imports from elsewhere)."""
    package = module.__name__
    own: set[str] = set()
    imported: set[str] = set()
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(value, types.ModuleType | future_module._Feature):
            continue
        origin = getattr(value, "__module__", None)
        outside = isinstance(origin, str) and origin != package and not origin.startswith(package + ".")
        if outside and getattr(sys.modules.get(origin), name, None) is value:
            imported.add(name)  # typing, other packages: for its own use, or deliberately re-exported
        else:
            own.add(name)
    return own, imported


def test_packages_are_found() -> None:
    assert {"controller", "controller.cli", "controller.config"} <= set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_the_public_surface(package: str) -> None:
    module = importlib.import_module(package)
    exported = getattr(module, "__all__", None)
    if exported is None:
        pytest.skip(f"{package} has no __all__ yet")
    missing = [name for name in exported if not hasattr(module, name)]
    assert not missing, f"{package}.__all__ lists names that do not exist: {missing}"
    assert len(set(exported)) == len(exported), f"{package}.__all__ repeats a name"
    public = [name for name in exported if not name.startswith("_")]  # __version__ and friends may be listed
    own, imported = _public_names(module)
    assert sorted(own - set(public)) == [], f"{package} defines public names that __all__ does not list"
    assert sorted(set(public) - own - imported) == []  # nothing else (a submodule is not a name)
    assert public == sorted(public, key=_isort_key), f"{package}.__all__ is not in ruff's RUF022 order"


def test_isort_key_matches_ruff_order() -> None:
    names = ["parse_cron", "KINDS", "Action", "API_VERSION", "item10", "item2", "ResourceSet", "X"]
    assert sorted(names, key=_isort_key) == [
        "API_VERSION", "KINDS", "Action", "ResourceSet", "X", "item2", "item10", "parse_cron",
    ]
