"""The single-node API: `grad_samples(name, f, params, dist=..., backend=...)`, rows of gradient estimates of
E_q[f(z)] for one node, through the same drivers and sampling as every problem of the benchmark.

`node_objective` is the node's Objective: the estimator's surrogate with f as the whole downstream; an estimate
averages `batch_size` draws (one by default). Parameters may be float32 or float64, and f may return either:
the node computes in float32 (the precision every backend runs at, as README says); non-finite parameters are
refused.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np

from estimators import catalog
from estimators.dist import DISTS, PARAM_NAMES
from estimators.driver import BACKENDS, Objective, driver, package
from estimators.ops import Downstream, Ops
from estimators.rng import Rng
from estimators.sampling import estimate
from estimators.spec import (
    DRIVER_OPTIONS,
    OPTION_RANGES,
    REQUIREMENTS,
    Spec,
    checked_samples,
    draw_counts,
    surrogate_options,
)

_PIP_NAME = {"torch": "torch", "torch-compile": "torch", "jax": "jax"}


def node_objective(o: Ops, name: str, f: Callable[[Any], Any], dist: str, params: dict[str, np.ndarray], *,
                   n_samples: int, seed: int, options: dict[str, Any], batch_size: int = 1,
                   state: Any = None) -> Objective:
    """One node of `dist` whose downstream is f: f maps samples [..., *shape] to values [...] in the backend's
    arrays. Trained states learn on single draws (the `warm` objective), as in every problem."""
    spec, module = catalog.spec(name), catalog.module(name)
    shape = next(iter(params.values())).shape
    n_draws, n_u = draw_counts(spec, n_samples)
    n_draws *= batch_size
    opts = surrogate_options(spec, options)

    def loss(z: Any) -> Any:
        return o.float(f(z))

    down = Downstream(main=loss, value=lambda z: o.stop_gradient(loss(z)), relaxed=lambda h, t: loss(h),
                      mean=loss)

    def evaluate(rep: dict[str, Any], u: list[Any], states: list[Any]) -> tuple[Any, list[Any]]:
        node = {k: o.broadcast_to(o.expand_dims(v, 1), tuple(u[0].shape[1:])) for k, v in rep.items()}
        out, new = module.surrogate(o, node, down, u[0], states[0], dist=dist, event_ndim=len(shape), **opts)
        return o.sum(o.mean(out, 1)), [new]

    if state is None and spec.state:
        state = module.init_state(o, {k: shape for k in params}, seed)
    warm = None
    if spec.state == "trained" and n_samples != spec.min_samples:
        warm = node_objective(o, name, f, dist, params, n_samples=spec.min_samples, seed=seed, options=options,
                              batch_size=batch_size, state=state)
    return Objective(spec, {k: o.asarray(v) for k, v in params.items()}, evaluate,
                     lambda n: [(n_u, n, n_draws, *shape)], [state], warm)


def available_backends() -> list[str]:
    """Backends whose framework is installed on this machine."""
    return [b for b in BACKENDS if importlib.util.find_spec(_PIP_NAME[b]) is not None]


def check_backend(backend: str, device: str = "cpu") -> None:
    """ValueError naming the valid choices when the backend or device cannot be used here."""
    package(backend)
    if backend not in available_backends():
        raise ValueError(f"backend {backend!r} is not installed; installed: {', '.join(available_backends()) or 'none'}"
                         f" (pip install '.[{_PIP_NAME[backend]}]')")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}; valid devices: cpu, cuda")
    if device == "cuda" and not has_cuda(backend):
        raise ValueError(f"device 'cuda' requested but {backend} sees no GPU here; valid devices: cpu")


def has_cuda(backend: str) -> bool:
    if backend.startswith("torch"):
        import torch

        return torch.cuda.is_available()
    import jax

    try:
        return bool(jax.devices("gpu"))
    except RuntimeError:
        return False


def check_options(spec: Spec, options: dict[str, Any], *, extra: tuple[str, ...] = ()) -> None:
    """ValueError for an option the estimator does not take, or a value outside its domain."""
    valid = set(spec.options) | set(extra)
    unknown = set(options) - valid
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(sorted(unknown))} for {spec.name}; valid: "
                         f"{', '.join(sorted(valid)) or 'none'}")
    for key, value in options.items():
        problem = OPTION_RANGES[key].check(value) if key in OPTION_RANGES else ""
        if problem:
            raise ValueError(f"option {key}={value} of {spec.name} {problem}")


def _checked(name: str, params: dict, dist: str, n_estimates: int, n_samples: int, options: dict) -> tuple:
    spec = catalog.spec(name)
    if spec.requires:
        raise ValueError(f"{name} needs {REQUIREMENTS.get(spec.requires, spec.requires)}; the single-node API has "
                         f"only a bare node (for a Gaussian node use reparam, the same math)")
    if dist not in DISTS:
        raise ValueError(f"unknown distribution {dist!r}; valid: {', '.join(DISTS)}")
    if dist not in spec.dists:
        raise ValueError(f"estimator {name!r} does not support {dist!r}; it supports: {', '.join(spec.dists)}")
    want = PARAM_NAMES[dist]
    if sorted(params) != sorted(want):
        raise ValueError(f"{dist} params must be named {', '.join(want)}; got {', '.join(params) or 'none'}")
    arrays = {k: np.asarray(v) for k, v in params.items()}
    for k, a in arrays.items():
        if not np.issubdtype(a.dtype, np.floating) and not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"param {k} must be a float array, got dtype {a.dtype}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"param {k} must be finite; got NaN or inf")
    arrays = {k: a.astype(np.float32) for k, a in arrays.items()}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1 or () in shapes:
        raise ValueError(f"params must be non-scalar arrays of one shape; got shapes {sorted(shapes)}")
    if dist == "gaussian" and np.any(arrays["scale"] <= 0):
        raise ValueError("gaussian scale must be positive")
    if dist == "categorical" and next(iter(shapes))[-1] < 1:
        raise ValueError("a categorical node needs at least one category on its last axis")
    if n_estimates < 1:
        raise ValueError(f"n_estimates must be >= 1, got {n_estimates}")
    why = checked_samples(spec, n_samples)
    if why:
        raise ValueError(why)
    check_options(spec, options, extra=("state",) if spec.state else ())
    return spec, arrays


def grad_samples(name: str, f: Callable[[Any], Any], params: dict[str, np.ndarray], *, dist: str, backend: str,
                 n_estimates: int, n_samples: int = 1, seed: int = 0, device: str = "cpu", batch_size: int = 1,
                 **options: Any) -> dict[str, np.ndarray]:
    """`n_estimates` independent estimates of grad E_q[f(z)], one row each, for every key of `params`.

    `f` uses the chosen backend's array operations and maps samples [..., *event_shape] to values [...].
    Each estimate averages `n_samples` draws (antithetic pairs for arm/disarm; for rloo and arms the
    n_samples draws share one leave-one-out baseline). Estimator options (`tau`, `slope`, `decay`, ...) pass
    through; stateful estimators also take `state=` (an initial state, e.g. from their module's
    `init_state`) and `warmup=` (state updates at these parameters before measuring, frozen afterwards;
    default from the spec); trained ones `states=` (the estimates are split among that many independently
    trained states, in order).
    """
    spec, arrays = _checked(name, params, dist, n_estimates, n_samples, options)
    check_backend(backend, device)
    if not 0 <= int(seed) < 2**31:
        raise ValueError(f"seed must be an integer in [0, 2^31), got {seed}")
    d = driver(backend, device)
    state = options.pop("state", None)
    obj = node_objective(d.ops, name, f, dist, arrays, n_samples=n_samples, seed=seed, batch_size=batch_size,
                         options={k: v for k, v in options.items() if k not in DRIVER_OPTIONS}, state=state)
    return estimate(d, obj, n_estimates, {**spec.options, **options}, Rng(int(seed)))
