"""Real MNIST, found in a fixed order and verified by the SHA-256 of its arrays.

Order: explicit path (``--data`` / ``XBENCH_MNIST``) -> local caches (xbench's
own and Keras's ``~/.keras/datasets/mnist.npz``) -> download of the canonical
Keras file (only when allowed; tests and CI never do) -> the stratified
subset embedded in the package (``xbench/data/mnist_subset.npz``, see
``xbench/data/MNIST_LICENSE.md``).

Arrays are verified rather than files because the canonical Keras download
and other copies pack the same arrays into different bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xbench.errors import UserError
from xbench.paths import cache_dir

KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
KERAS_FILE_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
EMBEDDED = Path(__file__).resolve().parent / "data" / "mnist_subset.npz"

SHAPES = {
    "full": {"x_train": (60000, 28, 28), "y_train": (60000,), "x_test": (10000, 28, 28), "y_test": (10000,)},
    "subset": {"x_train": (5000, 28, 28), "y_train": (5000,), "x_test": (1000, 28, 28), "y_test": (1000,)},
}
ARRAY_SHA256 = {
    "full": {
        "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
        "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
        "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
        "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
    },
}


def expected_sha256(kind: str) -> dict[str, str]:
    if kind == "subset":  # written by scripts/make_mnist_subset.py when it cut the subset
        return json.loads(EMBEDDED.with_suffix(".sha256.json").read_text())
    return ARRAY_SHA256[kind]


@dataclass(frozen=True)
class Mnist:
    x_train: np.ndarray  # (N, 28, 28) uint8
    y_train: np.ndarray  # (N,) uint8
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # the file it came from
    kind: str  # "full" (all 70,000 images) or "subset" (the embedded 6,000)

    @property
    def label(self) -> str:
        n = len(self.x_train) + len(self.x_test)
        return f"MNIST {self.kind} ({len(self.x_train):,} train + {len(self.x_test):,} test = {n:,} images)"

    @property
    def file_name(self) -> str:
        """The source by its file name only: results files are published, and a machine's paths are its own."""
        return Path(self.source).name


def array_sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def read_npz(path: Path) -> Mnist:
    """Load and verify one MNIST npz; any defect is one UserError naming the file."""
    if path.is_file() and not zipfile.is_zipfile(path):
        raise UserError(f"{path}: not an .npz (zip) archive; expected MNIST in Keras's mnist.npz layout")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in SHAPES["full"] if k in npz.files}
    except FileNotFoundError:
        raise UserError(f"{path}: no such file (expected an MNIST .npz with x_train, y_train, x_test, y_test)") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise UserError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    missing = sorted(set(SHAPES["full"]) - set(arrays))
    if missing:
        raise UserError(f"{path}: missing arrays {missing}; expected x_train, y_train, x_test, y_test")
    shapes = {k: tuple(v.shape) for k, v in arrays.items()}
    kind = next((k for k, want in SHAPES.items() if shapes == want), None)
    if kind is None:
        raise UserError(f"{path}: array shapes {shapes} are neither full MNIST {SHAPES['full']} "
                        f"nor the embedded subset {SHAPES['subset']}")
    bad_dtype = {k: str(v.dtype) for k, v in arrays.items() if v.dtype != np.uint8}
    if bad_dtype:
        raise UserError(f"{path}: arrays must be uint8, got {bad_dtype}")
    for name, want in expected_sha256(kind).items():
        got = array_sha256(arrays[name])
        if got != want:
            raise UserError(f"{path}: wrong checksum for {name}: sha256 {got[:16]}…, expected {want[:16]}… "
                            f"(the file is not the {kind} MNIST set)")
    return Mnist(source=str(path), kind=kind, **arrays)


def candidates() -> list[Path]:
    return [cache_dir() / "mnist.npz", Path.home() / ".keras" / "datasets" / "mnist.npz"]


def download(dest: Path, url: str = KERAS_URL, timeout: float = 30.0) -> Path:
    """Download the canonical Keras file, verify its SHA-256, then rename into place.

    A failed or wrong download never replaces what is cached.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            digest = hashlib.sha256()
            while chunk := resp.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != KERAS_FILE_SHA256:
            raise UserError(f"download of {url}: sha256 {digest.hexdigest()}, expected {KERAS_FILE_SHA256}; nothing cached")
        read_npz(Path(tmp))
        os.replace(tmp, dest)
        return dest
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_mnist(path: str | os.PathLike | None = None, allow_download: bool = False) -> Mnist:
    """The best MNIST available, in the documented order; never random data."""
    explicit = path or os.environ.get("XBENCH_MNIST")
    if explicit:
        return read_npz(Path(explicit))
    for cand in candidates():
        if cand.is_file():
            return read_npz(cand)
    if allow_download and not os.environ.get("XBENCH_OFFLINE"):
        try:
            return read_npz(download(candidates()[0]))
        except (OSError, UserError):
            pass  # no network here: the embedded subset is the documented last resort
    return read_npz(EMBEDDED)


def images(x: np.ndarray, input_shape: tuple[int, int, int]) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, H, W, C) in [0, 1], channels-last.

    Models with a larger input (e.g. seed_conv64, 100x100x3) get the same
    digits scaled up by nearest neighbour and repeated across channels.
    """
    h, w, c = input_shape
    out = x.astype(np.float32) / 255.0
    if (h, w) != out.shape[1:3]:
        rows = np.arange(h) * out.shape[1] // h
        cols = np.arange(w) * out.shape[2] // w
        out = out[:, rows][:, :, cols]
    return np.repeat(out[..., None], c, axis=-1) if c != 1 else out[..., None]


def batch(data: Mnist, input_shape: tuple[int, int, int], batch_size: int, split: str = "train",
          offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A real batch of ``batch_size`` images and labels (wraps around the split)."""
    x = data.x_train if split == "train" else data.x_test
    y = data.y_train if split == "train" else data.y_test
    idx = (offset + np.arange(batch_size)) % len(x)
    return images(x[idx], input_shape), y[idx].astype(np.int64)
