"""The backends agree: every estimator's rows are the same in torch and JAX on the same uniforms
(float32 rounding apart), exact gradients agree to 1e-5, and every estimator's mean and variance are
statistically indistinguishable on independent draws (a two-sample z-test)."""

from __future__ import annotations

import numpy as np
import pytest

import estimators
from estimators.api import node_objective
from estimators.driver import tree_map
from estimators.rng import Rng
from tests.truths import BACKENDS, chain_params, chain_rows, problem, variance_and_se

pytestmark = pytest.mark.skipif(len(BACKENDS) < 2, reason="needs both torch and jax installed")
N = 20_000


def first_dist(name: str) -> str:
    return estimators.spec(name).dists[0]


def both(name: str, dist: str, **options):
    prob = problem(dist, "away")
    n_samples = estimators.spec(name).min_samples
    return [estimators.grad_samples(name, prob.f(b), prob.params, dist=dist, backend=b, n_estimates=N,
                                    n_samples=n_samples, seed=11 + i, **options)
            for i, b in enumerate(("torch", "jax"))]


@pytest.mark.parametrize("dist", ["bernoulli", "categorical"])
def test_exact_gradients_agree(dist):
    t, j = both("exact", dist)
    np.testing.assert_allclose(t["logits"][0], j["logits"][0], atol=1e-5, rtol=0)


def test_chain_exact_gradients_agree():
    from bench.problems.chain import Chain
    from bench.problems.engine import exact_objective
    from bench.stats.truths import gradient

    params, model = chain_params(3, 3, seed=4), Chain(3, 3)
    joint = {b: gradient(estimators.ops(b), lambda p, b=b: exact_objective(model, estimators.ops(b), p, {}), params)
             for b in ("torch", "jax")}
    nested = {b: chain_rows("exact", params, b, 1) for b in ("torch", "jax")}
    for k in params:
        np.testing.assert_allclose(joint["torch"][k], joint["jax"][k], atol=1e-5, rtol=0)
        np.testing.assert_allclose(nested["torch"][k][0], nested["jax"][k][0], atol=1e-5, rtol=0)


ALL = ["torch", "jax"]  # torch-compile's own rows are eager torch's on the same uniforms (tests/test_torch_compile.py)
SAME_UNIFORMS = [(n, d) for n in estimators.names() for d in estimators.spec(n).dists
                 if not estimators.spec(n).requires]


@pytest.mark.parametrize("name,dist", SAME_UNIFORMS)
def test_same_rows_in_every_backend_on_the_same_uniforms(name, dist):
    """One module, both frameworks: the rows of the same uniforms (the ones torch draws for rows 0-7), at the
    same state, agree to float32 rounding: what each backend computes is the module's math, not its own."""
    prob = problem(dist, "away")
    spec = estimators.spec(name)
    state, rows = None, {}
    for backend in ALL:
        d = estimators.driver(backend)
        f = prob.f("jax" if backend == "jax" else "torch")
        obj = node_objective(d.ops, name, f, dist, prob.params, n_samples=spec.min_samples, seed=0, options={})
        if state is None:
            u = d.uniforms(obj, Rng(5), np.arange(8))
            state = tree_map(d.ops.to_numpy, obj.state)
        rows[backend] = d.rows_on(obj, state, u)
    for backend in ALL[1:]:
        for k, want in rows["torch"].items():
            np.testing.assert_allclose(rows[backend][k], want, rtol=1e-4, atol=1e-5 * max(np.abs(want).max(), 1),
                                       err_msg=f"{backend} {k}")


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
