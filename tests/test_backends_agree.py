"""PyTorch and JAX agree: exact gradients to 1e-5, and every estimator's mean and variance are
statistically indistinguishable (independent draws, so a two-sample z-test)."""

from __future__ import annotations

import numpy as np
import pytest

import estimators
from estimators.chain import init_params
from tests.truths import BACKENDS, problem, variance_and_se

pytestmark = pytest.mark.skipif(len(BACKENDS) < 2, reason="needs both torch and jax installed")
N = 20_000


def first_dist(name: str) -> str:
    return estimators.spec(name).dists[0]


def both(name: str, dist: str, **options):
    prob = problem(dist, "away")
    n_samples = 2 if estimators.spec(name).multi_sample else 1
    return [estimators.grad_samples(name, prob.f(b), prob.params, dist=dist, backend=b, n_estimates=N,
                                    n_samples=n_samples, seed=11 + i, **options)
            for i, b in enumerate(("torch", "jax"))]


@pytest.mark.parametrize("dist", ["bernoulli", "categorical"])
def test_exact_gradients_agree(dist):
    t, j = both("exact", dist)
    np.testing.assert_allclose(t["logits"][0], j["logits"][0], atol=1e-5, rtol=0)


def test_chain_exact_gradients_agree():
    from estimators.jax import chain as jax_chain
    from estimators.torch import chain as torch_chain

    params = init_params(3, 3, seed=4)
    joint_t, joint_j = torch_chain.exact_gradient(params), jax_chain.exact_gradient(params)
    nested_t = torch_chain.grad_samples("exact", params, n_estimates=1)
    nested_j = jax_chain.grad_samples("exact", params, n_estimates=1)
    for k in params:
        np.testing.assert_allclose(joint_t[k], joint_j[k], atol=1e-5, rtol=0)
        np.testing.assert_allclose(nested_t[k][0], nested_j[k][0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", [n for n in estimators.names()  # `requires`: compared on its model instead
                                  if n not in ("exact", "deterministic") and not estimators.spec(n).requires])
def test_mean_and_variance_indistinguishable(name):
    dist = first_dist(name)
    t, j = both(name, dist)
    for k in t:
        a, b = t[k].astype(np.float64), j[k].astype(np.float64)
        se = np.sqrt(a.var(0, ddof=1) / len(a) + b.var(0, ddof=1) / len(b))
        z_mean = (a.mean(0) - b.mean(0)) / se
        assert np.all(np.abs(z_mean) < 4), (k, z_mean)
        (va, sa), (vb, sb) = variance_and_se(a), variance_and_se(b)
        assert abs(va - vb) < 4 * np.hypot(sa, sb), (k, va, vb)


@pytest.mark.parametrize("name", ["reinmax", "gumbel-rao", "muprop", "indecater"])
def test_categorical_mean_and_variance_indistinguishable(name):
    """The estimators that support both discrete distributions, on the 4-way categorical too (the test above
    takes each estimator's first distribution, Bernoulli)."""
    t, j = both(name, "categorical")
    a, b = t["logits"].astype(np.float64), j["logits"].astype(np.float64)
    se = np.sqrt(a.var(0, ddof=1) / len(a) + b.var(0, ddof=1) / len(b))
    if np.all(se == 0):  # indecater on one categorical variable: every row is the exact gradient
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
        return
    assert np.all(np.abs((a.mean(0) - b.mean(0)) / se) < 4)
    (va, sa), (vb, sb) = variance_and_se(a), variance_and_se(b)
    assert abs(va - vb) < 4 * np.hypot(sa, sb), (va, vb)


def test_deterministic_agrees():
    t, j = both("deterministic", "bernoulli")
    np.testing.assert_allclose(t["logits"][0], j["logits"][0], atol=1e-5, rtol=0)
