"""Kept so that ``xbench.cost`` still works: the module is :mod:`xbench.explain.cost` (op counting on ONNX graphs)."""

import sys

from xbench.explain import cost as _module

sys.modules[__name__] = _module
