"""The Gaussian model problems (seed 000): GaussianVAE and the Bayesian neural net, with and without the local
reparameterization trick. Their objectives have no closed form, so:

  - the math is pinned by a hand-written NumPy forward pass (z = loc) and the analytic KLs by Monte Carlo;
  - torch and JAX compute the same loss from the same uniforms;
  - unbiasedness: reinforce, rloo, nvil, measure-valued (VAE), nvil and local-reparam (BNN) match a reference
    (reparam) by a two-sample z-test on every parameter entry (reinforce on the BNN's ~1,300 weights is so noisy
    that this only catches gross errors; local-reparam against reparam is sharp);
  - the local reparameterization trick lowers the variance of the BNN's gradient (the point of the trick).

Thresholds. An entry's z = (mean_a - mean_b) / sqrt(se_a^2 + se_b^2) is ~N(0, 1) when both are unbiased. A
comparison tests P entries at once; Bonferroni keeps its false-alarm rate below ALPHA = 0.001 with
|z| < Phi^-1(1 - ALPHA / (2P)) on every entry (about 4.9 for the ~1,200-1,400 entries here).
"""

from __future__ import annotations

from functools import cache
from statistics import NormalDist

import numpy as np
import pytest

import estimators
from bench.problems import engine as M
from bench.problems.bnn import BNN
from bench.problems.data import binarize, load, one_hot
from bench.problems.gaussian_vae import GaussianVAE
from estimators.dist import log_prob, sample
from tests.truths import BACKENDS, model_rows, ops

ALPHA = 0.001
N_REF = 10_000  # reparam reference estimates
N = 10_000  # estimates of each estimator under test (the same rows serve the variance comparison)
N_KL = 20_000  # Monte Carlo draws of the KL


def bonferroni_z(n_entries: int, alpha: float = ALPHA) -> float:
    """The |z| bound that P independent N(0, 1) entries all stay under with probability >= 1 - alpha."""
    return NormalDist().inv_cdf(1 - alpha / (2 * n_entries))


def digits_batch(n: int, *, binary: bool) -> dict[str, np.ndarray]:
    d = load()
    x = d.x_train[:n]
    return {"x": binarize(x)} if binary else {"x": x, "y": one_hot(d.y_train[:n])}


MODELS = {  # name: (model, its data)
    "vae": lambda: (GaussianVAE(64, latent=2, hidden=8), digits_batch(4, binary=True)),
    "bnn": lambda: (BNN(64, hidden=8, depth=2, batch_size=16), digits_batch(16, binary=False)),
    "bnn-local": lambda: (BNN(64, hidden=8, depth=2, batch_size=16, local=True), digits_batch(16, binary=False)),
    # other shapes for the one-pass checks only: a deeper VAE, a one-hidden-layer BNN under a narrower prior
    "vae-deep": lambda: (GaussianVAE(64, latent=3, hidden=5, depth=2), digits_batch(3, binary=True)),
    "bnn-tiny": lambda: (BNN(64, hidden=5, depth=1, batch_size=4, prior_scale=0.5), digits_batch(4, binary=False)),
    "bnn-tiny-local": lambda: (BNN(64, hidden=5, depth=1, batch_size=4, prior_scale=0.5, local=True),
                               digits_batch(4, binary=False)),
}
ONE_PASS = ["vae", "vae-deep", "bnn", "bnn-local", "bnn-tiny", "bnn-tiny-local"]


def estimate(model_name: str, name: str, backend: str, n: int, seed: int) -> dict[str, np.ndarray]:
    """n independent estimates of the gradient of the mean loss over the model's batch (float64)."""
    model, data = MODELS[model_name]()
    params = model.init_params(0)
    n_samples = estimators.spec(name).min_samples  # rloo: two draws per example share the baseline
    rows = model_rows(model, name, params, data, backend, n, n_samples=n_samples, seed=seed)
    return {k: v.astype(np.float64) for k, v in rows.items()}


@cache
def summary(model_name: str, name: str, backend: str, n: int, seed: int) -> dict[str, tuple]:
    """Per entry (mean, standard error of the mean), plus "_trace": (trace of the covariance, its standard error)
    over all entries; cached so the reference is computed once per backend, rows not kept."""
    rows = estimate(model_name, name, backend, n, seed)
    out = {k: (v.mean(0), v.std(0, ddof=1) / np.sqrt(n)) for k, v in rows.items()}
    assert all(np.all(np.isfinite(v)) for v in rows.values()), name
    flat = np.concatenate([v.reshape(n, -1) for v in rows.values()], 1)
    per_row = ((flat - flat.mean(0)) ** 2).sum(1)
    out["_trace"] = (per_row.mean(), per_row.std(ddof=1) / np.sqrt(n))
    weights = [v.reshape(n, -1) for k, v in rows.items() if k.startswith("w")]  # the BNN's weight parameters
    if weights:
        flat = np.concatenate(weights, 1)
        per_row = ((flat - flat.mean(0)) ** 2).sum(1)
        out["_trace_weights"] = (per_row.mean(), per_row.std(ddof=1) / np.sqrt(n))
    return out


def two_sample_z(a: dict[str, tuple], b: dict[str, tuple]) -> dict[str, np.ndarray]:
    """Per-entry z of the difference of two independent means. Entries with no variance in either (gradients
    that are the same in every draw, e.g. the KL's alone where an input pixel is 0) must agree to float32
    rounding, which the small extra term allows for."""
    out = {}
    for k in a:
        if k.startswith("_"):
            continue
        (ma, sa), (mb, sb) = a[k], b[k]
        rounding = 1e-5 * (np.abs(ma) + np.abs(mb)) + 1e-9
        out[k] = (ma - mb) / np.sqrt(sa**2 + sb**2 + rounding**2)
    return out


UNBIASED_CASES = [  # (model, estimator) against reparam on the weight-sampled (or plain) model
    ("vae", "reinforce"),
    ("vae", "rloo"),
    ("bnn", "reinforce"),
    ("bnn-local", "local-reparam"),
    ("vae", "nvil"),
    ("vae", "measure-valued"),
    ("bnn", "nvil"),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("model_name,name", UNBIASED_CASES)
def test_unbiased_against_reparam(model_name, name, backend):
    reference = summary(model_name.removesuffix("-local"), "reparam", backend, N_REF, 1)
    other = summary(model_name, name, backend, N, 2)
    z = two_sample_z(other, reference)
    n_entries = sum(v.size for v in z.values())
    bound = bonferroni_z(n_entries)
    worst = {k: float(np.abs(v).max()) for k, v in z.items()}
    assert max(worst.values()) < bound, (bound, worst)


@pytest.mark.parametrize("backend", BACKENDS)
def test_local_reparam_lowers_the_variance(backend):
    """Batch 16: the sum over parameters of each entry's variance, local-reparam (each example's pre-activations
    sampled) against reparam (one weight draw shared by the batch); Kingma et al. 2015's point."""
    local = summary("bnn-local", "local-reparam", backend, N, 2)
    shared = summary("bnn", "reparam", backend, N_REF, 1)
    for key in ("_trace", "_trace_weights"):
        (v_local, se_local), (v_shared, se_shared) = local[key], shared[key]
        print(f"{backend} {key}: local-reparam {v_local:.4g} reparam {v_shared:.4g} ratio {v_local / v_shared:.3f}")
        assert v_shared - v_local > 4 * np.hypot(se_local, se_shared), (key, v_local, v_shared)


# ----------------------------------------------------------------------------------------------------------------
# The analytic KLs against Monte Carlo


def test_vae_kl_matches_monte_carlo():
    o = ops("torch")
    model, data = GaussianVAE(64, latent=2, hidden=8), digits_batch(4, binary=True)
    p1 = {k: o.asarray(v)[None] for k, v in model.init_params(0).items()}
    ctx = {k: o.asarray(v) for k, v in data.items()}
    node = model.node(o, p1, 0, model.inputs(o, p1, ctx), ctx)  # [1, 4, latent]
    u = np.random.default_rng(5).uniform(size=(N_KL, 1, 4, model.latent)).astype(np.float32)
    z = sample(o, "gaussian", node, o.asarray(u))
    std = {"loc": 0 * z, "scale": 1 + 0 * z}
    mc = o.to_numpy(log_prob(o, "gaussian", node, z, 1) - log_prob(o, "gaussian", std, z, 1))[:, 0]
    analytic = o.to_numpy(model.direct_loss(o, p1, ctx))[0]
    z_kl = (mc.astype(np.float64).mean(0) - analytic) / (mc.std(0, ddof=1) / np.sqrt(N_KL))
    assert np.all(np.abs(z_kl) < bonferroni_z(len(analytic))), (z_kl, analytic)


def test_bnn_kl_matches_monte_carlo():
    """prior_scale 0.5 (not the default), so the prior's scale is exercised."""
    o = ops("torch")
    model = BNN(64, hidden=8, depth=2, batch_size=8, prior_scale=0.5)
    p1 = {k: o.asarray(v)[None] for k, v in model.init_params(0).items()}
    rng = np.random.default_rng(6)
    mc = 0.0
    for layer in range(model.n_stochastic):
        node = model.node(o, p1, layer, None, {})  # [1, 1, n_in, n_out]
        u = rng.uniform(size=(N_KL, *node["loc"].shape)).astype(np.float32)
        w = sample(o, "gaussian", node, o.asarray(u))
        prior = {"loc": 0 * w, "scale": 0.5 + 0 * w}
        mc = mc + o.to_numpy(log_prob(o, "gaussian", node, w, 4) - log_prob(o, "gaussian", prior, w, 4))
    mc = mc.astype(np.float64).ravel() / model.n_train
    analytic = float(o.to_numpy(model.direct_loss(o, p1, {}))[0, 0])
    z_kl = (mc.mean() - analytic) / (mc.std(ddof=1) / np.sqrt(N_KL))
    assert abs(z_kl) < bonferroni_z(1), (z_kl, analytic, mc.mean())


# ----------------------------------------------------------------------------------------------------------------
# One pass: torch against JAX, and against NumPy


def uniforms_for(model, n_draws: int, seed: int) -> list[np.ndarray]:
    """Uniforms shaped like each layer's node parameters (without the rows axis)."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(1e-6, 1 - 1e-6, model.node_shape(m, n_draws)).astype(np.float32)
            for m in range(model.n_stochastic)]


def one_pass(model_name: str, backend: str, mode: str, n_draws: int = 3) -> dict[str, np.ndarray]:
    model, data = MODELS[model_name]()
    if model.per_draw_data:  # one draw per example: the uniforms' draws axis is the examples'
        n_draws = len(data["x"])
    o = ops(backend)
    p = {k: o.asarray(v) for k, v in model.init_params(0).items()}
    ctx = {k: o.asarray(v) for k, v in data.items()}
    u = [o.asarray(a) for a in uniforms_for(model, n_draws, seed=7)]

    def run(p, ctx, u):
        return M.forward(model, o, p, ctx, u, mode)

    if backend == "jax":  # one compile rather than one per op
        import jax

        run = jax.jit(run)
    return {k: o.to_numpy(v).astype(np.float64) for k, v in run(p, ctx, u).items()}


@pytest.mark.skipif(len(BACKENDS) < 2, reason="needs both torch and jax installed")
@pytest.mark.parametrize("model_name", ONE_PASS)
def test_torch_and_jax_objectives_agree(model_name):
    t, j = one_pass(model_name, "torch", "stochastic"), one_pass(model_name, "jax", "stochastic")
    assert set(t) == set(j) and t["loss"].shape == j["loss"].shape
    for k in t:
        np.testing.assert_allclose(t[k], j[k], rtol=1e-5, atol=1e-6, err_msg=k)


def softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def numpy_vae_loss(model: GaussianVAE, p: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """KL(q(z|x) || N(0, I)) - log p(x | z = loc), per example."""
    h = x
    for i in range(model.depth):
        h = np.tanh(h @ p[f"enc{i}_w"] + p[f"enc{i}_b"])
    loc, log_scale = h @ p["loc_w"] + p["loc_b"], h @ p["log_scale_w"] + p["log_scale_b"]
    kl = (0.5 * (loc**2 + np.exp(2 * log_scale) - 1) - log_scale).sum(-1)
    h = loc
    for i in range(model.depth):
        h = np.tanh(h @ p[f"dec{i}_w"] + p[f"dec{i}_b"])
    logits = h @ p["out_w"] + p["out_b"]
    return kl + (softplus(logits) - x * logits).sum(-1)


def numpy_bnn_loss(model: BNN, p: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(mean cross-entropy with every weight at its mean + KL / n_train, accuracy)."""
    h, kl = x, 0.0
    for layer in range(model.depth + 1):
        loc, scale = p[f"w{layer}_loc"], softplus(p[f"w{layer}_rho"])
        s0 = model.prior_scale
        kl += (np.log(s0 / scale) + (scale**2 + loc**2) / (2 * s0**2) - 0.5).sum()
        h = h @ loc + p[f"b{layer}"]
        if layer < model.depth:
            h = np.maximum(h, 0)
    log_softmax = h - np.log(np.exp(h - h.max(-1, keepdims=True)).sum(-1, keepdims=True)) - h.max(-1, keepdims=True)
    ce = -(y * log_softmax).sum(-1).mean()
    return ce + kl / model.n_train, float((h.argmax(-1) == y.argmax(-1)).mean())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("model_name", ONE_PASS)
def test_deterministic_pass_matches_numpy(model_name, backend):
    """mode "deterministic" takes z = loc: the loss then has a closed form, written here in NumPy (float64)."""
    model, data = MODELS[model_name]()
    p = {k: v.astype(np.float64) for k, v in model.init_params(0).items()}
    got = one_pass(model_name, backend, "deterministic")
    if isinstance(model, GaussianVAE):
        loss = numpy_vae_loss(model, p, data["x"].astype(np.float64))
        np.testing.assert_allclose(got["loss"], loss, rtol=1e-5)
        np.testing.assert_allclose(got["elbo"], -loss, rtol=1e-5)
    else:
        loss, accuracy = numpy_bnn_loss(model, p, data["x"].astype(np.float64), data["y"])
        np.testing.assert_allclose(got["loss"], [loss], rtol=1e-5)
        np.testing.assert_allclose(got["accuracy"], [accuracy])
