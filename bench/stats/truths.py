"""True gradients for gradients cells: closed forms, exact enumeration, or a cached reference estimate.

Closed forms for the toys; exact enumeration of every joint configuration when there are at most 2^16 of them
(the chain up to 16 units; the toys; bsn, the VAEs and stochastic-depth at small sizes), computed once per machine by
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
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.problems import PROBLEMS, REFERENCE, iwae_k
from bench.problems.engine import exact_objective, objective
from bench.stats import stream
from bench.stats.metrics import Truth
from bench.stats.moments import Moments
from bench.store import versions
from estimators import available_backends, driver
from estimators.rng import Rng

REFERENCE_SAMPLES = {"rloo": 4}
REFERENCE_STREAM = 999_983  # the reference estimate's noise: a stream no cell's estimates use
MIN_ROWS = 2_000
BATCHES = 64  # batch deviations a reference keeps


@dataclass(frozen=True)
class TruthSettings:
    rel_se: float = 0.05
    max_estimates: int = 100_000
    cache_dir: str = ""
    budget: int = 0  # bytes; 0 = bench.measure.budget.default_budget()

    @property
    def folder(self) -> Path:
        default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mcgrad-bench"
        return Path(self.cache_dir or os.environ.get("MCGRAD_BENCH_CACHE", default)) / "truths"


@dataclass(frozen=True)
class Target:
    """Whose gradient: a problem variant at a depth, its data (batch and seed), parameters at a point."""

    problem: str
    params: dict[str, Any]  # the problem's parameters
    depth: int
    seed: int
    point: str
    batch_size: int
    device: str
    theta: dict[str, np.ndarray]  # the model's parameters at the point

    def key(self) -> dict[str, Any]:
        digest = hashlib.sha1(b"".join(np.ascontiguousarray(v).tobytes() for v in self.theta.values()))
        return {"problem": self.problem, "params": self.params, "depth": self.depth, "seed": self.seed,
                "point": self.point, "batch": self.batch_size, "device": self.device, "theta": digest.hexdigest()}


def kind(problem: str, pp: dict[str, Any], depth: int) -> str:
    """'closed', 'exact' or 'reference': how a problem's truth is obtained."""
    if PROBLEMS[problem].closed_form is not None:
        return "closed"
    return "exact" if PROBLEMS[problem].enumerable(pp, depth) else "reference"


def reference_backend() -> str:
    return "torch" if "torch" in available_backends() else "jax"


def truth(target: Target, settings: TruthSettings) -> Truth:
    """The true gradient of a cell's objective, parameters concatenated in the model's order.

    Closed forms and exact enumerations are computed once per machine by the reference backend and shared by
    every backend's cells (on disk, like reference estimates); `exact` computes one in a chosen backend."""
    how, backend = kind(target.problem, target.params, target.depth), reference_backend()
    key = {**target.key(), "backend": backend, "truth": how,
           "versions": [versions.problem_version(target.problem), versions.truth_version()]}
    if how == "reference":
        name = "vimco" if iwae_k(target.params) > 1 else REFERENCE[PROBLEMS[target.problem].dist]
        key.update(estimator=name, rel_se=settings.rel_se, max_estimates=settings.max_estimates)
        key["versions"].append(versions.estimator_version(name, backend))
        return _cached(key, settings, lambda: _reference(target, backend, name, settings))
    return _cached(key, settings, lambda: Truth(_flat(exact(target, backend))))


def _flat(g: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate([v.reshape(-1) for v in g.values()])


def exact(target: Target, backend: str) -> dict[str, np.ndarray]:
    """The closed-form or enumerated gradient, computed by `backend`, in the model's parameter order."""
    problem = PROBLEMS[target.problem]
    if problem.closed_form is not None:
        return problem.closed_form(target.params, target.theta)
    model = problem.model(target.params, target.depth, target.batch_size)
    data = problem.fixed_batch(target.params, target.batch_size, target.seed)
    o = driver(backend.replace("torch-compile", "torch"), target.device).ops
    ctx = {k: o.asarray(v) for k, v in data.items()}
    g = gradient(o, lambda p: exact_objective(model, o, p, ctx), target.theta)
    return {k: g[k] for k in target.theta}  # the rows' order: JAX returns its dicts sorted by key


def gradient(o: Any, f: Callable[[dict[str, Any]], Any], arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """d f / d arrays by the backend's autodiff, as float64 NumPy."""
    if o.name == "torch":
        import torch

        theta = {k: o.asarray(v).requires_grad_() for k, v in arrays.items()}
        grads = torch.autograd.grad(f(theta), list(theta.values()), allow_unused=True)
        return {k: np.zeros(v.shape) if g is None else g.detach().cpu().numpy().astype(np.float64)
                for (k, v), g in zip(theta.items(), grads)}
    import jax

    grads = jax.jit(jax.grad(f))({k: o.asarray(v) for k, v in arrays.items()})  # one compile, not one per op
    return {k: np.asarray(g, np.float64) for k, g in grads.items()}


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


def _reference(target: Target, backend: str, name: str, settings: TruthSettings) -> Truth:
    """A reference estimate: the reference estimator streamed until its standard error is small enough."""
    from bench.measure import budget as mem

    problem = PROBLEMS[target.problem]
    d = driver(backend, target.device)
    obj = objective(problem.model(target.params, target.depth, target.batch_size, name), d.ops, name, target.theta,
                    problem.fixed_batch(target.params, target.batch_size, target.seed),
                    n_samples=REFERENCE_SAMPLES.get(name, 1), seed=target.seed, options={},
                    batch_size=target.batch_size)
    sizes = {k: int(np.prod(v.shape)) for k, v in obj.theta.items()}
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

    streamed = stream.stream(d, obj, Rng(target.seed, REFERENCE_STREAM), n_rows=settings.max_estimates, options={},
                             budget=settings.budget or mem.default_budget(), new_moments=new_moments, stop=done)
    m = streamed.moments
    m.compact(BATCHES)
    counts = np.asarray(m.counts, np.float64)
    r = counts.sum()
    sums = np.stack(m.sums)
    mean = sums.sum(0) / r
    dev = (np.sqrt(counts)[:, None] * (sums / counts[:, None] - mean)).astype(np.float32)
    se = np.sqrt(np.maximum(m.coord_sq / r - mean**2, 0) * r / (r - 1) / r)
    return Truth(mean + m.shift, dev, int(r), se)
