"""Monte Carlo gradient estimators for Bernoulli, categorical and Gaussian nodes, in PyTorch and JAX.

Public single-node API::

    names() -> list[str]
    spec(name) -> Spec
    grad_samples(name, f, params, *, dist, backend, n_estimates, n_samples=1, seed=0, device="cpu", **options)

Backends ("torch" eager, "torch-compile": the torch estimators under torch.compile, "jax" jitted) are
imported only when first used.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np

from estimators.registry import BACKENDS, driver_of, get, register
from estimators.spec import DISTS, OPTION_RANGES, REQUIREMENTS, SPECS, Spec

__all__ = ["names", "spec", "grad_samples", "get", "register", "available_backends", "Spec", "BACKENDS"]

PARAM_NAMES = {"bernoulli": ("logits",), "categorical": ("logits",), "gaussian": ("loc", "scale")}
_PIP_NAME = {"torch": "torch", "torch-compile": "torch", "jax": "jax"}


def names() -> list[str]:
    """Every estimator in the catalog, in catalog order."""
    return list(SPECS)


def spec(name: str) -> Spec:
    """The backend-neutral spec of one estimator."""
    try:
        return SPECS[name]
    except KeyError:
        raise ValueError(f"unknown estimator {name!r}; valid: {', '.join(SPECS)}") from None


def available_backends() -> list[str]:
    """Backends whose framework is installed on this machine."""
    return [b for b in BACKENDS if importlib.util.find_spec(_PIP_NAME[b]) is not None]


def check_backend(backend: str, device: str = "cpu") -> None:
    """ValueError naming the valid choices when the backend or device cannot be used here."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    if backend not in available_backends():
        raise ValueError(
            f"backend {backend!r} is not installed; installed: {', '.join(available_backends()) or 'none'}"
            f" (pip install '.[{backend}]')"
        )
    if device not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}; valid devices: cpu, cuda")
    if device == "cuda" and not _has_cuda(backend):
        raise ValueError(f"device 'cuda' requested but {backend} sees no GPU here; valid devices: cpu")


def _has_cuda(backend: str) -> bool:
    if backend.startswith("torch"):
        import torch

        return torch.cuda.is_available()
    import jax

    try:
        return bool(jax.devices("gpu"))
    except RuntimeError:
        return False


def _check_call(name: str, params: dict, dist: str, n_estimates: int, n_samples: int, options: dict) -> tuple:
    s = spec(name)
    if s.requires:
        raise ValueError(f"{name} needs {REQUIREMENTS.get(s.requires, s.requires)}; the single-node API has "
                         f"only a bare node (for a Gaussian node use reparam, the same math)")
    if dist not in DISTS:
        raise ValueError(f"unknown distribution {dist!r}; valid: {', '.join(DISTS)}")
    if dist not in s.dists:
        raise ValueError(f"estimator {name!r} does not support {dist!r}; it supports: {', '.join(s.dists)}")
    want = PARAM_NAMES[dist]
    if sorted(params) != sorted(want):
        raise ValueError(f"{dist} params must be named {', '.join(want)}; got {', '.join(params) or 'none'}")
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1 or () in shapes:
        raise ValueError(f"params must be non-scalar arrays of one shape; got shapes {sorted(shapes)}")
    if dist == "gaussian" and np.any(arrays["scale"] <= 0):
        raise ValueError("gaussian scale must be positive")
    if n_estimates < 1:
        raise ValueError(f"n_estimates must be >= 1, got {n_estimates}")
    if n_samples < (2 if s.multi_sample else 1):
        raise ValueError(f"{name} needs n_samples >= {2 if s.multi_sample else 1}, got {n_samples}")
    valid = set(s.options) | ({"state"} if s.state else set())
    unknown = set(options) - valid
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(sorted(unknown))} for {name}; valid: "
                         f"{', '.join(sorted(valid)) or 'none'}")
    for key, value in options.items():
        problem = OPTION_RANGES[key].check(value) if key in OPTION_RANGES else ""
        if problem:
            raise ValueError(f"option {key}={value} of {name} {problem}")
    return s, arrays


def grad_samples(
    name: str,
    f: Callable[[Any], Any],
    params: dict[str, np.ndarray],
    *,
    dist: str,
    backend: str,
    n_estimates: int,
    n_samples: int = 1,
    seed: int = 0,
    device: str = "cpu",
    **options: Any,
) -> dict[str, np.ndarray]:
    """`n_estimates` independent estimates of grad E_q[f(z)], one row each, for every key of `params`.

    `f` uses the chosen backend's array operations and maps samples [..., *event_shape] to values [...].
    Each estimate averages `n_samples` draws (antithetic pairs for arm/disarm; for rloo the n_samples
    draws share one leave-one-out baseline). Estimator options (`tau`, `slope`, `decay`) pass through;
    stateful estimators also take `state=` (as returned by their backend) and `warmup=` (state updates at
    these parameters before measuring, frozen afterwards; default from the spec); trained ones `states=`
    (the estimates are split among that many independently trained states, in order).
    """
    s, arrays = _check_call(name, params, dist, n_estimates, n_samples, options)
    check_backend(backend, device)
    return driver_of(backend).single_node(
        s, f, arrays, dist=dist, n_estimates=n_estimates, n_samples=n_samples, seed=seed, device=device,
        **{**s.options, **options},
    )


# installed plug-ins join the catalog when the package is first imported, in every process (estimators.plugins)
from estimators import plugins  # noqa: E402

plugins.load()
