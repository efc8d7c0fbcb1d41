"""Test problems with ground truths computed in NumPy, independently of both backends.

Each problem gives f in the requested backend's array ops, its parameters at a point, and the exact
gradient of E_q[f] (enumeration or closed form). The z-test helpers turn estimate rows into standard errors.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

import estimators

# torch-compile runs the torch estimators; tests/test_torch_compile.py shows its rows equal eager torch's on the
# same uniforms, which carries every torch test here over to it (compiling each case here would take minutes)
BACKENDS = [b for b in estimators.available_backends() if b != "torch-compile"]
# A claim tested in torch in the fast tier and in JAX in the slow tier (`make test-slow`) as well: JAX compiles
# every case anew (seconds each), and tests/test_backends_agree.py shows in the fast tier that every estimator's
# JAX rows equal its torch rows on the same uniforms
TIERED = [pytest.param(b, marks=pytest.mark.slow) if b == "jax" else b for b in BACKENDS]
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


def chain_params(depth: int, width: int, seed: int, zero_logits: bool = False) -> dict[str, np.ndarray]:
    """The chain's parameters (bench/problems/chain.py); `zero_logits` puts the first layer and all biases at 0."""
    from bench.problems.chain import Chain

    p = Chain(depth, width).init_params(seed)
    if zero_logits:
        p = {k: (np.zeros_like(v) if k == "logits" or k.startswith("b") else v) for k, v in p.items()}
    return p


def chain_objective(params: dict[str, np.ndarray]) -> float:
    """E[softplus(2 b_{d-1}.v - 1)] over every joint configuration of the chain's layers, in float64 NumPy."""
    depth, width = sum(k.startswith("w") for k in params) + 1, len(params["logits"])
    configs = bernoulli_configs(width)
    total = 0.0
    for joint in itertools.product(range(len(configs)), repeat=depth):
        prob, prev = 1.0, None
        for layer, idx in enumerate(joint):
            b = configs[idx]
            logits = params["logits"] if layer == 0 else prev @ params[f"w{layer}"] + params[f"b{layer}"]
            p = 1 / (1 + np.exp(-logits))
            prob *= np.prod(np.where(b == 1, p, 1 - p))
            prev = b
        total += prob * np.logaddexp(0.0, 2 * prev @ params["v"] - 1)
    return float(total)


def chain_truth(params: dict[str, np.ndarray], h: float = 1e-5) -> dict[str, np.ndarray]:
    """The chain's exact gradient, independently of both backends: central differences of the float64
    enumeration (error about h^2, far below any test's standard error)."""
    base = {k: v.astype(np.float64) for k, v in params.items()}
    out = {}
    for k, v in base.items():
        g = np.zeros_like(v)
        for i in np.ndindex(v.shape):
            plus, minus = dict(base), dict(base)
            plus[k], minus[k] = v.copy(), v.copy()
            plus[k][i] += h
            minus[k][i] -= h
            g[i] = (chain_objective(plus) - chain_objective(minus)) / (2 * h)
        out[k] = g
    return out


def model_rows(model, name: str, params: dict[str, np.ndarray], data: dict[str, np.ndarray], backend: str,
               n: int, *, n_samples: int = 1, seed: int = 0, batch_size: int = 1, state=None,
               **options) -> dict[str, np.ndarray]:
    """n rows of `name`'s estimate on an engine model, through the harness's own path (engine, driver, sampling)."""
    import estimators
    from bench.problems.engine import objective
    from estimators.rng import Rng
    from estimators.sampling import estimate
    from estimators.spec import DRIVER_OPTIONS

    d = estimators.driver(backend)
    obj = objective(model, d.ops, name, params, data, n_samples=n_samples, seed=seed, batch_size=batch_size,
                    options={k: v for k, v in options.items() if k not in DRIVER_OPTIONS})
    if state is not None:
        obj = type(obj)(obj.spec, obj.theta, obj.evaluate, obj.noise, state, obj.warm)
    return estimate(d, obj, n, {**estimators.spec(name).options, **options}, Rng(seed))


def chain_rows(name: str, params: dict[str, np.ndarray], backend: str, n: int, *, n_samples: int = 1, seed: int = 0,
               **options) -> dict[str, np.ndarray]:
    from bench.problems.chain import Chain

    depth, width = sum(k.startswith("w") for k in params) + 1, len(params["logits"])
    return model_rows(Chain(depth, width), name, params, {}, backend, n, n_samples=n_samples, seed=seed, **options)


def ops(backend: str):
    """The backend's op set."""
    return estimators.ops(backend)


def gradient(backend: str, f: Callable, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """d f / d arrays by the backend's autodiff, as float64 NumPy."""
    from bench.stats.truths import gradient as autodiff

    return autodiff(estimators.ops(backend), f, arrays)


def rows_to_detect(model, name: str, params: dict[str, np.ndarray], data: dict[str, np.ndarray], backend: str,
                   truth: dict[str, np.ndarray], *, detect: float = 0.1, limit: float, lo: int = 2_000,
                   hi: int = 20_000, n_samples: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    """As many rows as a z-test at |z| < `limit` needs to see a `detect` scale error of the gradient (the
    estimates' mean (1 + detect) times the truth) with power 0.99, in the coordinate where it shows most:
    drawn in chunks until min_i (limit + 2.33) SE_i / |g_i| <= detect, between `lo` and `hi` rows. Each test's
    cost is then what its claim needs: a low-variance estimator stops early, a noisy one draws up to `hi`."""
    from scipy.stats import norm

    import estimators
    from bench.problems.engine import objective
    from estimators.rng import Rng
    from estimators.sampling import chunks

    d = estimators.driver(backend)
    obj = objective(model, d.ops, name, params, data, n_samples=n_samples, seed=seed, options={})
    flat_truth = np.abs(np.concatenate([truth[k].reshape(-1) for k in params]))
    parts: list[dict[str, np.ndarray]] = []
    for chunk in chunks(d, obj, hi, estimators.spec(name).options, 1_000, Rng(seed)):
        parts.append(chunk.rows)
        n = 1_000 * len(parts)
        if n >= lo:
            flat = np.concatenate([np.concatenate([p[k].reshape(len(p[k]), -1) for k in params], 1) for p in parts])
            se = flat.std(0, ddof=1) / np.sqrt(len(flat))
            with np.errstate(divide="ignore", invalid="ignore"):
                needed = np.where(flat_truth > 0, (limit + norm.ppf(0.99)) * se / flat_truth, np.inf)
            if needed.min() <= detect:
                break
    return {k: np.concatenate([p[k] for p in parts]) for k in params}
