"""The discrete model problems (bsn, sbn-vae, categorical-vae, stochastic-depth, skip-rnn): the engine's nested exact
estimator against autodiff of the enumerated objective, the enumerated objective against a NumPy brute force,
torch against JAX on the same samples, unbiased estimators against the exact gradient (z-test), and a short
training run per estimator that lowers the held-out loss."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import norm

import estimators
from bench import problems as P
from bench.plan.cell import Training
from bench.problems import engine as M
from bench.suites.training import train
from tests.truths import BACKENDS, gradient, model_rows, ops, rows_to_detect

SMALL = {"bsn": {"width": 3}, "sbn-vae": {"width": 2, "variant": "nonlinear", "hidden": 8},
         "categorical-vae": {"vars": 2, "cats": 3}, "stochastic-depth": {"width": 6}, "skip-rnn": {"width": 4}}
CASES = [("bsn", 2), ("sbn-vae", 2), ("categorical-vae", 2), ("stochastic-depth", 3), ("skip-rnn", 1)]


def _setup(problem: str, depth: int, batch_size: int = 3, estimator: str = ""):
    pp = {**P.PROBLEMS[problem].defaults, **SMALL[problem]}
    model = P.PROBLEMS[problem].model(pp, depth, batch_size, estimator)
    return pp, model, model.init_params(0), P.PROBLEMS[problem].fixed_batch(pp, batch_size, seed=0)


def _estimate(model, name, params, data, backend, n, n_samples=1, seed=0):
    return model_rows(model, name, params, data, backend, n, n_samples=n_samples, seed=seed)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("problem,depth", CASES)
def test_nested_exact_estimator_equals_autodiff_of_enumeration(problem, depth, backend):
    _, model, params, data = _setup(problem, depth)
    o = ops(backend)
    ctx = {k: o.asarray(v) for k, v in data.items()}
    truth = gradient(backend, lambda p: M.exact_objective(model, o, p, ctx), params)
    rows = _estimate(model, "exact", params, data, backend, 1)
    for k in truth:
        np.testing.assert_allclose(rows[k][0], truth[k], atol=2e-5 * (1 + np.abs(truth[k]).max()), err_msg=k)


def _brute_force_bsn(params: dict[str, np.ndarray], data: dict[str, np.ndarray], depth: int) -> float:
    """E[cross-entropy] of the bsn by explicit loops over every joint configuration, in float64 NumPy."""
    p = {k: v.astype(np.float64) for k, v in params.items()}
    width = p["h0_b"].shape[0]
    total = 0.0
    for x, y in zip(data["x"], data["y"]):
        for bits in itertools.product([0.0, 1.0], repeat=depth * width):
            b, prob, h = np.array(bits).reshape(depth, width), 1.0, x
            for m in range(depth):
                q = 1 / (1 + np.exp(-(h @ p[f"h{m}_w"] + p[f"h{m}_b"])))
                prob *= np.prod(np.where(b[m] == 1, q, 1 - q))
                h = b[m]
            logits = h @ p["out_w"] + p["out_b"]
            total += prob * -(y * (logits - np.log(np.exp(logits).sum()))).sum()
    return total / len(data["x"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_enumerated_objective_matches_numpy_brute_force(backend):
    _, model, params, data = _setup("bsn", 2)
    o = ops(backend)
    value = M.exact_objective(model, o, {k: o.asarray(v) for k, v in params.items()},
                              {k: o.asarray(v) for k, v in data.items()})
    assert float(value) == pytest.approx(_brute_force_bsn(params, data, 2), rel=1e-5)


@pytest.mark.skipif(len(BACKENDS) < 2, reason="needs both backends")
@pytest.mark.parametrize("problem,depth", CASES)
def test_torch_and_jax_objectives_equal_on_the_same_samples(problem, depth):
    _, model, params, data = _setup(problem, depth)
    assert_forward_agrees(model, params, data)


def assert_forward_agrees(model, params, data) -> None:
    """torch and JAX give the same loss and metrics on the same uniforms."""
    rng = np.random.default_rng(3)
    u = [rng.uniform(1e-6, 1, model.node_shape(m, len(data["x"]))).astype(np.float32)
         for m in range(model.n_stochastic)]
    out = {}
    for backend in ("torch", "jax"):
        o = ops(backend)
        res = M.forward(model, o, {k: o.asarray(v) for k, v in params.items()},
                        {k: o.asarray(v) for k, v in data.items()}, [o.asarray(a) for a in u], "stochastic")
        out[backend] = {k: o.to_numpy(v) for k, v in res.items()}
    for k in out["torch"]:
        np.testing.assert_allclose(out["torch"][k], out["jax"][k], rtol=1e-5, atol=1e-5, err_msg=k)


UNBIASED = [("bsn", 2, "disarm"), ("bsn", 2, "reinforce-ema"), ("sbn-vae", 2, "arm"), ("sbn-vae", 2, "rloo"),
            ("categorical-vae", 2, "rloo"), ("stochastic-depth", 3, "reinforce"), ("stochastic-depth", 3, "disarm"),
            ("sbn-vae", 2, "arms"), ("categorical-vae", 2, "nvil"), ("skip-rnn", 1, "reinforce"),
            ("skip-rnn", 1, "disarm"), ("skip-rnn", 1, "rloo")] + [  # rloo's extra draws: torch's masked path
            (problem, depth, name) for problem, depth in CASES for name in ("muprop", "indecater")]


def draws(name: str) -> int:
    """Draws per example: 2 for multi-sample estimators (rloo), 3 for arms (with 2 its copula is DisARM's pair)."""
    return 3 if name == "arms" else 2 if estimators.spec(name).multi_sample else 1


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("problem,depth,name", UNBIASED)
def test_unbiased_estimators_match_the_exact_gradient(problem, depth, name, backend):
    """Every parameter's mean against the exact gradient (Bonferroni over all of them), with as many estimates
    as it takes to see a 10% scale error with power 0.99 (2 000 to 20 000)."""
    _, model, params, data = _setup(problem, depth)
    o = ops(backend)
    ctx = {k: o.asarray(v) for k, v in data.items()}
    truth = gradient(backend, lambda p: M.exact_objective(model, o, p, ctx), params)
    n_entries = sum(v.size for v in truth.values())
    limit = norm.ppf(1 - 0.001 / (2 * n_entries))  # Bonferroni: a false alarm once in 1000 runs
    rows = rows_to_detect(model, name, params, data, backend, truth, limit=limit, n_samples=draws(name), seed=1)
    for k, g in rows.items():
        se = g.std(0, ddof=1) / np.sqrt(len(g))
        z = np.where(se > 0, (g.mean(0) - truth[k]) / np.where(se > 0, se, 1), 0)
        assert np.abs(z).max() < limit, (k, np.abs(z).max(), limit)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("problem", ["sbn-vae", "categorical-vae"])
def test_indecater_blocks_do_not_change_the_rows(problem, backend, monkeypatch):
    """indecater evaluates its V (K - 1) substituted samples in blocks that bound memory (JAX: a lax.map over
    them, the last block padded); blocks of 1 to 3 substitutions give the rows of one block holding them all."""
    module = estimators.module("indecater")
    pp = {**P.PROBLEMS[problem].defaults, **SMALL[problem], **({"width": 4} if problem == "sbn-vae" else {"vars": 3})}
    model = P.PROBLEMS[problem].model(pp, 2, 3)
    params, data = model.init_params(0), P.PROBLEMS[problem].fixed_batch(pp, 3, seed=0)
    per_copy = 3 * int(np.prod(model.event_shape(0)))  # sample elements per row: 3 draws of one event
    found = []
    for stack in (10**6, per_copy, 3 * per_copy):
        monkeypatch.setattr(module, "STACK", stack)
        found.append(_estimate(model, "indecater", params, data, backend, 8, seed=2))
    for rows in found[1:]:
        for k in rows:
            np.testing.assert_allclose(rows[k], found[0][k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_straight_through_is_biased_on_the_bsn():
    """The z-test can fail: ST's bias on the same problem is far outside the standard errors."""
    _, model, params, data = _setup("bsn", 2)
    o = ops("torch")
    ctx = {k: o.asarray(v) for k, v in data.items()}
    truth = gradient("torch", lambda p: M.exact_objective(model, o, p, ctx), params)
    g = _estimate(model, "st", params, data, "torch", 5_000)["h1_b"]
    assert np.abs((g.mean(0) - truth["h1_b"]) / (g.std(0, ddof=1) / np.sqrt(len(g)))).max() > 10


TRAINABLE = [("bsn", n) for n in estimators.names() if P.PROBLEMS["bsn"].supports(n) and n != "exact"] + [
    ("categorical-vae", n) for n in ("reinforce", "reinforce-ema", "rloo", "gumbel-softmax", "st-gumbel", "reinmax",
                                     "gumbel-rao", "muprop", "indecater")] + [
    ("stochastic-depth", "disarm"), ("skip-rnn", "disarm")]


@pytest.mark.parametrize("problem,name", TRAINABLE)
def test_a_short_training_run_lowers_the_held_out_loss(problem, name):
    pp, model, _, _ = _setup(problem, 1, estimator=name)
    backend = "jax" if name in ("disarm", "rloo") and "jax" in BACKENDS else "torch"
    run = train(problem, pp, name, depth=1, backend=backend, device="cpu", seed=0,
                settings=Training(0.01, "adam", steps=60, eval_every=60), batch_size=32, n_samples=draws(name),
                options={})
    first, last = run.history[0]["loss"], run.history[-1]["loss"]
    assert last < first - 0.05, (first, last)


def test_training_curves_carry_steps_and_time():
    pp, model, _, _ = _setup("bsn", 1)
    run = train("bsn", pp, "st-sigmoid", depth=1, backend="torch", device="cpu", seed=0,
                settings=Training(0.3, "sgd", steps=20, eval_every=10, slope_anneal=1.1), batch_size=16, n_samples=1,
                options={})
    assert [h["step"] for h in run.history] == [0, 10, 20]
    assert run.history[0]["train_time"] == 0 < run.history[1]["train_time"] < run.history[2]["train_time"]
    assert 0 <= run.history[-1]["accuracy"] <= 1
