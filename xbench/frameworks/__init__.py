"""Framework builders: one module per framework, discovered automatically.

Each module defines ``FRAMEWORK`` (the interface of
:class:`xbench.frameworks.base.Framework`) and imports its heavy library only
inside methods, so discovering frameworks (and ``xbench report``) stays light.
Adding a framework is adding one module here.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from xbench.errors import UserError
from xbench.frameworks.base import Framework


@cache
def registry() -> dict[str, Framework]:
    found = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base":
            fw = importlib.import_module(f"{__name__}.{info.name}").FRAMEWORK
            found[fw.name] = fw
    return dict(sorted(found.items()))


def names() -> list[str]:
    return list(registry())


def get(name: str) -> Framework:
    try:
        return registry()[name]
    except KeyError:
        raise UserError(f"unknown framework {name!r}; valid: {', '.join(names())}") from None
