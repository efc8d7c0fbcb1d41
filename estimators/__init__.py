"""Monte Carlo gradient estimators for Bernoulli, categorical and Gaussian nodes, written once for every backend.

Public API::

    names() -> list[str]                    the catalog (estimators.catalog: every module that declares a SPEC)
    spec(name) -> Spec                      what an estimator is: family, bias, distributions, cost, options, paper
    module(name)                            its module: SPEC, surrogate, and State / init_state if it has state
    grad_samples(name, f, params, *, dist, backend, n_estimates, n_samples=1, seed=0, device="cpu", **options)

Backends ("torch" eager, "torch-compile": the torch ops under torch.compile, "jax" jitted) supply the op set and a
driver (estimators.driver) and are imported only when first used.
"""

from __future__ import annotations

from estimators import catalog
from estimators.api import available_backends, check_backend, grad_samples, has_cuda
from estimators.dist import DISTS, PARAM_NAMES
from estimators.driver import BACKENDS, driver, ops
from estimators.ops import Downstream, Ops
from estimators.spec import Spec

__all__ = ["names", "spec", "module", "grad_samples", "available_backends", "check_backend", "has_cuda", "driver",
           "ops", "Spec", "Ops", "Downstream", "BACKENDS", "DISTS", "PARAM_NAMES"]


def names() -> list[str]:
    """Every estimator in the catalog, in catalog order."""
    return catalog.names()


def spec(name: str):
    """The backend-neutral spec of one estimator."""
    return catalog.spec(name)


def module(name: str):
    """The estimator's module (SPEC, surrogate, State, init_state)."""
    return catalog.module(name)


# installed plug-ins join the catalog when the package is first imported, in every process (estimators.plugins)
from estimators import plugins  # noqa: E402

plugins.load()
