"""The VAEs' importance-weighted bound (objective=iwae:k=K) and VIMCO, the estimator built for it: the exact
bound by enumerating K-tuples against Monte Carlo of a plain pass, the bound tighter than the ELBO, torch equal
to JAX on the same uniforms, VIMCO unbiased for the bound's gradient, straight-through visibly not, and the
estimators that would be wrong on the bound refused."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

import estimators
from bench import problems as P
from bench.problems import engine as M
from tests.test_models import assert_forward_agrees
from tests.truths import BACKENDS, gradient, model_rows, ops

K = 3
SMALL = {"sbn-vae": ({"width": 2, "variant": "nonlinear", "hidden": 8}, 2),  # (parameters, depth)
         "categorical-vae": ({"vars": 2, "cats": 3}, 1)}


def _setup(problem: str, k: int = K, batch_size: int = 3):
    small, depth = SMALL[problem]
    pp = {**P.PROBLEMS[problem].defaults, **small, "objective": "iwae", "k": k}
    model = P.PROBLEMS[problem].model(pp, depth, batch_size)
    return pp, model, model.init_params(0), P.PROBLEMS[problem].fixed_batch(pp, batch_size, seed=0)


def _exact(model, backend, params, data):
    o = ops(backend)
    ctx = {k: o.asarray(v) for k, v in data.items()}
    value = float(M.exact_objective(model, o, {k: o.asarray(v) for k, v in params.items()}, ctx))
    return value, gradient(backend, lambda p: M.exact_objective(model, o, p, ctx), params)


@pytest.mark.parametrize("backend", BACKENDS)
def test_exact_bound_equals_monte_carlo_of_a_plain_pass_and_is_tighter_than_the_elbo(backend):
    _, model, params, data = _setup("sbn-vae")
    o = ops(backend)
    exact, _ = _exact(model, backend, params, data)
    repeats = 4_000  # the batch tiled: 12 000 independent K-sample bounds
    ctx = {k: o.asarray(np.concatenate([v] * repeats)) for k, v in data.items()}
    rng = np.random.default_rng(5)
    u = [o.asarray(rng.uniform(1e-7, 1, model.node_shape(m, len(data["x"]) * repeats)).astype(np.float32))
         for m in range(model.n_stochastic)]
    loss = o.to_numpy(M.forward(model, o, {k: o.asarray(v) for k, v in params.items()}, ctx, u, "stochastic")["loss"])
    z = (loss.mean() - exact) / (loss.std(ddof=1) / np.sqrt(len(loss)))
    assert abs(z) < 4, (loss.mean(), exact, z)
    elbo, _ = _exact(_setup("sbn-vae", k=1)[1], backend, params, data)
    assert exact < elbo - 0.01, (exact, elbo)  # Burda et al.: the K-sample bound is tighter (a lower loss)


@pytest.mark.skipif(len(BACKENDS) < 2, reason="needs both backends")
def test_torch_and_jax_bounds_equal_on_the_same_uniforms():
    _, model, params, data = _setup("sbn-vae")
    assert_forward_agrees(model, params, data)


def _z_max(problem: str, name: str, backend: str, n: int) -> tuple[float, float]:
    _, model, params, data = _setup(problem)
    _, truth = _exact(model, backend, params, data)
    rows = model_rows(model, name, params, data, backend, n, seed=1)
    n_entries = sum(v.size for v in truth.values())
    limit = norm.ppf(1 - 0.001 / (2 * n_entries))  # Bonferroni: a false alarm once in 1000 runs
    zs = []
    for k, g in rows.items():
        se = g.std(0, ddof=1) / np.sqrt(len(g))
        zs.append(np.where(se > 0, (g.mean(0) - truth[k]) / np.where(se > 0, se, 1), 0).ravel())
    return float(np.abs(np.concatenate(zs)).max()), float(limit)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("problem", list(SMALL))
def test_vimco_is_unbiased_for_the_bound(problem, backend):
    z, limit = _z_max(problem, "vimco", backend, 20_000)
    assert z < limit, (z, limit)


def test_straight_through_through_the_bound_is_biased():
    """The z-test can fail: ST differentiated through the bound is far outside the standard errors."""
    z, limit = _z_max("sbn-vae", "st", "torch", 5_000)
    assert z > 10 * limit, (z, limit)


def test_the_bound_admits_vimco_and_value_gradients_only():
    pp, _, _, _ = _setup("sbn-vae")
    elbo = {**pp, "objective": "elbo"}
    vae = P.PROBLEMS["sbn-vae"]
    assert vae.supports("vimco", pp) and not vae.supports("vimco", elbo) and not vae.supports("vimco")
    assert vae.supports("st", pp) and vae.supports("gumbel-softmax", pp)
    for name in ("reinforce", "disarm", "rloo", "rebar", "exact"):  # per-sample signals: wrong on the bound
        assert not vae.supports(name, pp) and vae.supports(name, elbo)
    with pytest.raises(ValueError, match="importance-weighted"):
        estimators.grad_samples("vimco", lambda b: b.sum(-1), {"logits": np.zeros(3)}, dist="bernoulli",
                                backend=BACKENDS[0], n_estimates=10)
