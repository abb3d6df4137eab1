"""The MNIST loader: verified arrays, clear errors, documented search order, safe downloads."""

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest

from xbench import data as mnist
from xbench.errors import UserError


@pytest.fixture
def subset(mnist):
    return mnist


def _save(path: Path, d: mnist.Mnist, **override) -> Path:
    arrays = {"x_train": d.x_train, "y_train": d.y_train, "x_test": d.x_test, "y_test": d.y_test, **override}
    np.savez(path, **arrays)
    return path


def test_embedded_subset_is_real_stratified_mnist(subset):
    assert subset.kind == "subset" and len(subset.x_train) == 5000 and len(subset.x_test) == 1000
    counts = np.bincount(subset.y_train, minlength=10)
    assert counts.min() >= 450 and counts.max() <= 570  # every digit, in MNIST's proportions
    assert subset.x_train.dtype == np.uint8 and subset.x_train.max() == 255
    assert (mnist.EMBEDDED.parent / "MNIST_LICENSE.md").read_text().count("CC BY-SA 3.0") >= 1


def test_full_file_verifies(full_mnist_path):
    d = mnist.read_npz(full_mnist_path)
    assert d.kind == "full" and d.x_train.shape == (60000, 28, 28)
    assert np.bincount(d.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_subset_is_cut_from_the_full_set(subset, full_mnist_path):
    rows = {r.tobytes() for r in mnist.read_npz(full_mnist_path).x_test}
    assert all(img.tobytes() in rows for img in subset.x_test[:50])


def test_wrong_checksum_names_file_and_array(subset, tmp_path):
    x = subset.x_train.copy()
    x[0, 0, 0] ^= 1  # one pixel
    path = _save(tmp_path / "tampered.npz", subset, x_train=x)
    with pytest.raises(UserError, match=r"tampered\.npz: wrong checksum for x_train"):
        mnist.read_npz(path)


def test_corrupt_file(subset, tmp_path):
    path = _save(tmp_path / "m.npz", subset)
    path.write_bytes(path.read_bytes()[: 200_000])  # truncated download
    with pytest.raises(UserError, match=r"m\.npz"):
        mnist.read_npz(path)
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(UserError, match="not an .npz"):
        mnist.read_npz(tmp_path / "text.npz")


def test_wrong_shapes_and_missing_arrays(subset, tmp_path):
    with pytest.raises(UserError, match="shapes"):
        mnist.read_npz(_save(tmp_path / "a.npz", subset, x_test=subset.x_test[:10]))
    np.savez(tmp_path / "b.npz", x_train=subset.x_train)
    with pytest.raises(UserError, match="missing arrays"):
        mnist.read_npz(tmp_path / "b.npz")


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    np.savez(tmp_path / "p.npz", x_train=np.array([{"a": 1}], dtype=object), y_train=np.zeros(1), x_test=np.zeros(1),
             y_test=np.zeros(1))
    with pytest.raises(UserError, match=r"p\.npz"):
        mnist.read_npz(tmp_path / "p.npz")


def test_missing_file():
    with pytest.raises(UserError, match="no such file"):
        mnist.read_npz(Path("/nonexistent/mnist.npz"))


def test_search_order(subset, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # nothing anywhere and offline: the embedded subset
    assert mnist.load_mnist(allow_download=True).source == str(mnist.EMBEDDED)
    # Keras's own cache is reused
    keras_cache = tmp_path / "home" / ".keras" / "datasets" / "mnist.npz"
    keras_cache.parent.mkdir(parents=True)
    _save(keras_cache, subset)
    assert mnist.load_mnist().source == str(keras_cache)
    # xbench's cache comes before Keras's
    own = mnist.cache_dir() / "mnist.npz"
    own.parent.mkdir(parents=True, exist_ok=True)
    _save(own, subset)
    assert mnist.load_mnist().source == str(own)
    # the environment variable beats the caches, an explicit path beats everything
    env_file = _save(tmp_path / "env.npz", subset)
    monkeypatch.setenv("XBENCH_MNIST", str(env_file))
    assert mnist.load_mnist().source == str(env_file)
    explicit = _save(tmp_path / "explicit.npz", subset)
    assert mnist.load_mnist(explicit).source == str(explicit)


def test_download_is_verified_and_never_replaces_the_cache_with_a_bad_file(subset, tmp_path, monkeypatch):
    good = _save(tmp_path / "served.npz", subset)
    dest = tmp_path / "cache" / "mnist.npz"
    # a wrong file at the canonical address: error, nothing written
    with pytest.raises(UserError, match="sha256"):
        mnist.download(dest, url=good.as_uri())
    assert not dest.exists() and not list(dest.parent.glob("*.part"))
    # the right bytes (file:// stands in for the network): verified, renamed into place
    monkeypatch.setattr(mnist, "KERAS_FILE_SHA256", hashlib.sha256(good.read_bytes()).hexdigest())
    assert mnist.download(dest, url=good.as_uri()) == dest
    assert mnist.read_npz(dest).kind == "subset"
    before = dest.read_bytes()
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04broken")
    with pytest.raises(UserError):
        mnist.download(dest, url=broken.as_uri())
    assert dest.read_bytes() == before


def test_images_are_scaled_channels_last(subset):
    x = mnist.images(subset.x_test[:4], (28, 28, 1))
    assert x.shape == (4, 28, 28, 1) and x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    big = mnist.images(subset.x_test[:2], (100, 100, 3))
    assert big.shape == (2, 100, 100, 3) and np.array_equal(big[..., 0], big[..., 2])


def test_npz_is_a_zip_of_npy(subset):
    with zipfile.ZipFile(mnist.EMBEDDED) as z:
        assert sorted(z.namelist()) == ["x_test.npy", "x_train.npy", "y_test.npy", "y_train.npy"]
