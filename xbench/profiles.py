"""Kept so that ``xbench.profiles`` still works: the module is :mod:`xbench.explain.profiles` (per-layer profiles)."""

import sys

from xbench.explain import profiles as _module

sys.modules[__name__] = _module
