"""One forward pass to probabilities on a real MNIST test batch: native frameworks and ONNX Runtime."""

TASK = "inference"


def test_inference(xbench_bench, case):
    xbench_bench.run(case)
