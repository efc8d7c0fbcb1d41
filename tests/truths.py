"""Test problems with ground truths computed in NumPy, independently of both backends.

Each problem gives f in the requested backend's array ops, its parameters at a point, and the exact
gradient of E_q[f] (enumeration or closed form). The z-test helpers turn estimate rows into standard errors.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import estimators

# torch-compile runs the torch estimators; tests/test_torch_compile.py shows its rows equal eager torch's on the
# same uniforms, which carries every torch test here over to it (compiling each case here would take minutes)
BACKENDS = [b for b in estimators.available_backends() if b != "torch-compile"]
A6 = np.array([0.9, -0.6, 1.3, 0.4, -1.1, 0.7], np.float32)
C4 = np.array([1.0, -2.0, 0.5, 3.0], np.float32)
POINTS = {  # logits at the symmetric point and away from it
    "bernoulli": {"zero": np.zeros(6, np.float32), "away": np.array([-1.5, -0.5, 0.3, 0.8, 1.2, 2.0], np.float32)},
    "categorical": {"zero": np.zeros(4, np.float32), "away": np.array([0.5, -1.0, 0.2, 1.3], np.float32)},
    "gaussian": {"zero": (np.zeros(3, np.float32), np.ones(3, np.float32)),
                 "away": (np.array([0.3, -0.5, 1.1], np.float32), np.array([0.8, 1.5, 0.4], np.float32))},
}


def xp(backend: str):
    if backend.startswith("torch"):
        import torch

        return torch, torch.as_tensor
    import jax.numpy as jnp

    return jnp, jnp.asarray


def f6(backend: str) -> Callable:
    """Nonlinear f of 6 Bernoullis: (a.b - 1)^2 + 0.5 b0 b1."""
    _, arr = xp(backend)
    a = arr(A6)
    return lambda b: ((b * a).sum(-1) - 1.0) ** 2 + 0.5 * b[..., 0] * b[..., 1]


def f6_numpy(b: np.ndarray) -> np.ndarray:
    return (b @ A6 - 1.0) ** 2 + 0.5 * b[..., 0] * b[..., 1]


def df6_numpy(b: np.ndarray) -> np.ndarray:
    """d f6 / d b, for the straight-through estimators' known means."""
    g = 2 * (b @ A6 - 1.0)[..., None] * A6
    g[..., 0] += 0.5 * b[..., 1]
    g[..., 1] += 0.5 * b[..., 0]
    return g


def bernoulli_configs(n: int) -> np.ndarray:
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


def bernoulli_truth(logits: np.ndarray) -> np.ndarray:
    b = bernoulli_configs(len(logits))
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    q = np.prod(np.where(b == 1, p, 1 - p), axis=1)
    return (q * f6_numpy(b)) @ (b - p)


def bernoulli_expectation(logits: np.ndarray, g: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    b = bernoulli_configs(len(logits))
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    q = np.prod(np.where(b == 1, p, 1 - p), axis=1)
    return q @ g(b)


def f_cat(backend: str) -> Callable:
    _, arr = xp(backend)
    c = arr(C4)
    return lambda x: ((x * c).sum(-1) - 0.5) ** 2


def categorical_truth(logits: np.ndarray) -> np.ndarray:
    p = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    fk = (C4 - 0.5) ** 2
    return p * (fk - p @ fk)


def f_gauss(backend: str) -> Callable:
    mod, _ = xp(backend)
    return lambda x: (x**2 + mod.cos(2 * x)).sum(-1)


def gaussian_truth(loc: np.ndarray, scale: np.ndarray) -> dict[str, np.ndarray]:
    """E[x^2 + cos 2x] = loc^2 + scale^2 + cos(2 loc) exp(-2 scale^2)."""
    e = np.exp(-2 * scale**2)
    return {"loc": 2 * loc - 2 * np.sin(2 * loc) * e, "scale": 2 * scale - 4 * scale * np.cos(2 * loc) * e}


@dataclass(frozen=True)
class Problem:
    dist: str
    params: dict[str, np.ndarray]
    truth: dict[str, np.ndarray]
    f: Callable[[str], Callable]


def problem(dist: str, point: str) -> Problem:
    if dist == "bernoulli":
        lg = POINTS[dist][point]
        return Problem(dist, {"logits": lg}, {"logits": bernoulli_truth(lg)}, f6)
    if dist == "categorical":
        lg = POINTS[dist][point]
        return Problem(dist, {"logits": lg}, {"logits": categorical_truth(lg)}, f_cat)
    loc, scale = POINTS[dist][point]
    return Problem(dist, {"loc": loc, "scale": scale}, gaussian_truth(loc, scale), f_gauss)


def z_scores(rows: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(mean - target) / standard error of the mean, per coordinate, in float64."""
    rows = rows.astype(np.float64)
    se = rows.std(0, ddof=1) / np.sqrt(len(rows))
    return (rows.mean(0) - target) / np.maximum(se, 1e-12)


def variance_and_se(rows: np.ndarray) -> tuple[float, float]:
    """Trace of the covariance of the estimates, and its standard error (delta method on the 4th moment)."""
    x = rows.reshape(len(rows), -1).astype(np.float64)
    c = x - x.mean(0)
    per_row = (c**2).sum(1)
    return float(per_row.mean()), float(per_row.std(ddof=1) / np.sqrt(len(rows)))
