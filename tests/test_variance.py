"""Variance: the orderings the papers prove, and control variates that learn."""

from __future__ import annotations

import numpy as np
import pytest

import estimators
from estimators.spec import surrogate_options
from tests.truths import BACKENDS, POINTS, TIERED, f6, variance_and_se, xp, z_scores

N = 20_000


def toy(backend):
    """f(b) = (b - 0.45)^2 at logit 0 (REBAR, RELAX and DisARM papers)."""
    return lambda b: ((b - 0.45) ** 2).sum(-1)


def variance(name, backend, f=None, params=None, n_samples=1, **options):
    g = estimators.grad_samples(name, f or toy(backend), params or {"logits": np.zeros(1, np.float32)},
                                dist="bernoulli", backend=backend, n_estimates=N, n_samples=n_samples, seed=7,
                                **options)["logits"]
    return variance_and_se(g)


def significantly_below(a, b):
    return b[0] - a[0] > 4 * np.hypot(a[1], b[1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_disarm_below_arm_below_reinforce(backend):
    disarm, arm, reinforce = (variance(n, backend) for n in ("disarm", "arm", "reinforce"))
    assert significantly_below(arm, reinforce), (arm, reinforce)
    assert disarm[0] <= arm[0] and (disarm[0] == 0 or significantly_below(disarm, arm)), (disarm, arm)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rloo_below_reinforce_per_pair_of_evaluations(backend):
    rloo, reinforce = variance("rloo", backend, n_samples=2), variance("reinforce", backend, n_samples=2)
    assert significantly_below(rloo, reinforce), (rloo, reinforce)


@pytest.mark.parametrize("backend", TIERED)
@pytest.mark.parametrize("name,rows", [("rebar", 256), ("relax", 256), ("relax", 8)])
def test_trained_control_variate_lowers_variance(name, rows, backend):
    """Training the state on the second moment (as in the papers) pays off from a poor start, with the default
    256 estimates per step and with 8 (warmup_rows, what makes the literature's sizes affordable).

    The default start (eta 1, temperature 0.5) is already near REBAR's optimum on this f, so the test
    starts at temperature 0.1, where REBAR's variance is about 2.5x its optimum.
    """
    params = {"logits": POINTS["bernoulli"]["away"]}
    o = estimators.ops(backend)
    state = estimators.module(name).init_state(o, {"logits": (6,)}, 0)._replace(
        log_temperature=o.asarray(np.log(np.float32(0.1))))
    before = variance(name, backend, f=f6(backend), params=params, state=state, warmup=0)
    after = variance(name, backend, f=f6(backend), params=params, state=state, warmup=300, warmup_rows=rows)
    assert significantly_below(after, before), (before, after)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ema_state_is_explicit(backend):
    """reinforce-ema takes and returns its state; a warmed-up baseline beats the zero baseline."""
    state = estimators.module("reinforce-ema").init_state(estimators.ops(backend), {"logits": (6,)}, 0)
    params = {"logits": POINTS["bernoulli"]["away"]}
    cold = variance("reinforce-ema", backend, f=f6(backend), params=params, state=state, warmup=0)
    warm = variance("reinforce-ema", backend, f=f6(backend), params=params, state=state, warmup=200)
    assert significantly_below(warm, cold), (cold, warm)
    assert float(estimators.ops(backend).to_numpy(state.numerator["logits"]).sum()) == 0.0  # the caller's state
    # was not mutated


STATES, ROWS, WARMUP = 6, 6_000, 20


def _trained_variance(name: str, backend: str, n_samples: int) -> tuple[float, float]:
    """Variance over STATES independently trained states (the training's randomness included), and its SE
    taken across the states."""
    from bench.stats.metrics import summarize_rows

    g = estimators.grad_samples(name, f6(backend), {"logits": POINTS["bernoulli"]["away"]}, dist="bernoulli",
                                backend=backend, n_estimates=ROWS, n_samples=n_samples, seed=11,
                                states=STATES, warmup=WARMUP)["logits"]
    clusters = np.repeat(np.arange(STATES), ROWS // STATES)
    return summarize_rows(g, np.zeros(6), clusters=clusters)["all"]["variance"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["rebar", "relax"])
def test_trained_variance_scales_with_draws_and_agrees_across_backends(name):
    """Averaging 4 draws divides the variance by 4, and torch and JAX agree, within standard errors that carry
    the spread between trained states (a single trained state per cell gave ratios from 0.3 to 9)."""
    found = {(b, n): _trained_variance(name, b, n) for b in BACKENDS for n in (1, 4)}
    print(f"\n{name}: variance (SE across {STATES} trained states) by (backend, n_samples): {found}")
    for b in BACKENDS:
        (v1, s1), (v4, s4) = found[b, 1], found[b, 4]
        assert abs(4 * v4 - v1) < 4 * np.hypot(4 * s4, s1), (b, found)
    if len(BACKENDS) == 2:
        (vt, st), (vj, sj) = found["torch", 1], found["jax", 1]
        assert abs(vt - vj) < 4 * np.hypot(st, sj), found


# ----------------------------------------------------------------------------------------------------------------
# ARMS, NVIL and the measure-valued estimator


def surrogate_step(name: str, backend: str, dist: str = "bernoulli", **options):
    """One call of an estimator's surrogate on explicit arrays, outside the drivers: (params, u, offset, state) ->
    (gradient rows, new state), with the loss f6(z) + offset per example (offset: a NumPy array [examples])."""
    module, o, f = estimators.module(name), estimators.ops(backend), f6(backend)
    options = {**surrogate_options(estimators.spec(name), {}), **options}

    def total(theta, u, off, state):
        down = estimators.Downstream(main=lambda z: f(z) + off, value=lambda z: o.stop_gradient(f(z) + off),
                                     relaxed=lambda h, t: f(h) + off, mean=lambda z: f(z) + off)
        out, st = module.surrogate(o, theta, down, u, state, dist=dist, event_ndim=1, **options)
        return out.sum(), st

    if backend == "torch":
        import torch

        def run(params, u, offset, state):
            theta = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
            out, st = total(theta, torch.as_tensor(u), torch.as_tensor(offset), state)
            grads = torch.autograd.grad(out, list(theta.values()))
            return {k: g.numpy() for k, g in zip(theta, grads)}, st

        return run
    import jax

    step = jax.jit(jax.grad(total, has_aux=True))

    def run(params, u, offset, state):
        grads, st = step(params, u, offset, state)
        return {k: np.asarray(g) for k, g in grads.items()}, st

    return run


@pytest.mark.parametrize("backend", BACKENDS)
def test_arms_with_two_draws_is_disarm(backend):
    """n = 2: the Dirichlet copula gives the antithetic pair (c, 1 - c) and the correction is sigmoid(|phi|), so
    ARMS's estimate is DisARM's, row by row, on the uniforms c where p < 1/2 and 1 - c elsewhere (iid U(0, 1)
    too, so the two are one estimator), at logits 0 and away from 0 (units on both sides of p = 1/2)."""
    o = estimators.ops(backend)
    copula = lambda v: estimators.module("arms").copula_uniforms(o, v)  # noqa: E731
    rng = np.random.default_rng(8)
    logits = np.concatenate([np.zeros((500, 6)), np.tile(POINTS["bernoulli"]["away"], (500, 1))]).astype(np.float32)
    v = rng.uniform(1e-6, 1, (2, *logits.shape)).astype(np.float32)
    _, arr = xp(backend)
    c = np.asarray(copula(arr(v)))[0]
    flipped = np.where(1 / (1 + np.exp(-logits)) < 0.5, c, 1 - c)
    offset = np.zeros(len(logits), np.float32)
    arms, _ = surrogate_step("arms", backend)({"logits": logits}, v, offset, None)
    disarm, _ = surrogate_step("disarm", backend)({"logits": logits}, flipped[None], offset, None)
    assert np.abs(arms["logits"]).max() > 0.1
    np.testing.assert_allclose(arms["logits"], disarm["logits"], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("logit", [-0.85, 1.39])  # p = 0.30 and 0.80
def test_arms_below_disarm_and_rloo_at_equal_evaluations(logit, backend):
    """Dimitriev & Zhou's toy, f(b) = (b - 0.49)^2, 4 f-evaluations per estimate: ARMS with 4 copula draws
    against DisARM with 2 antithetic pairs and RLOO with 4 draws (at p = 1/2 DisARM is exact in one dimension,
    so the toy is tested away from it)."""
    def f(b):
        return ((b - 0.49) ** 2).sum(-1)

    params = {"logits": np.array([logit], np.float32)}
    found = {name: variance(name, backend, f=f, params=params, n_samples=n)
             for name, n in (("arms", 4), ("disarm", 2), ("rloo", 4))}
    print(f"\n{backend} p={1 / (1 + np.exp(-logit)):.2f}: variance (SE) {found}, ARMS/DisARM "
          f"{found['arms'][0] / found['disarm'][0]:.3f}, ARMS/RLOO {found['arms'][0] / found['rloo'][0]:.3f}")
    assert significantly_below(found["arms"], found["disarm"]), found
    assert significantly_below(found["arms"], found["rloo"]), found


@pytest.mark.parametrize("backend", BACKENDS)
def test_nvil_state_is_explicit(backend):
    """nvil takes and returns its state; warmed up, its baseline beats the cold (zero) one, which is REINFORCE."""
    state = estimators.module("nvil").init_state(estimators.ops(backend), {"logits": (6,)}, 0)
    params = {"logits": POINTS["bernoulli"]["away"]}
    cold = variance("nvil", backend, f=f6(backend), params=params, state=state, warmup=0)
    reinforce = variance("reinforce", backend, f=f6(backend), params=params)
    warm = variance("nvil", backend, f=f6(backend), params=params, state=state, warmup=100)
    assert abs(cold[0] - reinforce[0]) < 1e-6 * reinforce[0], (cold, reinforce)  # the same draws (seed 7)
    assert significantly_below(warm, cold), (cold, warm)
    assert float(np.abs(estimators.ops(backend).to_numpy(state.net[2])).sum()) == 0.0  # the caller's state was
    # not mutated


@pytest.mark.parametrize("backend", BACKENDS)
def test_nvil_baseline_depends_on_the_input(backend):
    """Each example's loss is f6(b) + 3 x_0, where x (its logits) is drawn afresh per example, as data would be:
    after 200 steps the baseline network has learnt the part the input predicts, so the estimates' second moment
    is far below that of the same estimator whose network is frozen at zero (baseline_lr=0: c alone)."""
    rng = np.random.default_rng(9)

    def batch(n):
        x = rng.normal(0.0, 1.0, (n, 6)).astype(np.float32)
        return {"logits": x}, rng.uniform(1e-6, 1, (1, n, 6)).astype(np.float32), 3 * x[:, 0]

    second = {}
    for lr in (0.01, 0.0):
        step = surrogate_step("nvil", backend, baseline_lr=lr)
        state = estimators.module("nvil").init_state(estimators.ops(backend), {"logits": (6,)}, 0)
        for _ in range(200):
            _, state = step(*batch(256), state)
        g, _ = step(*batch(5_000), state)
        sq = (g["logits"].astype(np.float64) ** 2).sum(1)
        second[lr] = (sq.mean(), sq.std(ddof=1) / np.sqrt(len(sq)))
    print(f"\n{backend}: second moment (SE) learned {second[0.01]}, constant only {second[0.0]}")
    assert significantly_below(second[0.01], second[0.0]), second


def sample_variance_z(rows: np.ndarray, closed_form: np.ndarray) -> np.ndarray:
    """Per coordinate: (sample variance - closed form) / its SE; the SE of a sample variance of N iid draws is
    sqrt((m4 - s^4) / N), m4 the fourth central moment (delta method), here estimated from the draws."""
    c = rows.astype(np.float64) - rows.mean(0)
    s2, m4 = (c**2).mean(0), (c**4).mean(0)
    return (s2 - closed_form) / np.sqrt((m4 - s2**2) / len(rows))


@pytest.mark.parametrize("backend", BACKENDS)
def test_measure_valued_variance_matches_its_closed_form(backend):
    """f(x) = sum_i (x_i - k_i)^2, one draw per estimate. Coordinate i's estimates are
        loc:   (f(loc + s W) - f(loc - s W)) / (s sqrt(2 pi)) = 4 (loc - k) W / sqrt(2 pi), W Rayleigh,
               Var = 16 (loc - k)^2 Var W / (2 pi) = 4 (loc - k)^2 (4 / pi - 1)   (one W for both sides)
        scale: 2 (loc - k)(M - e) + s (M^2 - e^2), M double-sided Maxwell, e the draw's N(0, 1), independent:
               Var = 4 (loc - k)^2 (E M^2 + 1) + s^2 (Var M^2 + Var e^2) = 16 (loc - k)^2 + 8 s^2
    (E M^2 = 3, E M^4 = 15, odd moments 0); the other coordinates cancel exactly. Means: 2 (loc - k) and 2 s."""
    loc = np.array([0.3, -0.5, 1.1, 0.0, 2.0], np.float32)
    scale = np.array([0.8, 1.5, 0.4, 2.0, 1.0], np.float32)
    k = np.array([0.0, 0.7, -1.0, 1.5, 2.0], np.float32)
    mod, arr = xp(backend)
    target = arr(k)
    g = estimators.grad_samples("measure-valued", lambda x: ((x - target) ** 2).sum(-1), {"loc": loc, "scale": scale},
                                dist="gaussian", backend=backend, n_estimates=N, seed=12)
    a = (loc - k).astype(np.float64)
    closed = {"loc": 4 * a**2 * (4 / np.pi - 1), "scale": 16 * a**2 + 8 * scale.astype(np.float64) ** 2}
    means = {"loc": 2 * a, "scale": 2 * scale.astype(np.float64)}
    for key in ("loc", "scale"):
        rows = g[key].astype(np.float64)
        z_var = np.where(closed[key] > 0, sample_variance_z(rows, closed[key]), 0.0)
        z_mean = (rows.mean(0) - means[key]) / np.maximum(rows.std(0, ddof=1) / np.sqrt(N), 1e-12)
        print(f"\n{backend} {key}: variance {rows.var(0)} closed form {closed[key]} z {z_var.round(2)}")
        assert np.all(np.abs(z_var) < 4), (key, z_var)
        assert np.all(np.abs(z_mean) < 4), (key, z_mean)
    assert np.abs(g["loc"][:, 4]).max() < 1e-5  # loc = k: f(loc + sW) = f(loc - sW), Var 0 (up to float32 rounding)


@pytest.mark.parametrize("backend", BACKENDS)
def test_measure_valued_unbiased_across_coordinate_chunks(backend):
    """40 coordinates: the downstream sees them in two chunks (32 + 8). f(x) = (a.x - 1)^2 + sum cos x couples
    every coordinate, with E f = (a.mu - 1)^2 + sum a^2 s^2 + sum cos(mu) exp(-s^2 / 2): every entry of the mean
    within a Bonferroni bound of the closed-form gradient (80 entries, a false alarm once in 1000 runs)."""
    from scipy.stats import norm

    mv = estimators.module("measure-valued")
    n = 40
    assert mv.CHUNK < n < 2 * mv.CHUNK
    rng = np.random.default_rng(13)
    loc, scale = rng.normal(0, 1, n).astype(np.float32), rng.uniform(0.3, 1.5, n).astype(np.float32)
    a = rng.normal(0, 0.3, n).astype(np.float32)
    mod, arr = xp(backend)
    a_b = arr(a)
    g = estimators.grad_samples("measure-valued", lambda x: ((x * a_b).sum(-1) - 1) ** 2 + mod.cos(x).sum(-1),
                                {"loc": loc, "scale": scale}, dist="gaussian", backend=backend, n_estimates=8_000,
                                seed=14)
    mu, s, a = loc.astype(np.float64), scale.astype(np.float64), a.astype(np.float64)
    truth = {"loc": 2 * a * (a @ mu - 1) - np.sin(mu) * np.exp(-s**2 / 2),
             "scale": 2 * a**2 * s - s * np.cos(mu) * np.exp(-s**2 / 2)}
    bound = norm.ppf(1 - 0.001 / (2 * 2 * n))
    for key in truth:
        z = z_scores(g[key], truth[key])
        assert np.all(np.abs(z) < bound), (key, np.abs(z).max(), bound)


def _rows(name, backend, dist, seed, **options):
    from tests.truths import problem

    prob = problem(dist, "away")
    return estimators.grad_samples(name, prob.f(backend), prob.params, dist=dist, backend=backend,
                                   n_estimates=N, seed=seed, **options)["logits"].astype(np.float64)


@pytest.mark.parametrize("backend", TIERED)
@pytest.mark.parametrize("dist", ["bernoulli", "categorical"])
def test_gumbel_rao_below_st_gumbel_and_falling_with_k(dist, backend):
    """Rao-Blackwellising ST-Gumbel lowers its variance (independent draws, k = 10 against st-gumbel), and more
    conditional draws lower it further: k = 1, 3, 10, 100 on the same uniforms (the same hard samples), each
    below the one before by a paired difference of squared deviations over 4 of its standard errors. tau 0.5,
    where the relaxed gradient's conditional variance, the part k averages away, is large."""
    tau = 0.5
    assert significantly_below(variance_and_se(_rows("gumbel-rao", backend, dist, 14, tau=tau)),
                               variance_and_se(_rows("st-gumbel", backend, dist, 15, tau=tau)))
    found = {k: _rows("gumbel-rao", backend, dist, 16, tau=tau, k=k) for k in (1, 3, 10, 100)}
    sq = {k: ((g - g.mean(0)) ** 2).sum(1) for k, g in found.items()}  # per-row squared deviation
    for a, b in zip(list(sq), list(sq)[1:]):
        drop = sq[a] - sq[b]
        assert drop.mean() > 4 * drop.std(ddof=1) / np.sqrt(N), (a, b, drop.mean(), drop.std(ddof=1))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("point", ["zero", "away"])
def test_indecater_below_reinforce_coordinate_by_coordinate(point, backend):
    """IndeCateR is REINFORCE Rao-Blackwellised over each variable's own value, so no coordinate's variance
    exceeds REINFORCE's (f6 on 6 Bernoullis; independent draws, 4 standard errors of the variance)."""
    params = {"logits": POINTS["bernoulli"][point]}
    g = {name: estimators.grad_samples(name, f6(backend), params, dist="bernoulli", backend=backend,
                                       n_estimates=N, seed=17 + i)["logits"].astype(np.float64)
         for i, name in enumerate(("indecater", "reinforce"))}
    var = {k: v.var(0, ddof=1) for k, v in g.items()}
    var_se = {k: ((v - v.mean(0)) ** 2).std(0, ddof=1) / np.sqrt(N) for k, v in g.items()}
    assert np.all(var["indecater"] < var["reinforce"] + 4 * np.hypot(var_se["indecater"], var_se["reinforce"]))
    assert var["indecater"].sum() < 0.5 * var["reinforce"].sum(), var
