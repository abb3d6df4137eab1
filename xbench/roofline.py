"""Kept so that ``xbench.roofline`` still works: the module is :mod:`xbench.explain.roofline` (the machine's ceiling and where a time sits under it)."""

import sys

from xbench.explain import roofline as _module

if __name__ == "__main__":  # python -m xbench.roofline
    _module.main()
else:
    sys.modules[__name__] = _module
