"""The speed suite's floor, estimator "deterministic" (every node replaced by its mean), on every problem: it
builds in both backends, its gradient is finite, torch and JAX agree on it, and it is the gradient of the
model's loss at the means computed another way (the toys' closed forms; the models' evaluation pass, mode
"mean", differentiated by autodiff)."""

from __future__ import annotations

import numpy as np
import pytest

from bench import problems as P
from bench.problems import engine as M
from tests.truths import BACKENDS, gradient, model_rows, ops

DEPTH, BATCH = 2, 4


def params_of(problem: str) -> dict:
    """The problem at its quick-preset size."""
    return {**P.PROBLEMS[problem].defaults, **P.PROBLEMS[problem].sizes.get("quick", {"": {}})[""]}


def floor_gradient(problem: str, backend: str) -> dict[str, np.ndarray]:
    """One row of the floor's gradient, through the engine and driver the speed suite times."""
    spec, pp = P.PROBLEMS[problem], params_of(problem)
    model = spec.model(pp, DEPTH, BATCH, "deterministic")
    rows = model_rows(model, "deterministic", model.init_params(0), spec.fixed_batch(pp, BATCH, 0), backend, 1,
                      batch_size=BATCH)
    return {k: v[0] for k, v in rows.items()}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("problem", list(P.PROBLEMS))
def test_floor_builds_with_a_finite_gradient(problem, backend):
    g = floor_gradient(problem, backend)
    assert g and all(np.isfinite(v).all() for v in g.values()), problem
    assert any(np.abs(v).max() > 0 for v in g.values()), "a floor with no gradient does no backward pass"


@pytest.mark.skipif(len(BACKENDS) < 2, reason="needs both torch and jax installed")
@pytest.mark.parametrize("problem", list(P.PROBLEMS))
def test_floor_agrees_across_backends(problem):
    t, j = floor_gradient(problem, "torch"), floor_gradient(problem, "jax")
    assert t.keys() == j.keys()
    for k in t:
        np.testing.assert_allclose(t[k], j[k], rtol=1e-4, atol=1e-5 * (1 + np.abs(t[k]).max()), err_msg=k)


def test_toy_floors_are_the_gradient_at_the_mean():
    """toy-bernoulli: d/dtheta sum_i (sigmoid(theta_i) - t)^2; toy-gaussian: d/dmu mu^2 = 2 mu, nothing for sigma."""
    pp = params_of("toy-bernoulli")
    s = 1 / (1 + np.exp(-pp["theta"]))
    np.testing.assert_allclose(floor_gradient("toy-bernoulli", "torch")["logits"],
                               [2 * (s - pp["t"]) * s * (1 - s)], rtol=1e-5)
    g = floor_gradient("toy-gaussian", "torch")
    np.testing.assert_allclose(g["loc"], [2 * params_of("toy-gaussian")["mu"]], rtol=1e-5)
    np.testing.assert_allclose(g["scale"], [0.0], atol=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("problem", list(P.PROBLEMS))
def test_model_floor_is_the_gradient_of_the_mean_pass(problem, backend):
    """The surrogate engine with "deterministic" at every layer against autodiff of `forward(mode="mean")`, the
    evaluation pass that feeds each node's mean on: two routes to the gradient of the mean network's loss."""
    pp = params_of(problem)
    model = P.PROBLEMS[problem].model(pp, DEPTH, BATCH, "deterministic")
    params = model.init_params(0)
    o = ops(backend)
    ctx = {k: o.asarray(v) for k, v in P.PROBLEMS[problem].fixed_batch(pp, BATCH, seed=0).items()}
    nodes = [None] * model.n_stochastic  # mode "mean" draws nothing

    def loss(p):
        return M.forward(model, o, p, ctx, nodes, "mean")["loss"].mean()

    want = gradient(backend, loss, params)
    got = floor_gradient(problem, backend)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-5 * (1 + np.abs(want[k]).max()), err_msg=k)
