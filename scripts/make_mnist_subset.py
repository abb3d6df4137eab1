"""Cut the embedded MNIST subset shipped in the package (run once; output is committed).

Stratified by class (largest-remainder allocation), original MNIST order kept,
5,000 train + 1,000 test images, from the full set at ../shared/data/mnist.npz.

    python scripts/make_mnist_subset.py [SOURCE.npz]
"""

import json
import sys
from pathlib import Path

import numpy as np

from xbench.data import EMBEDDED, array_sha256, read_npz


def stratified(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    counts = np.bincount(y, minlength=10)
    exact = counts * n / counts.sum()
    take = np.floor(exact).astype(int)
    take[np.argsort(-(exact - take))[: n - take.sum()]] += 1
    picked = [rng.choice(np.flatnonzero(y == c), size=k, replace=False) for c, k in enumerate(take)]
    return np.sort(np.concatenate(picked))


def main() -> None:
    src = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared/data/mnist.npz")
    full = read_npz(src)
    assert full.kind == "full", f"{src} is not the full MNIST set"
    rng = np.random.default_rng(20261128)
    tr, te = stratified(full.y_train, 5000, rng), stratified(full.y_test, 1000, rng)
    arrays = {"x_train": full.x_train[tr], "y_train": full.y_train[tr], "x_test": full.x_test[te], "y_test": full.y_test[te]}
    EMBEDDED.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(EMBEDDED, **arrays)
    EMBEDDED.with_suffix(".sha256.json").write_text(json.dumps({k: array_sha256(v) for k, v in arrays.items()}, indent=2) + "\n")
    print(f"wrote {EMBEDDED} ({EMBEDDED.stat().st_size:,} bytes); train classes {np.bincount(arrays['y_train'])}, "
          f"test classes {np.bincount(arrays['y_test'])}")


if __name__ == "__main__":
    main()
