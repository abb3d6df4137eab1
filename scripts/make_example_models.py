"""Write the "Benchmark your own model" examples into a folder: a Keras CNN with BatchNorm and Dropout (what the
specs in models/ cannot express), trained a few steps on the embedded MNIST subset, and that subset as the data
file a user model reads (``x_train, y_train, x_test, y_test``, float32 NHWC in [0, 1]); a small PyTorch residual
CNN (``resnet.py:build``, untrained) and the same subset in its layout (``mnist_nchw.npz``).

    python scripts/make_example_models.py OUT_DIR [--steps N] [--lambda-file]

``--lambda-file`` also writes ``lambda.keras``, a model with a Python ``Lambda`` layer that safe mode refuses.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def mnist_npz(out: Path) -> Path:
    from xbench.data import EMBEDDED, read_npz

    data = read_npz(EMBEDDED)

    def images(x):  # (N, 28, 28) uint8 -> (N, 28, 28, 1) float32 in [0, 1]
        return (x.astype(np.float32) / 255.0)[..., None]

    path = out / "mnist.npz"
    np.savez(path, x_train=images(data.x_train), y_train=data.y_train.astype(np.int64),
             x_test=images(data.x_test), y_test=data.y_test.astype(np.int64))
    return path


def keras_cnn(out: Path, data: Path, steps: int) -> Path:
    import keras

    keras.utils.set_random_seed(0)
    L = keras.layers
    model = keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(16, 3, activation="relu"), L.BatchNormalization(momentum=0.9),
                              L.MaxPooling2D(2), L.Conv2D(32, 3, activation="relu"), L.BatchNormalization(momentum=0.9),
                              L.MaxPooling2D(2), L.Flatten(), L.Dropout(0.3), L.Dense(10, activation="softmax")],
                             name="bn_dropout_cnn")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    with np.load(data) as d:
        x, y = d["x_train"], d["y_train"]
    for i in range(steps):  # train split only
        j = (i * 64) % len(x)
        model.train_on_batch(x[j:j + 64], y[j:j + 64])
    path = out / "cnn.keras"
    model.save(path)
    return path


RESNET = '''"""A small residual CNN for MNIST: what the specs in models/ cannot express (a skip connection)."""
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(y)))


def build():
    """Logits for 10 classes from (N, 1, 28, 28) images; xbench reads ``input_shape`` (C, H, W)."""
    net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), Block(16), nn.MaxPool2d(2), Block(16),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(16, 10))
    net.input_shape = (1, 28, 28)
    return net
'''


def torch_resnet(out: Path, data: Path) -> tuple[Path, Path]:
    """``resnet.py`` (``build`` returns the module) and the data in its NCHW layout."""
    path = out / "resnet.py"
    path.write_text(RESNET)
    with np.load(data) as d:
        arrays = {k: (v.transpose(0, 3, 1, 2) if v.ndim == 4 else v) for k, v in d.items()}
    nchw = out / "mnist_nchw.npz"
    np.savez(nchw, **arrays)
    return path, nchw


def lambda_keras(out: Path) -> Path:
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Lambda(lambda t: t * 2.0),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    path = out / "lambda.keras"
    model.save(path)
    return path


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--steps", type=int, default=60, help="Adam steps at batch 64 on the train split (default: 60)")
    ap.add_argument("--lambda-file", action="store_true", help="also write lambda.keras (refused by safe mode)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    data = mnist_npz(args.out)
    written = [data, keras_cnn(args.out, data, args.steps), *torch_resnet(args.out, data)]
    if args.lambda_file:
        written.append(lambda_keras(args.out))
    print("\n".join(str(p) for p in written))


if __name__ == "__main__":
    main()
