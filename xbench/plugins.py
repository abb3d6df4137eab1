"""Discovery of the one-module-per-entry packages (``xbench.frameworks``, ``xbench.runtimes``).

Each module of such a package defines one object under a known attribute name (``FRAMEWORK``, ``RUNTIME``) with
a ``name``; modules without it (shared bases) are passed over. Adding a framework or runtime is adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Iterable

from xbench.errors import UserError


def discover(package: str, path: Iterable[str], attr: str) -> dict[str, object]:
    """name -> the ``attr`` object of every module in the package, sorted by name."""
    found = {}
    for info in pkgutil.iter_modules(path):
        obj = getattr(importlib.import_module(f"{package}.{info.name}"), attr, None)
        if obj is not None:
            found[obj.name] = obj
    return dict(sorted(found.items()))


def lookup(found: dict[str, object], name: str, kind: str):
    """``found[name]``, or one clear error naming the valid ones."""
    try:
        return found[name]
    except KeyError:
        raise UserError(f"unknown {kind} {name!r}; valid: {', '.join(found)}") from None
