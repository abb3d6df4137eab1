"""Top-1 accuracy of any predict function on the MNIST test set the run has (full 10,000 or the embedded 1,000).

Images are converted one chunk at a time (``convert``), so a 100x100x3 model never holds the whole set.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from xbench import data as mnist

EVAL_BATCH = 1000


def top1(predict: Callable[[np.ndarray], object], x: np.ndarray, y: np.ndarray,
         convert: Callable[[np.ndarray], np.ndarray] = lambda xb: xb) -> float:
    """``predict``: a batch of ``convert(x[i:j])`` -> class scores (N, classes) as a host array."""
    correct = 0
    for i in range(0, len(x), EVAL_BATCH):
        scores = np.asarray(predict(convert(x[i:i + EVAL_BATCH])), dtype=np.float32)
        correct += int((scores.argmax(axis=1) == y[i:i + EVAL_BATCH]).sum())
    return correct / len(x)


def test_set_top1(predict: Callable[[np.ndarray], object], data: mnist.Mnist, input_shape) -> float:
    """``predict``: channels-last float32 images (N, H, W, C) in [0, 1] -> class scores."""
    return top1(predict, data.x_test, data.y_test.astype(np.int64), lambda xb: mnist.images(xb, input_shape))
