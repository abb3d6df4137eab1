"""Every number xbench prints: times, rates, percentages, intervals, counts, sizes, in one place.

One function per kind of quantity. Where two outputs print one quantity differently on purpose, the difference is
a parameter, not a second function: the report's tables keep trailing zeros and print whole milliseconds from
100 ms (``TABLE``), ``explain`` steps down to µs under 1 ms (``down_to="µs"``), ``compare`` prints four digits
(``digits=4``), the command-line tables three decimals (``decimals=3``). Imports nothing.
"""

from __future__ import annotations

# (name, multiplier from seconds, smallest time printed in it); the multiplier multiplies, so that the digits are
# the ones ``seconds * 1e3`` has always given
_UNITS = (("s", 1, 1.0), ("ms", 1e3, 1e-3), ("µs", 1e6, 1e-6), ("ns", 1e9, 1e-9))

TABLE = {"zeros": True, "whole_from": 100}  # the report's times: 1.20 ms, 12.0 ms, 1,234 ms


def number(x: float, *, digits: int = 3, zeros: bool = False, decimals: int | None = None,
           whole_from: float | None = None) -> str:
    """``digits`` significant digits (``zeros``: trailing zeros kept, 1.20 not 1.2); ``decimals``: that many
    decimals instead; ``whole_from``: from this value on, whole with thousands separators (1,234)."""
    if decimals is not None:
        return f"{x:.{decimals}f}"
    if whole_from is not None and x >= whole_from:
        return f"{x:,.0f}"
    return f"{x:#.{digits}g}" if zeros else f"{x:.{digits}g}"


def duration(seconds: float | None, *, unit: str = "ms", down_to: str | None = None, show_unit: bool = True,
             none: str = "—", **style) -> str:
    """A time given in seconds, in ``unit``; with ``down_to`` ("µs", "ns"), a time under one ``unit`` steps
    down to the next unit until ``down_to``. ``style``: ``number``'s options. None is ``none``."""
    if seconds is None:
        return none
    i = next(k for k, (name, _, _) in enumerate(_UNITS) if name == unit)
    stop = next(k for k, (name, _, _) in enumerate(_UNITS) if name == down_to) if down_to else i
    while i < stop and abs(seconds) < _UNITS[i][2]:
        i += 1
    name, multiplier, _ = _UNITS[i]
    text = number(seconds * multiplier, **style)
    return f"{text} {name}" if show_unit else text


def rate(per_s: float | None, *, whole_from: float | None = 10, none: str = "?", **style) -> str:
    """Per second: 1,234/s, 5.67/s (``style``: ``number``'s options)."""
    if per_s is None:
        return none
    return f"{number(per_s, whole_from=whole_from, **style)}/s"


def percent(x: float | None, *, digits: int = 0, signed: bool = False, none: str = "—") -> str:
    """A fraction as a percentage: 0.05 -> 5% (``signed``: +5%)."""
    if x is None:
        return none
    return f"{x:{'+' if signed else ''}.{digits}%}"


def p_value(p: float | None, *, none: str = "—") -> str:
    """A p-value with two significant digits; one that underflowed to 0 as <1e-300."""
    if p is None:
        return none
    return "<1e-300" if p == 0 else f"{p:.2g}"


def interval(low: float, high: float, *, of=duration, sep: str = "–", **options) -> str:
    """Two ends printed alike by ``of`` (``duration``, ``percent``...) with its ``options``, joined by ``sep``."""
    return f"{of(low, **options)}{sep}{of(high, **options)}"


def human(n: float, unit: str = "") -> str:
    """A count with an SI prefix: 1.23 GFLOP, 456 kMAC."""
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.3g} {suffix}{unit}".rstrip()
    if isinstance(n, float) and not float(n).is_integer():
        return f"{n:.3g} {unit}".rstrip()
    return f"{int(n)} {unit}".rstrip()


def human_bytes(n: float) -> str:
    """A size in binary units: 1.5 MiB."""
    for div, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= div:
            return f"{n / div:.3g} {suffix}"
    return f"{int(n)} B"


def value(v) -> str:
    """Any recorded value (the environment's settings): floats with one decimal, dicts and lists spelled out."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.1f}"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {value(x)}" for k, x in v.items())
    if isinstance(v, list):
        return "; ".join(value(x) for x in v) or "none"
    return str(v)
