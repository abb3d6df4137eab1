"""Framework builders: one module per framework, discovered automatically.

Each module defines ``FRAMEWORK`` (the interface of
:class:`xbench.frameworks.base.Framework`) and imports its heavy library only
inside methods, so discovering frameworks (and ``xbench report``) stays light.
Adding a framework is adding one module here.
"""

from __future__ import annotations

from functools import cache

from xbench.frameworks.base import Framework
from xbench.plugins import discover, lookup


@cache
def registry() -> dict[str, Framework]:
    return discover(__name__, __path__, "FRAMEWORK")


def names() -> list[str]:
    return list(registry())


def get(name: str) -> Framework:
    return lookup(registry(), name, "framework")
