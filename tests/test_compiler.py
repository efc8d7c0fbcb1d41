"""Compilers are not trusted: jitted JAX must compute what eager JAX and NumPy compute.

jax/jaxlib 0.10.2 on an AMD EPYC CPU (this project's CI machine) return wrong values from row 512 on for
the batched REINFORCE-like expression below (differences up to 1.7); 0.10.1, 0.10.0, 0.9.2 and 0.8.3 are
right. pyproject.toml pins a good version; this test fails on a broken one, whatever pins say.
"""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = jax.numpy


def _expression(b, v, y, log_softmax):
    return (-(y * log_softmax(b @ v)).sum(-1)[..., None] * b).mean(1)


def _numpy_log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


@pytest.mark.parametrize("per_row_weights", [False, True])
def test_batched_expression_jit_equals_eager_and_numpy(per_row_weights):
    rng = np.random.default_rng(0)
    b = rng.normal(size=(2000, 64, 3)).astype(np.float32)
    v = rng.normal(size=(2000, 3, 10) if per_row_weights else (3, 10)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 64)]  # one label per example, shared by every row
    expected = _expression(b.astype(np.float64), v.astype(np.float64), y, _numpy_log_softmax)

    def f(b, v, y):
        return _expression(b, v, y, lambda x: jax.nn.log_softmax(x, -1))

    compiled = np.asarray(jax.jit(f)(b, v, y))
    with jax.disable_jit():
        eager = np.asarray(f(b, v, y))
    np.testing.assert_allclose(eager, expected, rtol=1e-4, atol=1e-4)
    bad = np.flatnonzero(np.abs(compiled - expected).max(-1) > 1e-4)
    assert bad.size == 0, (f"jax {jax.__version__}: jit differs from NumPy in {bad.size} rows, first {bad[:3]}, "
                           f"largest difference {np.abs(compiled - expected).max():.3g}")
