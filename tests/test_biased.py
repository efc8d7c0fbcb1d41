"""Biased estimators: their bias is what theory says it is, clearly non-zero, and moves as theory says."""

from __future__ import annotations

import numpy as np
import pytest

import estimators
from tests.truths import (
    BACKENDS,
    POINTS,
    TIERED,
    bernoulli_expectation,
    bernoulli_truth,
    df6_numpy,
    f6,
    variance_and_se,
    xp,
)

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
    o = estimators.ops(backend)
    state = estimators.module("nvil").init_state(o, {"logits": (6,)}, 0)._replace(
        signal=(o.asarray(np.float32(1.5)), o.asarray(np.float32(16.0)), o.asarray(np.float32(0.0))))
    truth = bernoulli_truth(AWAY)
    scaled = rows("nvil", backend, state=state, warmup=0, normalise=1)
    assert np.all(np.abs((scaled.mean(0) - truth / 4) / se(scaled)) < 4)
    assert np.max(np.abs((scaled.mean(0) - truth) / se(scaled))) > 10
    plain = rows("nvil", backend, state=state, warmup=0)
    assert np.all(np.abs((plain.mean(0) - truth) / se(plain)) < 4)


# ReinMax (Liu et al. 2023) ---------------------------------------------------------------------------------------
C4 = np.array([1.0, -2.0, 0.5, 3.0])
CAT_AWAY = POINTS["categorical"]["away"]


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def softmax_jacobian(p):
    return np.diag(p) - np.outer(p, p)


def reinmax_mean_categorical(logits, tau, grad_f):
    """E[ReinMax] by enumerating the sample D = e_d: sum_d pi0_d (2 J(pi1) - J(pi0) / 2) grad f(e_d), with
    pi0 = softmax(logits), pi1 = (e_d + softmax(logits / tau)) / 2, J the softmax Jacobian (the paper's
    Algorithm 2), in float64 NumPy."""
    logits = logits.astype(np.float64)
    p0, pt = softmax(logits), softmax(logits / tau)
    out = np.zeros_like(p0)
    for d, e in enumerate(np.eye(len(logits))):
        out += p0[d] * (2 * softmax_jacobian((e + pt) / 2) - softmax_jacobian(p0) / 2) @ grad_f(e)
    return out


def cubic(backend):
    """f(x) = (x.c - 1/2)^3 on a one-hot x: not quadratic, so ReinMax's second-order mean is not exact."""

    _, arr = xp(backend)
    c = arr(C4.astype(np.float32))
    return lambda x: ((x * c).sum(-1) - 0.5) ** 3


def cubic_grad(x):
    return 3 * (x @ C4 - 0.5) ** 2 * C4


def cubic_truth(logits):
    p = softmax(logits.astype(np.float64))
    fk = (C4 - 0.5) ** 3
    return p * (fk - p @ fk)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("tau", [1.0, 2.0])
def test_reinmax_mean_is_its_formula_on_a_4_way_categorical(tau, backend):
    """The mean of the estimates against an independent NumPy evaluation of the paper's formula, enumerating
    the 4 values of the sample, on a cubic f where that mean is not the true gradient."""
    g = estimators.grad_samples("reinmax", cubic(backend), {"logits": CAT_AWAY}, dist="categorical",
                                backend=backend, n_estimates=N, seed=8, tau=tau)["logits"].astype(np.float64)
    known = reinmax_mean_categorical(CAT_AWAY, tau, cubic_grad)
    assert np.all(np.abs((g.mean(0) - known) / se(g)) < 4), (g.mean(0), known)
    assert np.max(np.abs((known - cubic_truth(CAT_AWAY)) / se(g))) > 10  # the formula is not the truth here


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("tau", [1.0, 2.0])  # tau = 1 takes the slope's closed form, (1 - p) / 2 or p / 2
def test_reinmax_mean_is_its_formula_on_bernoullis(tau, backend):
    """Bernoulli as the 2-way categorical (0, logit): d b / d logit := 2 q (1 - q) - sigmoid'(logit) / 2,
    q = (b + sigmoid(logit / tau)) / 2; at tau = 2 its mean on f6 is not the truth (at tau = 1 it is: ReinMax is
    exact for f quadratic in the sample, as f6 is)."""
    g = rows("reinmax", backend, tau=tau)
    s, st = sigmoid(AWAY), sigmoid(AWAY / tau)

    def weighted(b):
        q = (b + st) / 2
        return df6_numpy(b) * (2 * q * (1 - q) - s * (1 - s) / 2)

    known = bernoulli_expectation(AWAY, weighted)
    assert np.all(np.abs((g.mean(0) - known) / se(g)) < 4), (g.mean(0), known)
    if tau != 1:
        assert np.max(np.abs((known - bernoulli_truth(AWAY)) / se(g))) > 10


def poly(p, categorical):
    """The paper's polynomial programming toy: mean_i |x_i - 0.45|^p, x_i a Bernoulli or the second class of
    a 2-way categorical (Liu et al. 2023, section 6.1 and their poly/ code)."""
    if categorical:
        return lambda x: (abs(x[..., 1] - 0.45) ** p).mean(-1)
    return lambda b: (abs(b - 0.45) ** p).mean(-1)


def poly_truth(p):
    s = sigmoid(AWAY)
    return s * (1 - s) * (0.55**p - 0.45**p) / len(AWAY)


@pytest.mark.parametrize("backend", TIERED)
@pytest.mark.parametrize("p", [1.5, 2.0, 3.0])
def test_reinmax_is_less_biased_than_straight_through_on_the_papers_toy(p, backend):
    """The paper's toy at logits away from 0 (at 0 ReinMax and ST have the same mean on one Bernoulli): ReinMax's
    bias is clearly below that of the straight-through estimators the paper compares with: ST (st-sigmoid, the
    softmax/sigmoid straight-through; and the pass-through st) and ST-Gumbel-softmax (st-gumbel) on Bernoullis;
    ST-GS (st-gumbel) and GR-MCK (gumbel-rao) on the 2-way categorical. At p = 2 (quadratic) it is unbiased."""
    cat_logits = np.stack([np.zeros_like(AWAY), AWAY], -1)
    truth = {"bernoulli": poly_truth(p), "categorical": np.stack([-poly_truth(p), poly_truth(p)], -1)}
    rivals = {"bernoulli": ["st-sigmoid", "st", "st-gumbel"], "categorical": ["st-gumbel", "gumbel-rao"]}
    for dist, logits in (("bernoulli", AWAY), ("categorical", cat_logits)):
        found = {}
        for name in ["reinmax", *rivals[dist]]:
            g = estimators.grad_samples(name, poly(p, dist == "categorical"), {"logits": logits}, dist=dist,
                                        backend=backend, n_estimates=N, seed=9)["logits"].astype(np.float64)
            found[name] = bias_and_se(g, truth[dist])
            if name == "reinmax" and p == 2.0:
                assert np.all(np.abs((g.mean(0) - truth[dist]) / se(g)) < 4), (dist, g.mean(0), truth[dist])
        b, s = found["reinmax"]
        for name in rivals[dist]:
            assert found[name][0] - b > 4 * (found[name][1] + s), (dist, found)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dist", ["bernoulli", "categorical"])
def test_reinmax_is_unbiased_for_quadratic_f(dist, backend):
    """Second-order accuracy: f6 is quadratic in every Bernoulli, f_cat quadratic in the one-hot sample, so the
    mean is the exact gradient (st-gumbel, tested above, is far from it on the same problems)."""
    from tests.truths import problem

    prob = problem(dist, "away")
    g = estimators.grad_samples("reinmax", prob.f(backend), prob.params, dist=dist, backend=backend,
                                n_estimates=N, seed=10)["logits"].astype(np.float64)
    assert np.all(np.abs((g.mean(0) - prob.truth["logits"]) / se(g)) < 4)


# Gumbel-Rao (Paulus et al. 2021) ---------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dist", ["bernoulli", "categorical"])
@pytest.mark.parametrize("tau", [1.0, 0.5])
def test_gumbel_rao_has_the_mean_of_st_gumbel(tau, dist, backend):
    """Rao-Blackwellisation keeps the mean: gumbel-rao (k = 10) against st-gumbel, independent draws
    (two-sample z-test), both clearly biased (st-gumbel's test above)."""
    from tests.truths import problem

    prob = problem(dist, "away")
    a, b = (estimators.grad_samples(name, prob.f(backend), prob.params, dist=dist, backend=backend,
                                    n_estimates=N, seed=seed, tau=tau)["logits"].astype(np.float64)
            for name, seed in (("gumbel-rao", 12), ("st-gumbel", 13)))
    z = (a.mean(0) - b.mean(0)) / np.hypot(se(a), se(b))
    assert np.all(np.abs(z) < 4), z


def _rejection(logits, cls, n, rng):
    """Perturbed logits logits + G, G standard Gumbel, kept where their argmax is cls (NumPy)."""
    out = []
    while sum(len(o) for o in out) < n:
        z = logits - np.log(-np.log(rng.uniform(size=(4 * n, len(logits)))))
        out.append(z[z.argmax(-1) == cls])
    return np.concatenate(out)[:n]


@pytest.mark.parametrize("backend", BACKENDS)
def test_gumbel_rao_draws_the_conditional_gumbels(backend):
    """The perturbed logits given the sample: their argmax is the sample, and their first two moments match
    rejection sampling in NumPy, for one draw and for a point of the shifted lattice the k draws come from."""

    gumbel_rao, o = estimators.module("gumbel-rao"), estimators.ops(backend)

    class mod:  # noqa: N801 - the module's functions with the backend's ops bound
        def lattice_uniforms(u, k, dim):
            return gumbel_rao.lattice_uniforms(o, u, k, dim)

        def conditional_noise(dist, logits, x, v):
            return gumbel_rao.conditional_noise(o, dist, logits, x, v)

    _, arr = xp(backend)
    rng = np.random.default_rng(0)
    n = 40_000
    logits = np.array([1.0, 2.0, 3.0], np.float32)
    for cls in range(3):
        ref = _rejection(logits.astype(np.float64), cls, n, rng)
        u = arr(rng.uniform(1e-7, 1, (n, 3)).astype(np.float32))
        for v in (u, mod.lattice_uniforms(u, 8, 3)[7]):
            x = arr(np.broadcast_to(np.eye(3, dtype=np.float32)[cls], (n, 3)).copy())
            z = np.asarray(mod.conditional_noise("categorical", arr(logits), x, v)) + logits
            assert np.all(z.argmax(-1) == cls)
            for got, want in ((z, ref), (z**2, ref**2)):  # first two moments, two-sample z-tests
                zz = (got.mean(0) - want.mean(0)) / np.hypot(got.std(0), want.std(0)) * np.sqrt(n)
                assert np.all(np.abs(zz) < 4), (cls, zz)
    # Bernoulli: z~ = logit - logit(u') given b, against logistic noise kept where its sign is b
    theta = np.array([-1.5, 0.3, 2.0], np.float32)
    noise = -np.log(1 / rng.uniform(size=(20 * n, 3)) - 1)
    for b in (0.0, 1.0):
        u = arr(rng.uniform(1e-7, 1, (n, 3)).astype(np.float32))
        z = np.asarray(mod.conditional_noise("bernoulli", arr(theta), arr(np.full((n, 3), b, np.float32)), u)) + theta
        assert np.all((z > 0) == (b == 1))
        for i in range(3):
            kept = theta[i] + noise[:, i]
            ref = kept[(kept > 0) == (b == 1)][:n]
            for got, want in ((z[:, i], ref), (z[:, i] ** 2, ref**2)):
                zz = (got.mean() - want.mean()) / np.hypot(got.std(), want.std()) * np.sqrt(n)
                assert abs(zz) < 4, (b, i, zz)
