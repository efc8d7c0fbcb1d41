"""RODEO (Shi et al. 2022), CARMS (Dimitriev & Zhou 2021) and DisARM for categorical variables by stick breaking
(Dong, Mnih & Tucker 2021): all three unbiased, so each mean is z-tested against the exact gradient by enumeration
in NumPy, in torch and JAX, at logits 0 and away from them, on nodes of several parameters (3 categorical variables
of 3 categories, 6 Bernoulli units), with a Bonferroni limit over the coordinates tested; plus the relations the
papers state, row by row on the same uniforms where they are exact.

tests/test_unbiased.py runs all three on the single-variable problems and RODEO on the chain too; here: more
variables, more draws, RODEO with Stein terms switched on, and the relations.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import chisquare, norm

import estimators
from estimators.api import node_objective
from tests.truths import TIERED, bernoulli_truth, df6_numpy, f6, problem, variance_and_se, xp

N = 20_000
# TIERED backends (tests/truths.py); tests/test_unbiased.py z-tests all three in JAX in the fast tier
FAMILY_ALPHA = 1e-4  # chance that a correct estimator fails one test, over all the coordinates it checks
A3 = np.array([[1.0, -2.0, 0.5], [0.7, 1.5, -1.0], [-0.4, 0.9, 2.0]], np.float32)
CAT3 = {"zero": np.zeros((3, 3), np.float32),
        "away": np.array([[0.5, -1.0, 0.2], [1.3, 0.0, -0.7], [-1.2, 0.4, 0.9]], np.float32)}


def limit(m: int) -> float:
    """|z| bound for m coordinates: two-sided Bonferroni at FAMILY_ALPHA (4.2 for 4 coordinates, 4.5 for 9)."""
    return float(norm.isf(FAMILY_ALPHA / (2 * m)))


def assert_unbiased(g: np.ndarray, truth: np.ndarray) -> None:
    g = g.reshape(len(g), -1).astype(np.float64)
    se = g.std(0, ddof=1) / np.sqrt(len(g))
    z = (g.mean(0) - truth.reshape(-1)) / se
    assert np.all(np.abs(z) < limit(z.size)), (z, limit(z.size))


def assert_less_variance(a: np.ndarray, b: np.ndarray) -> None:
    (va, sa), (vb, sb) = variance_and_se(a), variance_and_se(b)
    assert vb - va > 4 * np.hypot(sa, sb), ((va, sa), (vb, sb))


def f_cat3(backend: str):
    """A nonlinear f of 3 categorical variables (one-hot [..., 3, 3]) that couples them: (s.1 - 1/2)^2 + s_0 s_2 / 2,
    s_v = x_v . a_v."""
    _, arr = xp(backend)
    a = arr(A3)

    def f(x):
        s = (x * a).sum(-1)
        return (s.sum(-1) - 0.5) ** 2 + 0.5 * s[..., 0] * s[..., 2]

    return f


def cat3_truth(logits: np.ndarray) -> np.ndarray:
    """grad E[f] = E[f(x) (x - p)] over the 27 joint configurations, in float64."""
    lg = logits.astype(np.float64)
    p = np.exp(lg - lg.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    out = np.zeros_like(p)
    for cfg in itertools.product(range(3), repeat=3):
        x = np.eye(3)[list(cfg)]
        s = (x * A3).sum(-1)
        fx = (s.sum() - 0.5) ** 2 + 0.5 * s[0] * s[2]
        out += np.prod((x * p).sum(-1)) * fx * (x - p)
    return out


def rows(name, dist, logits, f, backend, *, n=N, seed=0, n_samples=1, **options):
    return estimators.grad_samples(name, f, {"logits": logits}, dist=dist, backend=backend, n_estimates=n,
                                   n_samples=n_samples, seed=seed, **options)["logits"].astype(np.float64)


def rows_on(name, dist, logits, f, backend, u, **options):
    """Rows of `name` on the given uniforms u [n_u, n, *shape] (one draw per row)."""
    d = estimators.driver(backend)
    obj = node_objective(d.ops, name, f, dist, {"logits": logits}, n_samples=u.shape[0], seed=0, options=options)
    return d.rows_on(obj, obj.state, [u[:, :, None]])["logits"].astype(np.float64)


# CARMS (Dimitriev & Zhou 2021) ------------------------------------------------------------------------------------
CARMS = estimators.module("carms")


@pytest.mark.parametrize("backend", TIERED)
@pytest.mark.parametrize("point,k", [("zero", 3), ("away", 2), ("away", 4)])
def test_carms_is_unbiased_on_several_variables(point, k, backend):
    """3 variables of 3 categories, each coupled across its k draws by the copula, the pair weights per variable."""
    logits = CAT3[point]
    g = rows("carms", "categorical", logits, f_cat3(backend), backend, seed=31 + k, n_samples=k)
    assert_unbiased(g, cat3_truth(logits))


@pytest.mark.parametrize("backend", TIERED)
def test_carms_draws_have_marginal_p_and_pair_law_q(backend):
    """The sampler against the pair law the weights divide by: 3 draws of a 4-way categorical at random orders, each
    draw's category a draw from p, and every ordered pair (z_0, z_1), (z_0, z_2), (z_1, z_2) distributed as
    pair_joint's Q (chi-square over the 16 cells); Q's rows sum to p and it is symmetric."""
    o, (_, arr) = estimators.ops(backend), xp(backend)
    k, n = 3, 40_000
    lg = np.array([0.5, -1.0, 0.2, 1.3], np.float32)
    p = np.exp(lg.astype(np.float64)) / np.exp(lg.astype(np.float64)).sum()
    u = np.random.default_rng(0).uniform(np.finfo(np.float32).tiny, 1, (k, n, 4)).astype(np.float32)
    p_arr = o.softmax(arr(np.broadcast_to(lg, (n, 4)).copy()))
    z = o.to_numpy(CARMS.sample(o, p_arr, CARMS.copula_uniforms(o, arr(u[..., 0])), arr(u[0, :, 1])))
    assert np.all(z.sum(-1) == 1)
    cat = z.argmax(-1)  # [k, n]
    for j in range(k):
        assert chisquare(np.bincount(cat[j], minlength=4), p * n).pvalue > 1e-4
    eye = np.eye(4, dtype=np.float32)  # Q(a, b) from pair_joint: draws 0 and 1 of k = 3 set to (a, b), row-major
    pairs = np.stack([np.repeat(eye, 4, 0), np.tile(eye, (4, 1)), np.repeat(eye, 4, 0)])  # [3, 16, 4]
    joint = o.to_numpy(CARMS.pair_joint(o, o.softmax(arr(np.broadcast_to(lg, (16, 4)).copy())), arr(pairs)))
    q = joint[0, 1].astype(np.float64).reshape(4, 4)
    np.testing.assert_allclose(q.sum(1), p, atol=2e-6)
    np.testing.assert_allclose(q, q.T, atol=2e-6)
    assert np.trace(q) < p @ p  # the copula makes agreeing pairs rarer than independence would
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        observed = np.bincount(cat[a] * 4 + cat[b], minlength=16)
        assert chisquare(observed, q.reshape(-1) * n / q.sum()).pvalue > 1e-4


@pytest.mark.parametrize("backend", TIERED)
@pytest.mark.parametrize("k", [2, 3, 4])
def test_carms_on_two_categories_is_arms_row_by_row(k, backend):
    """The paper: with 2 categories CARMS is ARMS. On one variable with logits (0, phi), phi >= 0, the category-1
    column equals ARMS's row at logit phi on the same copula uniforms: a pair disagrees only as (1, 0) or (0, 1),
    its weight p (1 - p) / Q(1, 0) is ARMS's rescaling p (1 - p) / (p - P(both 1)), and agreeing pairs have equal f."""
    rng = np.random.default_rng(40 + k)
    n = 2_000
    u = rng.uniform(np.finfo(np.float32).tiny, 1, (k, n, 2)).astype(np.float32)
    _, arr = xp(backend)
    for phi in (0.0, 0.4, 1.7):
        lg = np.array([0.0, phi], np.float32)
        carms = rows_on("carms", "categorical", lg, lambda x: (x[..., 1] - 0.3) ** 2 * 3 + x[..., 0], backend, u)
        arms = rows_on("arms", "bernoulli", lg[1:], lambda b: (b[..., 0] - 0.3) ** 2 * 3 + (1 - b[..., 0]), backend,
                       u[..., :1])
        np.testing.assert_allclose(carms[:, 1], arms[:, 0], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(carms[:, 0], -carms[:, 1], rtol=1e-5, atol=1e-6)
        assert np.abs(arms).max() > 0


@pytest.mark.parametrize("backend", TIERED)
@pytest.mark.parametrize("point", ["zero", "away"])
def test_carms_has_less_variance_than_rloo_at_equal_draws(point, backend):
    """The paper's claim: at the same number of draws (evaluations), 4, CARMS beats RLOO (measured on this f: 13.8 vs
    16.9 at logits 0, 11.9 vs 13.5 away)."""
    logits, f = CAT3[point], f_cat3(backend)
    assert_less_variance(rows("carms", "categorical", logits, f, backend, seed=51, n_samples=4),
                         rows("rloo", "categorical", logits, f, backend, seed=52, n_samples=4))


# DisARM by stick breaking (Dong, Mnih & Tucker 2021) ----------------------------------------------------------------
@pytest.mark.parametrize("backend", TIERED)
@pytest.mark.parametrize("point", ["zero", "away"])
def test_disarm_cat_is_unbiased_on_several_variables(point, backend):
    """3 variables of 3 categories: 2 stick-breaking binaries each, their order by the logits (ties at logits 0)."""
    logits = CAT3[point]
    g = rows("disarm-cat", "categorical", logits, f_cat3(backend), backend, seed=61)
    assert_unbiased(g, cat3_truth(logits))


@pytest.mark.parametrize("backend", TIERED)
@pytest.mark.parametrize("phi", [np.array([0.3, 1.2, 2.5]), np.array([-0.4, -1.1, -2.0]), np.zeros(3)])
def test_disarm_cat_on_two_categories_is_disarm_row_by_row(phi, backend):
    """2 categories: one stick-breaking binary per variable, the lower-logit category's; with logits (0, phi) its
    logit is -|phi| and DisARM's estimate is symmetric in u <-> 1 - u, so the category-1 column is DisARM's row at
    logits phi on the same uniforms (3 variables, all phi of one sign so the antithetic pairs match)."""
    _, arr = xp(backend)
    a = arr(np.array([0.9, -0.6, 1.3], np.float32))
    u = np.random.default_rng(62).uniform(np.finfo(np.float32).tiny, 1, (1, 2_000, 3, 2)).astype(np.float32)
    lg = np.stack([np.zeros(3), phi], -1).astype(np.float32)

    def f_bern(b):
        return ((b * a).sum(-1) - 1.0) ** 2 + 0.5 * b[..., 0] * b[..., 1]

    cat = rows_on("disarm-cat", "categorical", lg, lambda x: f_bern(x[..., 1]), backend, u)
    bern = rows_on("disarm", "bernoulli", phi.astype(np.float32), f_bern, backend, u[..., 0])
    np.testing.assert_allclose(cat[..., 1], bern, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(cat[..., 0], -cat[..., 1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", TIERED)
@pytest.mark.parametrize("point", ["zero", "away"])
def test_disarm_cat_has_less_variance_than_rloo_with_two_draws(point, backend):
    """The paper's comparison: one antithetic pair (2 evaluations) against RLOO with 2 independent draws (measured on
    this f: 30 vs 53 at logits 0, 34 vs 42 away)."""
    logits, f = CAT3[point], f_cat3(backend)
    assert_less_variance(rows("disarm-cat", "categorical", logits, f, backend, seed=63),
                         rows("rloo", "categorical", logits, f, backend, seed=64, n_samples=2))


# RODEO (Shi, Zhou, Hwang, Titsias & Mackey 2022) --------------------------------------------------------------------
RODEO = estimators.module("rodeo")


def rodeo_state(backend: str, alpha: float, beta: float):
    """A random network (init_state's) with the Stein terms' weights set: unbiased whatever they are."""
    s = RODEO.init_state(estimators.ops(backend), {"logits": (6,)}, 7)
    o = estimators.ops(backend)
    return s._replace(alpha=o.asarray(np.float32(alpha)), beta=o.asarray(np.float32(beta)),
                      b1=o.asarray(np.linspace(-1, 1, RODEO.HIDDEN).astype(np.float32)))


@pytest.mark.parametrize("backend", TIERED)
@pytest.mark.parametrize("point,k", [("zero", 3), ("away", 2)])
def test_rodeo_with_stein_terms_on_is_unbiased(point, k, backend):
    """alpha = 0.8, beta = 0.5 and a random network: both Stein control variates act (at init_state's alpha = beta = 0
    RODEO is RLOO), and the mean is still the exact gradient of f6's 6 units."""
    prob = problem("bernoulli", point)
    g = rows("rodeo", "bernoulli", prob.params["logits"], f6(backend), backend, seed=71 + k, n_samples=k,
             state=rodeo_state(backend, 0.8, 0.5), warmup=0, states=1)
    assert_unbiased(g, prob.truth["logits"])
    rloo = rows("rloo", "bernoulli", prob.params["logits"], f6(backend), backend, seed=71 + k, n_samples=k)
    assert np.abs(g - rloo).max() > 1e-2  # the Stein terms changed the rows


@pytest.mark.parametrize("backend", TIERED)
def test_rodeo_at_its_initial_state_is_rloo_row_by_row(backend):
    """alpha = beta = 0 (init_state, before any training): the Stein terms vanish and the rows are RLOO's on the same
    uniforms, 3 draws."""
    prob = problem("bernoulli", "away")
    state = RODEO.init_state(estimators.ops(backend), {"logits": (6,)}, 0)
    a = rows("rodeo", "bernoulli", prob.params["logits"], f6(backend), backend, n=500, seed=75, n_samples=3,
             state=state, warmup=0, states=1)
    b = rows("rloo", "bernoulli", prob.params["logits"], f6(backend), backend, n=500, seed=75, n_samples=3)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("backend", TIERED)
def test_rodeo_slopes_are_the_gradient_of_f(backend):
    """The network's inputs use g_j = df/dx at each draw (estimators.slope): exactly df6, at 13 of the 64 corners,
    each row of the batch its own."""
    o, (_, arr) = estimators.ops(backend), xp(backend)
    x = np.array(list(itertools.product([0.0, 1.0], repeat=6)), np.float32)[::5]  # [13, 6]
    f = f6(backend)
    from estimators.ops import Downstream

    down = Downstream(main=f, value=f, relaxed=lambda z, t: f(z), mean=f)
    g = o.to_numpy(RODEO.slopes(o, down, arr(x[:, None]), (6,)))[:, 0]
    np.testing.assert_allclose(g, df6_numpy(x.astype(np.float64)), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("backend", TIERED)
def test_trained_rodeo_has_less_variance_than_rloo(backend):
    """The paper's claim at equal draws (2): with alpha, beta and the network trained on the second moment (the
    default 4 states of 100 Adam steps), RODEO's variance is below RLOO's."""
    prob = problem("bernoulli", "away")
    lg = prob.params["logits"]
    assert_less_variance(rows("rodeo", "bernoulli", lg, f6(backend), backend, seed=77, n_samples=2),
                         rows("rloo", "bernoulli", lg, f6(backend), backend, seed=78, n_samples=2))


def test_truths_are_consistent():
    """The enumerated truths: cat3_truth at one variable's perturbation against central differences of E[f]."""
    lg = CAT3["away"].astype(np.float64)

    def expected(lg):
        p = np.exp(lg - lg.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        total = 0.0
        for cfg in itertools.product(range(3), repeat=3):
            x = np.eye(3)[list(cfg)]
            s = (x * A3).sum(-1)
            total += np.prod((x * p).sum(-1)) * ((s.sum() - 0.5) ** 2 + 0.5 * s[0] * s[2])
        return total

    h, fd = 1e-6, np.zeros_like(lg)
    for i in np.ndindex(lg.shape):
        e = np.zeros_like(lg)
        e[i] = h
        fd[i] = (expected(lg + e) - expected(lg - e)) / (2 * h)
    np.testing.assert_allclose(cat3_truth(lg), fd, atol=1e-6)
    assert np.abs(bernoulli_truth(problem("bernoulli", "away").params["logits"])).max() > 0.1
