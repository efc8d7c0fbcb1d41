"""Biased estimators: their bias is what theory says it is, clearly non-zero, and moves as theory says."""

from __future__ import annotations

import numpy as np
import pytest

import estimators
from tests.truths import BACKENDS, POINTS, bernoulli_expectation, bernoulli_truth, df6_numpy, f6, variance_and_se, xp

N = 20_000
AWAY = POINTS["bernoulli"]["away"]


def sigmoid(x):
    return 1 / (1 + np.exp(-x.astype(np.float64)))


def rows(name, backend, logits=AWAY, n=N, **options):
    return estimators.grad_samples(name, f6(backend), {"logits": logits}, dist="bernoulli", backend=backend,
                                   n_estimates=n, seed=5, **options)["logits"].astype(np.float64)


def se(g):
    return g.std(0, ddof=1) / np.sqrt(len(g))


def bias_and_se(g, truth):
    """||mean - truth|| and a standard error for it (norm of the per-coordinate standard errors)."""
    return float(np.linalg.norm(g.mean(0) - truth)), float(np.linalg.norm(se(g)))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,known_mean", [
    # pass-through: d b / d logits := 1, so the mean is E[df/db(b)]
    ("st", lambda lg: bernoulli_expectation(lg, df6_numpy)),
    # sigmoid-adjusted: d b / d logits := sigmoid'(logits), so the mean is sigmoid'(logits) E[df/db(b)]
    ("st-sigmoid", lambda lg: sigmoid(lg) * (1 - sigmoid(lg)) * bernoulli_expectation(lg, df6_numpy)),
])
def test_straight_through_has_its_known_bias(name, known_mean, backend):
    g = rows(name, backend)
    z_known = (g.mean(0) - known_mean(AWAY)) / se(g)
    assert np.all(np.abs(z_known) < 4), z_known
    z_truth = (g.mean(0) - bernoulli_truth(AWAY)) / se(g)
    assert np.max(np.abs(z_truth)) > 10, z_truth


@pytest.mark.parametrize("backend", BACKENDS)
def test_st_sigmoid_slope_samples_the_sharpened_neuron(backend):
    """slope s: b ~ Bernoulli(sigmoid(s * logits)), backward d sigmoid(s * logits) / d logits (seed 002)."""
    s = 2.0
    g = rows("st-sigmoid", backend, slope=s)
    p = sigmoid(s * AWAY)
    known = s * p * (1 - p) * bernoulli_expectation(s * AWAY, df6_numpy)
    assert np.all(np.abs((g.mean(0) - known) / se(g)) < 4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gumbel_softmax_bias_falls_and_variance_grows_as_tau_falls(backend):
    truth = bernoulli_truth(AWAY)
    stats = []
    for tau in (2.0, 0.5, 0.1):  # variance grows ~150x from 2.0 to 0.1: 100k draws resolve the bias step
        g = rows("gumbel-softmax", backend, n=100_000, tau=tau)
        stats.append((*bias_and_se(g, truth), *variance_and_se(g)))
    for (b_hi, se_hi, v_hi, vse_hi), (b_lo, se_lo, v_lo, vse_lo) in zip(stats, stats[1:]):
        assert b_hi - b_lo > 4 * (se_hi + se_lo), stats
        assert v_lo - v_hi > 4 * np.hypot(vse_hi, vse_lo), stats
    assert stats[0][0] > 10 * stats[0][1]  # clearly biased at a warm temperature


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dist", ["bernoulli", "categorical"])
def test_st_gumbel_is_clearly_biased(dist, backend):
    from tests.truths import problem

    prob = problem(dist, "away")
    g = estimators.grad_samples("st-gumbel", prob.f(backend), prob.params, dist=dist, backend=backend,
                                n_estimates=N, seed=6, tau=0.5)["logits"].astype(np.float64)
    bias, bias_se = bias_and_se(g, prob.truth["logits"])
    assert bias > 10 * bias_se, (bias, bias_se)


@pytest.mark.parametrize("backend", BACKENDS)
def test_deterministic_is_the_gradient_of_f_at_the_mean(backend):
    """No sampling: the exact gradient of f(sigmoid(logits)), which differs from grad E[f]."""
    g = rows("deterministic", backend)
    p = sigmoid(AWAY)
    expected = df6_numpy(p[None])[0] * p * (1 - p)
    np.testing.assert_allclose(g[0], expected, rtol=1e-4, atol=1e-6)
    assert np.all(g.std(0) < 1e-5)
    assert np.max(np.abs(g[0] - bernoulli_truth(AWAY))) > 1e-2


@pytest.mark.parametrize("backend", BACKENDS)
def test_nvil_normalise_rescales_by_the_frozen_std(backend):
    """normalise=1 divides the centred signal by max(1, sqrt(v)): with a frozen state (c = 1.5, v = 16) the mean is
    the gradient / 4, clearly not the gradient; normalise=0 (the default) on the same state is unbiased."""
    _, arr = xp(backend)
    state = {**estimators.get("nvil", backend).init_state({"logits": (6,)}),
             "signal": (arr(np.float32(1.5)), arr(np.float32(16.0)), arr(np.float32(0.0)))}
    truth = bernoulli_truth(AWAY)
    scaled = rows("nvil", backend, state=state, warmup=0, normalise=1)
    assert np.all(np.abs((scaled.mean(0) - truth / 4) / se(scaled)) < 4)
    assert np.max(np.abs((scaled.mean(0) - truth) / se(scaled))) > 10
    plain = rows("nvil", backend, state=state, warmup=0)
    assert np.all(np.abs((plain.mean(0) - truth) / se(plain)) < 4)
