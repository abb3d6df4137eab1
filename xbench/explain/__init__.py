"""Why is it slow? Everything `xbench explain` knows, in one package; the CLI command is a thin shell over it.

* :mod:`~xbench.explain.cost`: multiply-adds, element operations and bytes counted on an ONNX graph
  (compulsory traffic and layer-by-layer traffic of unfused execution);
* :mod:`~xbench.explain.roofline`: the machine's measured ceiling (fp32 matmul rate, copy bandwidth) and
  where one measured time sits under it;
* :mod:`~xbench.explain.profiles`: per-layer times (ONNX Runtime's profiler, torch.profiler, Keras);
* :mod:`~xbench.explain.fit`: fixed and per-sample cost, ``t = a + b * batch`` fitted over batch sizes;
* :mod:`~xbench.explain.verdict`: the verdict rules (fixed-cost-, compute-, memory-bound, below-roofline);
* :mod:`~xbench.explain.measure`: the harness: a measured thing from the one factory timed at several batch sizes;
* :mod:`~xbench.explain.analysis`: a spec model or an ONNX file measured, counted, profiled and judged;
* :mod:`~xbench.explain.story`: the report in words (the summary, each claim with its number) and as text;
* :mod:`~xbench.explain.results`: the fit and verdict for the records of a results file (no ML framework).

Importing this package imports no ML framework.
"""

from xbench.explain.analysis import RUNTIMES, explain_onnx, explain_spec, to_json
from xbench.explain.story import render

__all__ = ["RUNTIMES", "explain_onnx", "explain_spec", "render", "to_json"]
