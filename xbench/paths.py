"""Where xbench keeps things between commands (data cache, trained weights)."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from xbench.errors import UserError


def cache_dir() -> Path:
    return Path(os.environ.get("XBENCH_CACHE", Path.home() / ".cache" / "xbench"))


def weights_path(model: str, framework: str, suffix: str) -> Path:
    """Where ``xbench train`` saves and ``xbench export`` looks for trained weights."""
    return cache_dir() / "weights" / f"{model}.{framework}{suffix}"


def check_output_path(path: str | os.PathLike, what: str = "output") -> Path:
    """An output path whose folder exists, or one clear UserError (nothing is created)."""
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{what} path {p} is a directory; give a file name")
    if not p.parent.is_dir():
        raise UserError(f"{what} path {p}: folder {p.parent} does not exist")
    return p


@contextmanager
def atomic_file(path: str | os.PathLike):
    """A binary file for ``path``, written in a temporary file in the same folder and renamed over ``path`` when the
    block ends without error (removed when it raises): readers never see half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; results are meant to be shared
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write via a temporary file in the same folder and rename: readers never see half a file.

    A path ending in ``.gz`` is written gzip-compressed (no timestamp inside, so equal text gives equal bytes):
    published baselines keep every raw sample at a fifth of the size."""
    data = text.encode()
    if Path(path).suffix == ".gz":
        import gzip

        data = gzip.compress(data, compresslevel=9, mtime=0)
    with atomic_file(path) as f:
        f.write(data)


def atomic_savez(path: str | os.PathLike, **arrays) -> None:
    """``numpy.savez`` to exactly ``path`` (no ``.npz`` appended) through :func:`atomic_file`: a reader polling for
    the file never opens half of it."""
    import numpy as np

    with atomic_file(path) as f:
        np.savez(f, **arrays)
