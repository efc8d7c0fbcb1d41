"""The data loader: bundled digits, MNIST from IDX or .npz files, and one clear error for missing or
malformed files (the CLI turns it into one line and exit code 2)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from bench.cli import main
from bench.problems import data


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_mnist(folder, n_train=6, n_test=4, gz=False):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (n_train, 28, 28)), "y_train": rng.integers(0, 10, n_train),
              "x_test": rng.integers(0, 256, (n_test, 28, 28)), "y_test": rng.integers(0, 10, n_test)}
    for key, stem in data.IDX_NAMES.items():
        raw = _idx(arrays[key])
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / stem).write_bytes(raw)
    return arrays


def test_digits_are_bundled_scaled_and_split():
    d = data.load("digits")
    assert d.x_train.shape == (1297, 64) and d.x_test.shape == (500, 64)
    assert 0 <= d.x_train.min() and d.x_train.max() <= 1 and set(np.unique(d.y_train)) == set(range(10))


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_from_idx_files(tmp_path, gz):
    arrays = _write_mnist(tmp_path, gz=gz)
    d = data._mnist(tmp_path)
    assert d.x_train.shape == (6, 784) and d.n_pixels == 784
    np.testing.assert_allclose(d.x_test * 255, arrays["x_test"].reshape(4, -1), atol=1e-3)
    np.testing.assert_array_equal(d.y_train, arrays["y_train"])


def test_mnist_from_npz(tmp_path):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "mnist.npz", x_train=rng.integers(0, 256, (5, 28, 28)), y_train=np.arange(5),
             x_test=rng.integers(0, 256, (3, 28, 28)), y_test=np.arange(3))
    d = data._mnist(tmp_path)
    assert d.x_train.shape == (5, 784) and list(d.y_test) == [0, 1, 2]


def test_missing_files_name_what_is_expected(tmp_path):
    with pytest.raises(data.DataError, match="train-images-idx3-ubyte"):
        data._mnist(tmp_path)


def test_malformed_files_are_one_clear_error(tmp_path):
    _write_mnist(tmp_path)
    (tmp_path / data.IDX_NAMES["x_train"]).write_bytes(b"not an idx file")
    with pytest.raises(data.DataError, match="bad magic"):
        data._mnist(tmp_path)
    (tmp_path / data.IDX_NAMES["x_train"]).write_bytes(_idx(np.zeros((6, 28, 28)))[:-10])
    with pytest.raises(data.DataError, match="header says"):
        data._mnist(tmp_path)


def test_cli_rejects_missing_mnist_with_one_line(tmp_path, capsys):
    assert main(["run", "gradients", "--data", "mnist", "--problems", "bsn", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--data-dir" in err[0]
    assert main(["run", "gradients", "--data", "mnist", "--data-dir", str(tmp_path / "nope"), "--problems", "bsn",
                 "--out", str(tmp_path)]) == 2
    assert main(["run", "gradients", "--data", "imagenet", "--out", str(tmp_path)]) == 2
