"""Image data for the model problems: scikit-learn's bundled 8x8 digits by default (no network), the same digits
upsampled to MNIST's 28x28 (`digits28`: 784 inputs, the literature's layer sizes without a download), or
MNIST from IDX or .npz files the user already has. Nothing is ever downloaded.

Pixels are scaled to [0, 1]; the VAEs binarize them at 0.5 (a fixed binarization, so every run and backend
sees the same data). Digits are split by a fixed permutation: 1297 training and 500 held-out images.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

DATASETS = ("digits", "digits28", "mnist")
DIGITS_TEST = 500
IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte",
}


class DataError(ValueError):
    """Missing or malformed data files: the message names what was expected."""


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray  # [n, pixels] float32 in [0, 1]
    y_train: np.ndarray  # [n] int64 labels 0..9
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_pixels(self) -> int:
        return self.x_train.shape[1]


def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x, y = (bunch.data / 16.0).astype(np.float32), bunch.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    test, train = order[:DIGITS_TEST], order[DIGITS_TEST:]
    return Dataset("digits", x[train], y[train], x[test], y[test])


def _digits28() -> Dataset:
    """The bundled digits, bilinearly upsampled from 8x8 to 28x28 (values stay in [0, 1])."""
    from scipy.ndimage import zoom

    d = _digits()
    up = [np.clip(zoom(x.reshape(-1, 8, 8), (1, 3.5, 3.5), order=1), 0, 1).reshape(len(x), 784).astype(np.float32)
          for x in (d.x_train, d.x_test)]
    return Dataset("digits28", up[0], d.y_train, up[1], d.y_test)


def _read_idx(path: Path) -> np.ndarray:
    """The IDX format of LeCun's MNIST files: magic (0, 0, dtype 0x08, ndim), big-endian sizes, then bytes."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or not 1 <= raw[3] <= 3:
        raise DataError(f"{path} is not an IDX file of unsigned bytes (bad magic number)")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise DataError(f"{path}: header says {shape} = {int(np.prod(shape))} values, file holds {body.size}")
    return body.reshape(shape)


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).exists():
            return folder / name
    return None


def _mnist(folder: Path) -> Dataset:
    if not folder.is_dir():
        raise DataError(f"--data-dir {str(folder)!r} is not a folder")
    npz = folder / "mnist.npz"
    if npz.exists():
        try:
            with np.load(npz) as f:
                arrays = {k: f[k] for k in IDX_NAMES}
        except (KeyError, ValueError, OSError) as exc:
            raise DataError(f"{npz} must hold arrays {', '.join(IDX_NAMES)}: {exc}") from None
    else:
        paths = {k: _find(folder, stem) for k, stem in IDX_NAMES.items()}
        missing = [IDX_NAMES[k] for k, v in paths.items() if v is None]
        if missing:
            raise DataError(f"MNIST not found in {folder}: expected mnist.npz or the IDX files "
                            f"{', '.join(IDX_NAMES.values())} (optionally .gz); missing {', '.join(missing)}")
        arrays = {k: _read_idx(v) for k, v in paths.items()}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim < 2 or len(x) != len(y) or y.ndim != 1:
            raise DataError(f"MNIST {split} split: {len(x)} images of shape {x.shape[1:]} but labels {y.shape}")
    flat = {k: v.reshape(len(v), -1) for k, v in arrays.items() if k.startswith("x")}
    return Dataset("mnist", (flat["x_train"] / 255.0).astype(np.float32), arrays["y_train"].astype(np.int64),
                   (flat["x_test"] / 255.0).astype(np.float32), arrays["y_test"].astype(np.int64))


@lru_cache(maxsize=4)
def load(name: str = "digits", data_dir: str = "") -> Dataset:
    if name not in DATASETS:
        raise DataError(f"unknown data set {name!r}; valid: {', '.join(DATASETS)}")
    if name == "digits":
        return _digits()
    if name == "digits28":
        return _digits28()
    if not data_dir:
        raise DataError("--data mnist needs --data-dir PATH holding mnist.npz or the four IDX files")
    return _mnist(Path(data_dir))


def binarize(x: np.ndarray) -> np.ndarray:
    return (x > 0.5).astype(np.float32)


def one_hot(y: np.ndarray, k: int = 10) -> np.ndarray:
    return np.eye(k, dtype=np.float32)[y]
