"""Every unbiased estimator, in every backend, on every distribution it supports: its mean lies within
4 standard errors of the exact gradient, at the symmetric point (logits 0) and away from it."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

import estimators
from tests.truths import BACKENDS, chain_params, chain_rows, chain_truth, problem, z_scores

N = 20_000
# estimators that need more than a bare node (`requires`, e.g. local-reparam) are tested on their models
UNBIASED = [n for n in estimators.names() if estimators.spec(n).unbiased and not estimators.spec(n).requires]
CASES = [(n, d) for n in UNBIASED for d in estimators.spec(n).dists]


def n_samples(name: str) -> int:
    return estimators.spec(name).min_samples


def options(name: str) -> dict[str, int]:
    """Trained control variates (REBAR, RELAX) are unbiased whatever their state: a short warm-up of two states
    proves it as well as the default's 4 x 100 Adam steps, in a fraction of the time."""
    return {"warmup": 20, "states": 2} if estimators.spec(name).state == "trained" else {}


@pytest.mark.parametrize("point", ["zero", "away"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,dist", CASES)
def test_single_node_mean_matches_exact(name, dist, backend, point):
    prob = problem(dist, point)
    g = estimators.grad_samples(name, prob.f(backend), prob.params, dist=dist, backend=backend,
                                n_estimates=N, n_samples=n_samples(name), seed=1, **options(name))
    for k, truth in prob.truth.items():
        if name == "exact" or name == "indecater" and dist == "categorical":
            # indecater on one categorical variable sums over all its values: every row is the exact gradient
            np.testing.assert_allclose(g[k], np.broadcast_to(truth, g[k].shape), atol=2e-6, rtol=1e-5)
        else:
            z = z_scores(g[k], truth)
            assert np.all(np.abs(z) < 4), (k, z)


def chain_points() -> dict[str, dict[str, np.ndarray]]:
    return {"zero": chain_params(3, 3, seed=3, zero_logits=True), "away": chain_params(3, 3, seed=3)}


@cache
def chain_exact(point: str) -> dict[str, np.ndarray]:
    """Every layer's exact gradient by float64 NumPy enumeration, independently of both backends."""
    return chain_truth(chain_points()[point])


@pytest.mark.parametrize("point", ["zero", "away"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", [n for n in UNBIASED if "bernoulli" in estimators.spec(n).dists])
def test_chain_every_layer_unbiased(name, backend, point):
    """Depth 3, width 3: all layers' parameters against joint enumeration of all 2^9 configurations."""
    params = chain_points()[point]
    truth = chain_exact(point)
    g = chain_rows(name, params, backend, N, n_samples=n_samples(name), seed=2, **options(name))
    assert set(g) == set(params)
    for k in params:
        if name == "exact":
            np.testing.assert_allclose(g[k][0], truth[k], atol=1e-6, rtol=1e-5)
        else:
            z = z_scores(g[k], truth[k])
            assert np.all(np.abs(z) < 4), (k, z)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n,point", [(3, "zero"), (5, "away")])
def test_arms_unbiased_with_more_than_two_draws(n, point, backend):
    """The parametrized tests run multi-sample estimators with 2 draws, where ARMS's copula is the antithetic
    pair (DisARM); with 3 and 5 draws the Dirichlet copula correlates them and the correction p(1-p)/(p - joint)
    is not DisARM's: single node and every layer of the chain, 3 draws at logits 0 and 5 away from them."""
    prob = problem("bernoulli", point)
    g = estimators.grad_samples("arms", prob.f(backend), prob.params, dist="bernoulli", backend=backend,
                                n_estimates=N, n_samples=n, seed=3)["logits"]
    z = z_scores(g, prob.truth["logits"])
    assert np.all(np.abs(z) < 4), z
    params = chain_points()[point]
    truth = chain_exact(point)
    rows = chain_rows("arms", params, backend, N, n_samples=n, seed=4)
    for k in params:
        z = z_scores(rows[k], truth[k])
        assert np.all(np.abs(z) < 4), (k, z)
