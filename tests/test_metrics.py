"""Standard errors proven by coverage: over many independent repetitions with hundreds of parameters and a known
truth, 95% intervals (value +- 1.96 SE) contain the truth 95% of the time, within 3 binomial standard errors.

A diagonal-only standard error (the suite's old one) fails these where the covariance is far from diagonal;
the low-rank-plus-diagonal covariance below is that case. Streaming is checked too: the statistics do not
depend on how rows are chunked, and match in-memory NumPy computations.
"""

from __future__ import annotations

import numpy as np
import pytest

import estimators
from bench.stats.metrics import Truth, batch_rows, summarize, summarize_rows
from bench.stats.moments import Moments

P, R = 300, 1000
Z95 = 1.96


def _summary(rows: np.ndarray, truth: np.ndarray | Truth) -> dict[str, tuple]:
    """The whole gradient's statistics, its coordinates one parameter as the suites hold them (summarize_rows
    makes each column a parameter of its own, four times slower over a thousand repetitions)."""
    truth = truth if isinstance(truth, Truth) else Truth(np.asarray(truth, np.float64))
    m = Moments({"g": rows.shape[1]}, {"all": ["g"]}, batch_rows(len(rows)), truth.mean)
    m.add(rows)
    return summarize(m, truth)["all"]


def _binomial_ok(hits: int, reps: int) -> bool:
    return abs(hits / reps - 0.95) <= 3 * np.sqrt(0.95 * 0.05 / reps)


@pytest.fixture(scope="session")
def gaussian_case():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(P, 5)) * 2.0
    cov = a @ a.T + np.diag(rng.uniform(0.1, 1.0, P))  # five strong directions: nothing like a diagonal
    return rng.normal(size=P), cov, np.linalg.cholesky(cov)


def _coverage(mu, cov, chol, truth, bias_sq_true, reps=1000, seed=1):
    rng = np.random.default_rng(seed)
    hits = {"bias_sq": 0, "bias": 0, "variance": 0, "mse": 0}
    for _ in range(reps):
        rows = mu + rng.normal(size=(R, P)) @ chol.T
        stats = _summary(rows, truth)
        for metric, true in [("bias_sq", bias_sq_true), ("bias", np.sqrt(bias_sq_true)),
                             ("variance", np.trace(cov)), ("mse", np.trace(cov) + bias_sq_true)]:
            value, se = stats[metric]
            hits[metric] += abs(value - true) <= Z95 * se
    return hits


def test_coverage_unbiased(gaussian_case):
    """No bias: bias_sq's interval (its SE under no bias: the z-test) covers 0; variance and mse cover."""
    mu, cov, chol = gaussian_case
    hits = _coverage(mu, cov, chol, mu, 0.0)
    print(f"\ncoverage of 95% intervals, no bias, {P} parameters, 1000 repetitions: {hits}")
    assert _binomial_ok(hits["bias_sq"], 1000), hits
    assert _binomial_ok(hits["variance"], 1000), hits
    assert _binomial_ok(hits["mse"], 1000), hits


def test_coverage_biased_along_the_strongest_direction(gaussian_case):
    """A bias far above the noise, along the covariance's leading direction (where d'Cd matters most)."""
    mu, cov, chol = gaussian_case
    w, v = np.linalg.eigh(cov / R)
    bias = v[:, -1] * np.sqrt(100 * np.sqrt(2 * np.sum(w**2)))  # squared bias = 100 null standard errors
    hits = _coverage(mu, cov, chol, mu - bias, float(bias @ bias), seed=2)
    print(f"\ncoverage of 95% intervals, large bias, {P} parameters, 1000 repetitions: {hits}")
    assert _binomial_ok(hits["bias"], 1000), hits
    assert _binomial_ok(hits["variance"], 1000), hits
    assert _binomial_ok(hits["mse"], 1000), hits


def _reinforce_truth(logits: np.ndarray, t: float) -> tuple[np.ndarray, float]:
    """Exact mean and covariance trace of REINFORCE g_i = f(b)(b_i - p_i), f = sum_j (b_j - t)^2, independent b."""
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    c1, c0 = (1 - t) ** 2, t**2
    m, s = p * c1 + (1 - p) * c0, p * c1**2 + (1 - p) * c0**2
    rest_mean = m.sum() - m
    rest_sq = (s - m**2).sum() - (s - m**2) + rest_mean**2
    mean = p * (1 - p) * (c1 - c0)
    second = (p * c1**2 * (1 - p) ** 2 + (1 - p) * c0**2 * p**2
              + 2 * rest_mean * (p * c1 * (1 - p) ** 2 + (1 - p) * c0 * p**2) + rest_sq * p * (1 - p))
    return mean, float(np.sum(second - mean**2))


def test_coverage_of_a_real_estimator_with_200_parameters():
    """REINFORCE on 200 independent Bernoullis with logits spread over [-2, 2]: exact mean and variance."""
    backend = estimators.available_backends()[0]
    logits = np.linspace(-2, 2, 200).astype(np.float32)
    mean, trace = _reinforce_truth(logits, 0.45)
    reps, rows = 400, 500
    g = estimators.grad_samples("reinforce", lambda b: ((b - 0.45) ** 2).sum(-1), {"logits": logits},
                                dist="bernoulli", backend=backend, n_estimates=reps * rows, seed=3)["logits"]
    hits = {"bias_sq": 0, "variance": 0}
    for rep in range(reps):
        stats = _summary(g[rep * rows:(rep + 1) * rows], mean)
        hits["bias_sq"] += abs(stats["bias_sq"][0]) <= Z95 * stats["bias_sq"][1]
        hits["variance"] += abs(stats["variance"][0] - trace) <= Z95 * stats["variance"][1]
    print(f"\ncoverage of 95% intervals, REINFORCE on 200 Bernoullis, {reps} repetitions: {hits}")
    assert _binomial_ok(hits["bias_sq"], reps), hits
    assert _binomial_ok(hits["variance"], reps), hits


def test_reference_truth_noise_is_carried():
    """A truth that is itself an estimate (batch deviations kept): bias_sq's interval still covers 0, where
    ignoring the truth's covariance would not."""
    rng = np.random.default_rng(4)
    p, reps, n_truth = 200, 600, 400
    scale = np.linspace(0.2, 2.0, p)
    hits = naive = 0
    for _ in range(reps):
        ref = rng.normal(size=(n_truth, p)) * scale
        m = Moments({"x": p}, {"all": ["x"]}, batch_rows(n_truth, 32), np.zeros(p), shift=np.zeros(p))
        m.add(ref)
        counts = np.asarray(m.counts, float)
        sums = np.stack(m.sums)
        t_mean = sums.sum(0) / counts.sum()
        dev = np.sqrt(counts)[:, None] * (sums / counts[:, None] - t_mean)
        truth = Truth(t_mean, dev, n_truth)
        rows = rng.normal(size=(R, p)) * scale
        value, se = _summary(rows, truth)["bias_sq"]
        hits += abs(value) <= Z95 * se
        value0, se0 = _summary(rows, Truth(t_mean))["bias_sq"]  # pretending the truth is exact
        naive += abs(value0) <= Z95 * se0
    print(f"\ncoverage with a reference truth: {hits / reps:.3f} (ignoring its noise: {naive / reps:.3f})")
    assert _binomial_ok(hits, reps), hits / reps
    assert naive / reps < 0.5, naive / reps


def test_streaming_does_not_depend_on_chunks():
    """The same rows fed in one piece or in ragged chunks give the same statistics; they match NumPy."""
    rng = np.random.default_rng(5)
    rows = rng.normal(size=(2_000, 40)) + np.arange(40)
    truth = np.arange(40) + 0.05
    params, groups = {"a": 10, "b": 30}, {"all": ["a", "b"], "first": ["a"], "second": ["b"]}
    whole = Moments(params, groups, batch_rows(len(rows)), truth)
    whole.add(rows)
    parts = Moments(params, groups, batch_rows(len(rows)), truth)
    for lo, hi in [(0, 7), (7, 700), (700, 701), (701, 2_000)]:
        parts.add(rows[lo:hi])
    a, b = summarize(whole, Truth(truth)), summarize(parts, Truth(truth))
    for group in groups:
        for metric in a[group]:
            np.testing.assert_allclose(a[group][metric], b[group][metric], rtol=1e-9, atol=1e-12)
    cols = slice(0, 10)
    expected_var = rows[:, cols].var(0, ddof=1).sum()
    expected_cos = np.mean(rows[:, cols] @ truth[cols] / (np.linalg.norm(rows[:, cols], axis=1)
                                                          * np.linalg.norm(truth[cols])))
    np.testing.assert_allclose(a["first"]["variance"][0], expected_var, rtol=1e-9)
    np.testing.assert_allclose(a["first"]["cosine"][0], expected_cos, rtol=1e-9)
    d = rows.mean(0) - truth
    np.testing.assert_allclose(a["all"]["bias_sq"][0], d @ d - rows.var(0, ddof=1).sum() / len(rows), rtol=1e-9)


def test_clusters_carry_the_spread_between_trained_states():
    """Rows from 4 'states' whose variances differ: the variance's SE is taken across states, so it reflects
    how much the state matters; batch means over all rows would understate it."""
    rng = np.random.default_rng(6)
    scales = np.array([0.5, 1.0, 1.5, 2.0])
    rows = np.concatenate([rng.normal(size=(1_000, 50)) * s for s in scales])
    clusters = np.repeat(np.arange(4), 1_000)
    clustered = summarize_rows(rows, np.zeros(50), clusters=clusters)["all"]["variance"]
    pooled = summarize_rows(rows, np.zeros(50))["all"]["variance"]
    per_state = 50 * scales**2
    assert clustered[0] == pytest.approx(pooled[0])
    assert clustered[1] == pytest.approx(per_state.std(ddof=1) / 2, rel=0.1)
    assert clustered[1] > 3 * pooled[1]
