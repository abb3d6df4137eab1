"""One optimizer step (forward, loss, backward, Adam update, loss to host) on a real MNIST batch."""

TASK = "train_step"


def test_train_step(xbench_bench, case):
    xbench_bench.run(case)
