"""The unordered set estimator (Kool et al. 2020), gapped straight-through (Fan et al. 2022) and decoupled
straight-through (Shah et al. 2024): each against an independent NumPy evaluation of its paper's formula, and the
relations the papers state.

unordered-set is unbiased and is also run by tests/test_unbiased.py and tests/test_backends_agree.py; here: its
sampler is a Gumbel-top-k of the node's joint distribution (the ordered draws follow Plackett-Luce, at every
position up to the whole node, and at 200 units; a used-up subtree is never entered), its ratios
are those of the orderings enumerated by brute force, it is exact when the draws cover the node, and it has less
variance than RLOO at equal draws. gapped-st and decoupled-st are biased: their means against their formulas
enumerated in NumPy (exactly, or by quadrature / a large independent NumPy Monte Carlo where the formula is an
integral over the Gumbel noise), clearly away from the true gradient, plus the papers' relations.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import integrate
from scipy.special import expit
from scipy.stats import chisquare

import estimators
from estimators.api import node_objective
from tests.truths import (
    C4,
    POINTS,
    TIERED,
    bernoulli_configs,
    bernoulli_truth,
    df6_numpy,
    f6,
    problem,
    variance_and_se,
    xp,
)

N = 20_000
CATS = POINTS["categorical"]  # 4 categories, at logits 0 and away from them
BERN = POINTS["bernoulli"]  # 6 units
C = C4.astype(np.float64)


def sigmoid(x):
    return expit(np.asarray(x, np.float64))


def softmax(z):
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def se(g):
    return g.std(0, ddof=1) / np.sqrt(len(g))


def rows(name, dist, logits, f, backend, n=N, seed=5, n_samples=1, **options):
    return estimators.grad_samples(name, f, {"logits": logits}, dist=dist, backend=backend, n_estimates=n,
                                   n_samples=n_samples, seed=seed, **options)["logits"].astype(np.float64)


def assert_mean(g, known):
    z = (g.mean(0) - known) / se(g)
    assert np.all(np.abs(z) < 4), (g.mean(0), known, z)


def assert_biased(g, known, truth):
    """The formula is clearly not the true gradient here (so the test above could tell them apart)."""
    assert np.max(np.abs((known - truth) / se(g))) > 10, (known, truth)


def assert_less_variance(a, b):
    """Trace of a's covariance below b's by more than 4 standard errors of the difference."""
    (va, sa), (vb, sb) = variance_and_se(a), variance_and_se(b)
    assert vb - va > 4 * np.hypot(sa, sb), ((va, sa), (vb, sb))


def cubic(backend):
    """f(x) = (x.c - 1/2)^3 on a one-hot x (4 categories): not quadratic, so no estimator is exact by accident."""
    _, arr = xp(backend)
    c = arr(C4)
    return lambda x: ((x * c).sum(-1) - 0.5) ** 3


def cubic_grad(x):
    return 3 * (x @ C - 0.5)[..., None] ** 2 * C


def cubic_truth(logits):
    p = softmax(logits)
    fk = (C - 0.5) ** 3
    return p * (fk - p @ fk)


def jacobian_times(p, v):
    """J(p) v with J(p) = diag(p) - p p^T, the softmax Jacobian, along the last axis."""
    return p * (v - (p * v).sum(-1, keepdims=True))


# Unordered set estimator (Kool, van Hoof & Welling 2020) ----------------------------------------------------------
US = estimators.module("unordered-set")


def _configuration_index(x, dist):
    """The index of each configuration [..., *event] in the joint space (mixed radix over the variables)."""
    values = x.argmax(-1) if dist == "categorical" else x.astype(np.int64)
    values = values.reshape(*values.shape[:2], -1)
    radix = x.shape[-1] if dist == "categorical" else 2
    return (values * radix ** np.arange(values.shape[-1])[::-1]).sum(-1)


def _joint_probabilities(logits, dist):
    if dist == "categorical":
        p = softmax(logits)
        return np.array([np.prod([p[v, c] for v, c in enumerate(cfg)])
                         for cfg in itertools.product(range(logits.shape[-1]), repeat=logits.shape[0])])
    s = sigmoid(logits)
    return np.prod(np.where(bernoulli_configs(len(logits)) == 1, s, 1 - s), 1)


@pytest.mark.parametrize("backend", TIERED)
@pytest.mark.parametrize("dist,logits", [
    ("bernoulli", np.array([0.8, -0.4, 1.5], np.float32)),  # 8 joint configurations
    ("categorical", np.array([[0.5, -1.0, 0.2], [1.0, 0.0, -0.5]], np.float32)),  # 2 variables of 3: 9
])
def test_unordered_set_draws_are_a_gumbel_top_k_of_the_node(dist, logits, backend):
    """The sampler gives k = 3 distinct joint configurations whose order follows Plackett-Luce, the law of the
    Gumbel-top-k: P(x0, x1, x2 = a, b, c) = p_a p_b / (1 - p_a) p_c / (1 - p_a - p_b), chi-square over every
    ordered triple against the exact probabilities in NumPy."""
    o, (_, arr) = estimators.ops(backend), xp(backend)
    k, n = 3, 40_000
    u = np.random.default_rng(0).uniform(np.finfo(np.float32).tiny, 1, (k, n, *logits.shape)).astype(np.float32)
    lg = arr(np.broadcast_to(logits, (n, *logits.shape)).copy())
    x = o.to_numpy(US.without_replacement(o, dist, lg, arr(u), logits.ndim))
    idx = _configuration_index(x, dist)  # [k, n]
    assert np.all((idx[0] != idx[1]) & (idx[0] != idx[2]) & (idx[1] != idx[2]))
    p = _joint_probabilities(logits, dist)
    triples = list(itertools.permutations(range(len(p)), 3))
    expected = np.array([p[a] * p[b] / (1 - p[a]) * p[c] / (1 - p[a] - p[b]) for a, b, c in triples]) * n
    position = {t: i for i, t in enumerate(triples)}
    observed = np.bincount([position[t] for t in zip(*idx)], minlength=len(triples))
    keep = expected > 5  # the chi-square approximation needs them; the rare triples' mass is pooled
    obs = np.append(observed[keep], observed[~keep].sum())
    exp = np.append(expected[keep], expected[~keep].sum())
    assert chisquare(obs, exp).pvalue > 1e-3


@pytest.mark.parametrize("backend", TIERED)
@pytest.mark.parametrize("dist,logits,k", [
    ("bernoulli", np.array([0.8, -0.4, 1.5], np.float32), 8),  # every configuration: the last draw is forced
    ("categorical", np.array([[0.5, -1.0, 0.2], [1.0, 0.0, -0.5]], np.float32), 6),  # 6 of 9
])
def test_unordered_set_late_draws_follow_plackett_luce(dist, logits, k, backend):
    """Deep in the order the draws walk around many taken configurations (a trie with several branches, paths
    switched, subtrees used up): each position's value against its exact law, every ordering of k of the node's
    configurations enumerated in NumPy, one chi-square per position (Bonferroni over the k)."""
    o, (_, arr) = estimators.ops(backend), xp(backend)
    n = 60_000
    u = np.random.default_rng(1).uniform(np.finfo(np.float32).tiny, 1, (k, n, *logits.shape)).astype(np.float32)
    lg = arr(np.broadcast_to(logits, (n, *logits.shape)).copy())
    idx = _configuration_index(o.to_numpy(US.without_replacement(o, dist, lg, arr(u), logits.ndim)), dist)
    assert np.all(np.diff(np.sort(idx, 0), axis=0) > 0)  # k distinct configurations in every row
    p = _joint_probabilities(logits, dist)
    expected = np.zeros((k, len(p)))
    for order in itertools.permutations(range(len(p)), k):
        prob, left = 1.0, 1.0
        for a in order:
            prob, left = prob * p[a] / left, left - p[a]
        expected[np.arange(k), order] += prob
    for i in range(k):
        observed = np.bincount(idx[i], minlength=len(p))
        assert chisquare(observed, expected[i] * n / expected[i].sum()).pvalue > 1e-3 / k, i


@pytest.mark.parametrize("backend", TIERED)
def test_unordered_set_second_draw_at_the_literatures_size(backend):
    """200 Bernoulli units, most nearly deterministic (|logit| 6-14, so the first draw holds about 94% of the mass
    and the second must leave it where few completions are left: the masses M are 1 - 1e-5 and less, in float32
    logs). Given the first draw x0, the second is x0 up to its first differing unit v*, flipped there, and free
    after: P(v* = v | x0) = prod_{w<v} p_w(x0_w) (1 - p_v(x0_v)) / (1 - p(x0)), checked by a randomised
    probability integral transform in float64 (uniform on (0, 1), a chi-square over 20 bins); the units after v*
    pooled against their Bernoulli means by a z-test."""
    o, (_, arr) = estimators.ops(backend), xp(backend)
    rng = np.random.default_rng(3)
    n, units = 20_000, 200
    logits = (rng.uniform(6, 14, units) * rng.choice([-1, 1], units)).astype(np.float32)
    logits[:8] = rng.normal(0, 1.5, 8)  # some units in play, first in the order
    rng.shuffle(logits)
    u = rng.uniform(np.finfo(np.float32).tiny, 1, (2, n, units)).astype(np.float32)
    x = o.to_numpy(US.without_replacement(o, "bernoulli", arr(np.broadcast_to(logits, (n, units)).copy()),
                                          arr(u), 1)).astype(np.int64)
    x0, x1 = x
    differ = x0 != x1
    assert differ.any(1).all()
    first = differ.argmax(1)
    cols = np.arange(units)
    assert np.all(x1[cols < first[:, None]] == x0[cols < first[:, None]])
    log_s = np.log(sigmoid(logits)), np.log(sigmoid(-logits))
    log_a = np.where(x0 == 1, log_s[0], log_s[1])  # log p_v(x0_v)
    before = np.cumsum(log_a, 1) - log_a
    law = np.exp(before) * -np.expm1(log_a) / -np.expm1(log_a.sum(1, keepdims=True))  # P(v* = v | x0)
    cdf = np.cumsum(law, 1)
    pit = cdf[np.arange(n), first] - law[np.arange(n), first] * rng.uniform(size=n)
    assert chisquare(np.histogram(pit, 20, (0, 1))[0]).pvalue > 1e-3
    after = cols > first[:, None]
    s = np.broadcast_to(sigmoid(logits), (n, units))[after]
    assert abs((x1[after] - s).sum() / np.sqrt((s * (1 - s)).sum())) < 4


@pytest.mark.parametrize("backend", TIERED)
def test_unordered_set_never_enters_a_used_up_subtree(backend):
    """Every configuration with x_0 = 0 is taken, so the next draw must set x_0 = 1. Their mass after x_0 sums to 1
    in exact arithmetic, but in float32 logs to a little less at these logits, which would leave the used-up
    subtree a sliver of mass; a uniform of 1 - 2^-24, against x_0 = 1's weight of p_1 = e^-9, would then pick it
    (and draw a duplicate). Counting the taken configurations under each value makes that mass exactly 0."""
    o = estimators.ops(backend)
    logits = o.asarray(np.array([-9.0, -1.6070081, 1.0847852], np.float32))
    configs = np.array([[0, a, b] for a in (0, 1) for b in (0, 1)], np.float32)
    taken = o.asarray(np.stack([1 - configs, configs], -2)[None])  # [1, 4 taken, 2 values, 3 units]
    logp = o.stack([o.log_sigmoid(-logits), o.log_sigmoid(logits)], -2)[None]
    x = o.to_numpy(US._draw_outside(o, "bernoulli", logp, taken, o.asarray(np.full((1, 3), 1 - 2 ** -24,
                                                                                   np.float32))))
    assert x[0, 1, 0] == 1


def _orderings_probability(p_set, rest):
    """P(draws without replacement from a domain of mass rest + sum(p_set) give the set p_set in some order), as a
    sum over every ordering (the definition), in float64."""
    total = 0.0
    for order in itertools.permutations(p_set):
        left, prob = rest + sum(p_set), 1.0
        for q in order:
            prob *= q / left
            left -= q
        total += prob
    return total


def _brute_force_weights(p, f, rest, baseline):
    k = len(p)
    full = _orderings_probability(p, rest)
    out = np.zeros(k)
    for s in range(k):
        others = [i for i in range(k) if i != s]
        w1 = _orderings_probability([p[i] for i in others], rest)
        b = p[s] * f[s] + sum(p[t] * _orderings_probability([p[i] for i in others if i != t], rest) / w1 * f[t]
                              for t in others)
        out[s] = p[s] * w1 / full * (f[s] - baseline * b)
    return out


@pytest.mark.parametrize("backend", TIERED)
@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("rest", [0.4, 1e-3, 0.0])  # mass outside the set; 0: the set is the whole domain
def test_unordered_set_weights_are_those_of_the_enumerated_orderings(k, rest, backend):
    """p(s) R(S, s) (f(s) - b_s) from the subset recursion against the paper's definitions, every ordering of every
    subset enumerated in NumPy: R(S, s) = p^{D\\s}(S\\s) / p(S), b_s = sum_s' p(s') R^{D\\s}(S, s') f(s')."""
    o, (_, arr) = estimators.ops(backend), xp(backend)
    rng = np.random.default_rng(k)
    p = rng.dirichlet(np.ones(k)) * (1 - rest)
    f = rng.normal(size=k)
    for baseline in (1.0, 0.0):
        got = o.to_numpy(US.weights(o, arr(np.log(p).astype(np.float32)), arr(f.astype(np.float32)), baseline))
        want = _brute_force_weights(p, f, rest, baseline)
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-6 * np.abs(want).max())


A2 = np.array([0.9, -0.6])


def f2(backend):
    """f of 2 Bernoullis (4 configurations): (a.b - 1)^2 + 0.5 b0 b1."""
    _, arr = xp(backend)
    a = arr(A2.astype(np.float32))
    return lambda b: ((b * a).sum(-1) - 1.0) ** 2 + 0.5 * b[..., 0] * b[..., 1]


def f2_truth(logits):
    b = bernoulli_configs(2)
    s = sigmoid(logits)
    q = np.prod(np.where(b == 1, s, 1 - s), 1)
    return (q * ((b @ A2 - 1.0) ** 2 + 0.5 * b[:, 0] * b[:, 1])) @ (b - s)


@pytest.mark.parametrize("backend", TIERED)
@pytest.mark.parametrize("dist,point,n_samples", [("categorical", "away", 4), ("categorical", "zero", 6),
                                                  ("bernoulli", "away", 4)])
def test_unordered_set_is_exact_when_the_draws_cover_the_node(dist, point, n_samples, backend):
    """k >= the node's configurations: S = D, p(D \\ S) = 0, R = 1 and b_s = E[f], so every row is the exact
    gradient (2 Bernoulli units: 4 configurations; 6 draws of a 4-way categorical use its 4)."""
    if dist == "bernoulli":
        logits, f, truth = BERN[point][:2], f2(backend), f2_truth(BERN[point][:2])
    else:
        prob = problem(dist, point)
        logits, f, truth = prob.params["logits"], prob.f(backend), prob.truth["logits"]
    g = rows("unordered-set", dist, logits, f, backend, n=200, n_samples=n_samples)
    np.testing.assert_allclose(g, np.broadcast_to(truth, g.shape), atol=2e-6, rtol=1e-5)


@pytest.mark.parametrize("backend", TIERED)
@pytest.mark.parametrize("dist", ["bernoulli", "categorical"])
def test_unordered_set_without_its_baseline_is_unbiased(dist, backend):
    """baseline=0: sum_s p(s) R(S, s) f(s) d log p(s) (the paper's eq. 7), also unbiased, with 3 draws."""
    prob = problem(dist, "away")
    g = rows("unordered-set", dist, prob.params["logits"], prob.f(backend), backend, n_samples=3, seed=7,
             baseline=0)
    assert_mean(g, prob.truth["logits"])


@pytest.mark.parametrize("backend", TIERED)
@pytest.mark.parametrize("dist,point", [("bernoulli", "away"), ("categorical", "zero"), ("categorical", "away")])
def test_unordered_set_has_less_variance_than_rloo(dist, point, backend):
    """The paper's claim: at the same number of draws (evaluations), draws without replacement with the built-in
    baseline beat RLOO's independent draws with their leave-one-out baseline (3 draws each). The gain comes from
    the duplicates sampling with replacement wastes: at 6 Bernoulli units at logits 0 (64 equally likely
    configurations) 3 draws rarely repeat and the two nearly tie (measured 1.65 against 1.70), so it is not
    asserted there."""
    prob = problem(dist, point)
    us, rloo = (rows(name, dist, prob.params["logits"], prob.f(backend), backend, n_samples=3, seed=seed)
                for name, seed in (("unordered-set", 8), ("rloo", 9)))
    assert_less_variance(us, rloo)


# Gapped straight-through (Fan, Chi, Rudnicky & Ramadge 2022) -------------------------------------------------------
def gst_logits(logits, d, tau_gap):
    """The paper's perturbed logits given the sample d: d raised to the maximum, the others at least gap below."""
    p = softmax(logits)
    gap = tau_gap if tau_gap >= 0 else -np.log1p(-p[d] * (1 - 1e-5)) / (p[d] * (1 - 1e-5))
    top = logits.max()
    moved = np.minimum(logits, top - gap)
    moved[d] = top
    return moved


def gst_mean_categorical(logits, tau, gap, grad_f):
    """E[GST] by enumerating the sample: sum_d p_d J(softmax(theta~(d) / tau)) / tau grad f(e_d), float64."""
    logits = logits.astype(np.float64)
    p = softmax(logits)
    return sum(p[d] * jacobian_times(softmax(gst_logits(logits, d, gap) / tau), grad_f(e)) / tau
               for d, e in enumerate(np.eye(len(logits))))


@pytest.mark.parametrize("backend", TIERED)
@pytest.mark.parametrize("point", ["zero", "away"])
@pytest.mark.parametrize("tau,gap", [(1.0, 1.0), (0.5, 1.0), (0.5, -1.0)])  # GST-1.0; GST-p at gap < 0
def test_gapped_st_mean_is_its_formula_on_a_4_way_categorical(tau, gap, point, backend):
    logits = CATS[point]
    g = rows("gapped-st", "categorical", logits, cubic(backend), backend, seed=11, tau=tau, gap=gap)
    known = gst_mean_categorical(logits, tau, gap, cubic_grad)
    assert_mean(g, known)
    assert_biased(g, known, cubic_truth(logits))


@pytest.mark.parametrize("backend", TIERED)
@pytest.mark.parametrize("point", ["zero", "away"])
@pytest.mark.parametrize("gap", [1.0, -1.0])
def test_gapped_st_mean_is_its_formula_on_bernoullis(gap, point, backend):
    """Bernoulli as the 2-way categorical (0, logit), enumerated through the categorical formula above (so the
    closed form in the module, d b / d logit := sigmoid'(delta / tau) / tau, is checked against it) over every
    configuration of the 6 units of f6."""
    tau, logits = 0.5, BERN[point].astype(np.float64)
    g = rows("gapped-st", "bernoulli", BERN[point], f6(backend), backend, seed=12, tau=tau, gap=gap)
    b = bernoulli_configs(len(logits))
    s = sigmoid(logits)
    q = np.prod(np.where(b == 1, s, 1 - s), 1)
    slope = np.zeros_like(b)
    for i, lg in enumerate(logits):
        for value in (0, 1):
            pair = gst_logits(np.array([0.0, lg]), value, gap) / tau
            slope[b[:, i] == value, i] = jacobian_times(softmax(pair), np.array([0.0, 1.0]))[1] / tau
    known = q @ (slope * df6_numpy(b))
    assert_mean(g, known)
    assert_biased(g, known, bernoulli_truth(logits))


def gst_mover_numpy(logits, action, tau, gap):
    """The reference code's gst_mover (chijames/GST, model/basic.py) ported to NumPy for one sample: the softmax it
    differentiates, softmax((logits + move - move2 - mean) / tau), with its own clamp and masking steps."""
    probs = softmax(logits)
    m = probs.argmax()
    move = (logits[m] - logits) * action
    if gap < 0:
        pi = probs[action.astype(bool)][0] * (1 - 1e-5)
        gap = -np.log(1 - pi) / pi
    move2 = np.clip(logits - logits[m] + gap, 0.0, None)
    move2[action.astype(bool)] = 0.0
    new = logits + (move - move2)
    return softmax((new - new.mean()) / tau)


@pytest.mark.parametrize("backend", TIERED)
@pytest.mark.parametrize("gap", [1.0, -1.0])
def test_gapped_st_rows_are_the_reference_codes(gap, backend):
    """Row by row on the same uniforms, f linear (f = x.c, so the row is J(softmax(.)/tau)/tau c): the module
    against the reference code's construction, at random logits of 5 categories."""
    tau, n, k = 0.7, 64, 5
    rng = np.random.default_rng(13)
    logits = rng.normal(0, 1.5, k).astype(np.float32)
    c = rng.normal(size=k).astype(np.float32)
    d, (_, arr) = estimators.driver(backend), xp(backend)
    c_arr = arr(c)
    obj = node_objective(d.ops, "gapped-st", lambda x: (x * c_arr).sum(-1), "categorical", {"logits": logits},
                         n_samples=1, seed=0, options={"tau": tau, "gap": gap})
    u = rng.uniform(1e-6, 1, (1, n, 1, k)).astype(np.float32)
    got = d.rows_on(obj, obj.state, [u])["logits"]
    for row, uu in zip(got, u[0, :, 0]):
        action = np.eye(k)[np.argmax(logits - np.log(-np.log(uu)))]
        want = jacobian_times(gst_mover_numpy(logits.astype(np.float64), action, tau, gap), c) / tau
        np.testing.assert_allclose(row, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("backend", TIERED)
@pytest.mark.parametrize("dist,point", [("bernoulli", "zero"), ("bernoulli", "away"), ("categorical", "zero"),
                                        ("categorical", "away")])
def test_gapped_st_has_less_variance_than_st_gumbel(dist, point, backend):
    """The paper's claim (its variance experiment runs at its default temperature 0.5): with no Gumbel noise given
    the sample, GST (here GST-p) has less variance than ST-Gumbel-softmax at the same temperature. (GST-1.0 at
    tau = 1 does not on the symmetric toy: measured, not asserted.)"""
    prob = problem(dist, point)
    gst, stgs = (rows(name, dist, prob.params["logits"], prob.f(backend), backend, seed=seed, tau=0.5, **opts)
                 for name, seed, opts in (("gapped-st", 14, {"gap": -1.0}), ("st-gumbel", 15, {})))
    assert_less_variance(gst, stgs)


# Decoupled straight-through (Shah, Yan, Mozer & Liu 2024) ----------------------------------------------------------
@pytest.mark.parametrize("backend", TIERED)
@pytest.mark.parametrize("dist,point", [("bernoulli", "zero"), ("bernoulli", "away"), ("categorical", "zero"),
                                        ("categorical", "away")])
def test_decoupled_st_with_equal_temperatures_is_st_gumbel_row_by_row(dist, point, backend):
    """tau_f = tau_b = 1: st-gumbel (tau = 1) on the same uniforms, row by row; tau_f = tau_b = tau: st-gumbel
    (tau = 1) at logits / tau, divided by tau (the temperature divides the logits before the noise is added)."""
    prob = problem(dist, point)
    logits, f = prob.params["logits"], prob.f(backend)
    same = rows("decoupled-st", dist, logits, f, backend, n=2000, seed=16, tau_f=1.0, tau_b=1.0)
    np.testing.assert_allclose(same, rows("st-gumbel", dist, logits, f, backend, n=2000, seed=16, tau=1.0),
                               rtol=1e-5, atol=1e-6)
    tau = 0.5
    scaled = rows("decoupled-st", dist, logits, f, backend, n=2000, seed=16, tau_f=tau, tau_b=tau)
    st = rows("st-gumbel", dist, (logits / np.float32(tau)).astype(np.float32), f, backend, n=2000, seed=16, tau=1.0)
    np.testing.assert_allclose(scaled, st / tau, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", TIERED)
@pytest.mark.parametrize("dist", ["bernoulli", "categorical"])
def test_decoupled_st_forward_temperature_acts_through_the_logits(dist, backend):
    """At logits 0, logits / tau_f is 0 whatever tau_f: the rows do not depend on it (in the (logits + g) / tau form
    no forward temperature would ever change the hard sample; in the paper's form it changes it away from 0)."""
    prob = problem(dist, "zero")
    a, b = (rows("decoupled-st", dist, prob.params["logits"], prob.f(backend), backend, n=2000, seed=17, tau_f=tf,
                 tau_b=0.7) for tf in (0.3, 3.0))
    np.testing.assert_array_equal(a, b)


def decoupled_mean_bernoulli(logits, tau_f, tau_b):
    """E[decoupled ST] on f6 by enumerating the 64 configurations, each unit's backward weight an exact 1-D
    integral over its noise: W_i(b_i) = int sigmoid'(logit_i / tau_b - t) sigmoid'(t) dt / tau_b over
    t = logit(u) < logit_i / tau_f (b_i = 1) or above it (b_i = 0); the other units drawn from sigmoid(logits /
    tau_f)."""
    logits = logits.astype(np.float64)

    def dsig(x):
        s = sigmoid(x)
        return s * (1 - s)

    w = np.zeros((len(logits), 2))
    for i, lg in enumerate(logits):
        def integrand(t, lg=lg):
            return dsig(lg / tau_b - t) * dsig(t) / tau_b

        w[i, 1] = integrate.quad(integrand, -np.inf, lg / tau_f, epsabs=1e-12, epsrel=1e-10)[0]
        w[i, 0] = integrate.quad(integrand, lg / tau_f, np.inf, epsabs=1e-12, epsrel=1e-10)[0]
    b = bernoulli_configs(len(logits))
    sf = sigmoid(logits / tau_f)
    pf = np.where(b == 1, sf, 1 - sf)
    others = np.prod(pf, 1, keepdims=True) / pf  # probability of the other units' values
    weight = np.where(b == 1, w[:, 1], w[:, 0])
    return (others * weight * df6_numpy(b)).sum(0)


@pytest.mark.parametrize("backend", TIERED)
@pytest.mark.parametrize("point", ["zero", "away"])
@pytest.mark.parametrize("tau_f,tau_b", [(0.5, 2.0), (2.0, 0.5)])
def test_decoupled_st_mean_is_its_formula_on_bernoullis(tau_f, tau_b, point, backend):
    g = rows("decoupled-st", "bernoulli", BERN[point], f6(backend), backend, seed=18, tau_f=tau_f, tau_b=tau_b)
    known = decoupled_mean_bernoulli(BERN[point], tau_f, tau_b)
    assert_mean(g, known)
    assert_biased(g, known, bernoulli_truth(BERN[point]))


def decoupled_mean_categorical(logits, tau_f, tau_b, grad_f, n=1_000_000, seed=0):
    """E[J(softmax(logits / tau_b + g)) / tau_b grad f(onehot argmax(logits / tau_f + g))] over the Gumbel noise g:
    a K-dimensional integral, by an independent NumPy Monte Carlo in float64 (its own generator, 50 times the
    test's draws), with its standard error (the test adds it to the estimator's)."""
    logits, rng = logits.astype(np.float64), np.random.default_rng(seed)
    parts = []
    for _ in range(n // 1_000_000):
        g = -np.log(-np.log(rng.uniform(size=(1_000_000, len(logits)))))
        hard = np.eye(len(logits))[np.argmax(logits / tau_f + g, -1)]
        parts.append(jacobian_times(softmax(logits / tau_b + g), grad_f(hard)) / tau_b)
    x = np.concatenate(parts)
    return x.mean(0), se(x)


@pytest.mark.parametrize("backend", TIERED)
@pytest.mark.parametrize("point", ["zero", "away"])
@pytest.mark.parametrize("tau_f,tau_b", [(0.5, 2.0), (2.0, 0.5)])
def test_decoupled_st_mean_is_its_formula_on_a_4_way_categorical(tau_f, tau_b, point, backend):
    logits = CATS[point]
    g = rows("decoupled-st", "categorical", logits, cubic(backend), backend, seed=19, tau_f=tau_f, tau_b=tau_b)
    known, known_se = decoupled_mean_categorical(logits, tau_f, tau_b, cubic_grad)
    z = (g.mean(0) - known) / np.hypot(se(g), known_se)
    assert np.all(np.abs(z) < 4), (g.mean(0), known, z)
    assert_biased(g, known, cubic_truth(logits))


@pytest.mark.parametrize("backend", TIERED)
@pytest.mark.parametrize("dist,point", [("bernoulli", "away"), ("categorical", "zero"), ("categorical", "away")])
def test_decoupled_st_variance_falls_as_the_backward_temperature_rises(dist, point, backend):
    """The paper's bias-variance analysis: raising tau_b lowers the variance (at tau_f = 1: tau_b = 2 below 1
    below 0.5); raising tau_f raises it (away from logits 0, where tau_f acts)."""
    prob = problem(dist, point)

    def run(tau_f, tau_b, seed):
        return rows("decoupled-st", dist, prob.params["logits"], prob.f(backend), backend, seed=seed, tau_f=tau_f,
                    tau_b=tau_b)

    hot, mid, cold = run(1.0, 2.0, 20), run(1.0, 1.0, 21), run(1.0, 0.5, 22)
    assert_less_variance(hot, mid)
    assert_less_variance(mid, cold)
    if point == "away":
        assert_less_variance(run(0.5, 1.0, 23), run(2.0, 1.0, 24))
