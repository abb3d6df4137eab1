"""Run by tests/test_keras_backends.py in a process of its own, with KERAS_BACKEND set (one backend per process):
the equivalence tests (tests/test_equivalence.py: forward, loss, one SGD step, one Adam step, the wrong-layout
check, the tuned variant) on the Keras framework named in argv[1], then its ONNX export with xbench.export's parity
check. Prints one JSON line: {"pytest": exit status, "outcomes": {test id: outcome}, "export": {...}}.
"""

import json
import sys
import tempfile
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


class Outcomes:
    def __init__(self):
        self.seen = {}

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or report.outcome != "passed":
            self.seen[report.nodeid.split("::", 1)[1]] = report.outcome


def main(name: str) -> dict:
    import os

    os.environ["XBENCH_EQUIVALENCE_KERAS"] = name
    outcomes = Outcomes()
    # PyTorch's own variants were proven in the main process; here only the Keras ones run.
    code = pytest.main([str(TESTS / "test_equivalence.py"), "-q", "-p", "no:cacheprovider", "-W", "ignore::UserWarning",
                        "-k", "not test_tuned_variants_compute_the_same_function or keras"], plugins=[outcomes])
    from xbench import data, frameworks
    from xbench.export import export
    from xbench.frameworks.base import ExportUnavailable
    from xbench.spec import load_spec

    fw, spec = frameworks.get(name), load_spec("seed_cnn")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            result = export(name, spec, Path(tmp) / "m.onnx", model=fw.build(spec, seed=7),
                            data=data.read_npz(data.EMBEDDED))
            exported = {"max_abs_diff": {str(b): d for b, d in result.max_abs_diff.items()},
                        "input_shape": result.input_shape, "opset": result.opset}
        except ExportUnavailable as exc:
            exported = {"unavailable": str(exc)}
        if name == "keras-jax":  # without its exporter, the suite counts FLOPs on torch's export of the same spec
            from xbench.bench.cases import Context

            sys.modules["jax2onnx"] = None
            try:
                exported["counted_without_exporter"] = Context(data.read_npz(data.EMBEDDED), Path(tmp)).counted_file(
                    name, spec).name
            finally:
                del sys.modules["jax2onnx"]
    return {"pytest": int(code), "outcomes": outcomes.seen, "export": exported}


if __name__ == "__main__":
    print("XBENCH-CHECKS " + json.dumps(main(sys.argv[1])))
