"""True gradients for gradients cells: closed forms, exact enumeration, or a cached reference estimate.

Closed forms for the toys; exact enumeration of every joint configuration when there are at most 2^16 of them
(the chain up to 16 units; bsn, the VAEs and stochastic-depth at small sizes), computed once per machine by
the reference backend (torch when installed) and shared by every backend's cells; the tests compare the
backends' enumerations with each other and with NumPy. Otherwise a reference estimate: an unbiased,
low-variance estimator (DisARM for Bernoulli nodes, RLOO with 4 draws for categorical, reparameterisation for
Gaussian) streamed until the standard error of its mean falls to `rel_se` of the mean's norm, or
`max_estimates` rows. It keeps its batch deviations, so the metrics carry its full covariance into every
standard error (bench.metrics), and it is cached on disk (`--cache-dir`, default ~/.cache/mcgrad-bench) under
a key of everything that determines it: problem and parameters, depth, batch, seed, point, device, the backend
that computed it, the precision asked for, and the code versions involved. A reference is computed by torch
when installed (else JAX), once per machine, and shared by both backends' cells; so is an exact truth.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from bench import problems, stream, versions
from bench.metrics import Truth
from bench.moments import Moments
from estimators.spec import SPECS

REFERENCE = {"bernoulli": "disarm", "categorical": "rloo", "gaussian": "reparam"}
REFERENCE_SAMPLES = {"rloo": 4}
MIN_ROWS = 2_000
BATCHES = 64  # batch deviations a reference keeps
TRUTH_CODE = ("bench/truths.py", "bench/moments.py", "bench/stream.py")


@dataclass(frozen=True)
class TruthSettings:
    rel_se: float = 0.05
    max_estimates: int = 100_000
    cache_dir: str = ""
    budget: int = 0  # bytes; 0 = bench.budget.default_budget()

    @property
    def folder(self) -> Path:
        default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mcgrad-bench"
        return Path(self.cache_dir or os.environ.get("MCGRAD_BENCH_CACHE", default)) / "truths"


def kind(problem: str, pp: dict[str, Any], depth: int) -> str:
    """'closed', 'exact' or 'reference': how a problem's truth is obtained."""
    if problem.startswith("toy-"):
        return "closed"
    if problem == "chain":
        return "exact" if depth * int(pp["width"]) <= problems.MAX_EXACT_UNITS else "reference"
    return "exact" if problems.enumerable(problem, pp, depth) else "reference"


def truth(problem: str, pp: dict[str, Any], depth: int, seed: int, backend: str, point: str, batch_size: int,
          device: str, settings: TruthSettings) -> Truth:
    """The true gradient of a cell's objective, parameters concatenated in the model's order.

    Closed forms and exact enumerations are computed once per machine by the reference backend and shared by
    every backend's cells (on disk, like reference estimates); `exact` computes one in a chosen backend."""
    how = kind(problem, pp, depth)
    if how == "reference":
        return reference(problem, pp, depth, seed, point, batch_size, device, settings)
    backend = _reference_backend()
    key = {"problem": problem, "params": pp, "depth": depth, "seed": seed, "point": point, "batch": batch_size,
           "device": device, "backend": backend, "truth": how,
           "versions": [versions.problem_version(problem, backend), versions._hash(list(TRUTH_CODE)),
                        versions.suite_version("training") if point != "init" else ""]}
    return _cached(key, settings, lambda: Truth(_flat(exact(problem, pp, depth, seed, key["backend"], point,
                                                            batch_size, device))))


def _flat(g: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate([v.reshape(-1) for v in g.values()])


def exact(problem: str, pp: dict[str, Any], depth: int, seed: int, backend: str, point: str, batch_size: int,
          device: str) -> dict[str, np.ndarray]:
    """The closed-form or enumerated gradient, computed by `backend`, in the model's parameter order."""
    return _exact(problem, tuple(sorted(pp.items())), depth, seed, backend.replace("torch-compile", "torch"), point,
                  batch_size, device)


@lru_cache(maxsize=32)
def _exact(problem: str, items: tuple, depth: int, seed: int, backend: str, point: str, batch_size: int,
           device: str) -> dict[str, np.ndarray]:
    pp = dict(items)
    params = problems.params_of(problem, pp, depth, seed, point, batch_size)
    if problem == "toy-bernoulli":
        s = 1 / (1 + np.exp(-params["logits"].astype(np.float64)))
        return {"logits": s * (1 - s) * (1 - 2 * pp["t"])}
    if problem == "toy-gaussian":
        mu, sigma = params["loc"].astype(np.float64), params["scale"].astype(np.float64)
        if pp["f"] == "cos":
            w, e = pp["omega"], np.exp(-0.5 * pp["omega"] ** 2 * sigma**2)
            return {"loc": -w * np.sin(w * mu) * e, "scale": -(w**2) * sigma * np.cos(w * mu) * e}
        return {"loc": 2 * mu, "scale": 2 * sigma}
    if problem == "chain":
        g = importlib.import_module(f"estimators.{backend}.chain").exact_gradient(params)
        return {k: np.asarray(g[k]).astype(np.float64) for k in params}
    from bench.problems.model import exact_objective
    from bench.problems.ops import gradient, ops

    o, model = ops(backend, device), problems.model_of(problem, pp, depth, batch_size)
    ctx = {k: o.asarray(v) for k, v in problems.fixed_batch(problem, pp, batch_size, seed).items()}
    g = gradient(backend, lambda p: exact_objective(model, o, p, ctx), params, device)
    return {k: g[k] for k in params}  # the rows' order: JAX returns its dicts sorted by key


def _reference_backend() -> str:
    from estimators import available_backends

    return "torch" if "torch" in available_backends() else "jax"


def cache_key(problem: str, pp: dict[str, Any], depth: int, seed: int, point: str, batch_size: int, device: str,
              settings: TruthSettings) -> dict[str, Any]:
    backend = _reference_backend()
    name = "vimco" if problems.iwae_k(pp) > 1 else REFERENCE[problems.PROBLEMS[problem].dist]
    return {"problem": problem, "params": pp, "depth": depth, "seed": seed, "point": point, "batch": batch_size,
            "device": device, "backend": backend, "estimator": name, "rel_se": settings.rel_se,
            "max_estimates": settings.max_estimates,
            "versions": [versions.estimator_version(name, backend), versions.problem_version(problem, backend),
                         versions._hash(list(TRUTH_CODE)), versions.suite_version("training") if point != "init"
                         else ""]}


def _cached(key: dict[str, Any], settings: TruthSettings, compute: Callable[[], Truth]) -> Truth:
    """The truth stored under `key` in the cache folder, else computed, stored and returned."""
    path = settings.folder / (hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20] + ".npz")
    if path.exists():
        try:
            with np.load(path) as f:
                return Truth(f["mean"], f["dev"] if f["dev"].ndim else None, int(f["n"]),
                             f["se"] if f["se"].ndim else None)
        except (OSError, ValueError, KeyError):
            pass  # unreadable (a killed write never renames, but a full disk can truncate): compute again
    found = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
    np.savez(tmp, mean=found.mean, dev=np.array(np.nan) if found.dev is None else found.dev, n=found.n,
             se=np.array(np.nan) if found.se is None else found.se, key=json.dumps(key, sort_keys=True))
    os.replace(tmp, path)
    return found


def reference(problem: str, pp: dict[str, Any], depth: int, seed: int, point: str, batch_size: int, device: str,
              settings: TruthSettings) -> Truth:
    """A reference estimate of the true gradient, from the disk cache when it was computed before."""
    key = cache_key(problem, pp, depth, seed, point, batch_size, device, settings)
    return _cached(key, settings, lambda: _compute_reference(problem, pp, depth, seed, point, batch_size, device,
                                                            key["backend"], key["estimator"], settings))


def _compute_reference(problem, pp, depth, seed, point, batch_size, device, backend, name,
                       settings: TruthSettings) -> Truth:
    from bench import budget as mem

    noise = seed + 10_007
    driver, surrogate, theta, state = problems.build(
        problem, pp, backend, name, depth=depth, batch_size=batch_size, n_samples=REFERENCE_SAMPLES.get(name, 1),
        seed=seed, device=device, options={}, point=point, noise_seed=noise)
    key = () if backend.startswith("torch") else (importlib.import_module("jax").random.PRNGKey(noise),)
    sizes = {k: int(np.prod(v.shape)) for k, v in theta.items()}
    zeros = np.zeros(sum(sizes.values()))

    def new_moments(chunk: int) -> Moments:
        return Moments(sizes, {"all": list(sizes)}, max(MIN_ROWS // 20, 1), truth=zeros, shift=zeros)

    def done(m: Moments) -> bool:
        if len(m.counts) > 2 * BATCHES:
            m.compact(BATCHES)
        r = m.n_rows
        if r < MIN_ROWS:
            return False
        mean = np.sum(m.sums, 0) / r
        variance = (np.sum(m.sq, 0)[0] - r * mean @ mean) / (r - 1)
        return bool(np.sqrt(variance / r) <= settings.rel_se * np.linalg.norm(mean))

    streamed = stream.stream(driver, SPECS[name], surrogate, theta, state, key, n_rows=settings.max_estimates,
                             options={}, budget=settings.budget or mem.default_budget(), new_moments=new_moments,
                             stop=done)
    m = streamed.moments
    m.compact(BATCHES)
    counts = np.asarray(m.counts, np.float64)
    r = counts.sum()
    sums = np.stack(m.sums)
    mean = sums.sum(0) / r
    dev = (np.sqrt(counts)[:, None] * (sums / counts[:, None] - mean)).astype(np.float32)
    se = np.sqrt(np.maximum(m.coord_sq / r - mean**2, 0) * r / (r - 1) / r)
    return Truth(mean + m.shift, dev, int(r), se)
