"""One epoch on the embedded 5,000-image MNIST subset, as the seed article's reader runs it: Keras
``model.fit`` (defaults, and ``steps_per_execution``) and a plain PyTorch ``DataLoader`` loop."""

TASK = "train_epoch"


def test_train_epoch(xbench_bench, case):
    xbench_bench.run(case)
