"""NVIL: REINFORCE with a learned input-dependent baseline, a constant baseline and variance normalisation.

    g = (l - c - C_psi(x)) / n * d log q(z) / d theta,     n = max(1, sqrt(v)) if normalise else 1

l is the example's loss (the node's learning signal: the loss from this node on, so each layer of a model
has its own, layer-dependent baseline), c a running mean and v a running variance of l - C_psi(x) (decay
alpha = 0.8), and C_psi a one-hidden-layer tanh network fitted to l - c by regression. Mnih & Gregor (2014),
Neural variational inference and learning in belief networks, sec. 3 and Algorithm 1.
Here x, the input C_psi sees, is the node's own parameters (logits, or loc and scale), per example: they are
computed from the model's input and the parent layer, never from the node's sample, so the baseline keeps
the estimator unbiased. As in reinforce-ema the state {net, adam_m, adam_v, signal} is explicit and a step
uses the state from *before* its update: psi takes one Adam step (lr `baseline_lr`; Adam rather than the
paper's SGD, so its steps stay bounded whatever the scale of the node's parameters) on the regression loss
mean (l - c - C_psi(x))^2 / 2, and c, v their EMA steps, for the next call. The paper updates c and v from
the current minibatch before using them, which leaks the sample into its baseline; this does not.
normalise=1 divides by the running std; with the state frozen (measurement) the estimate is unbiased for the
gradient divided by n, not for the gradient (n rescales the score term only, as the paper does for its
inference network), so it is off by default.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.lax import stop_gradient as sg

from estimators.jax.common import Downstream, attach
from estimators.jax.dist import per_unit, sample, score
from estimators.registry import register

HIDDEN = 16
BETAS, EPS = (0.9, 0.999), 1e-8


def init_state(shapes: dict[str, tuple[int, ...]], seed: int = 0, device: str = "cpu"):
    n = sum(int(np.prod(s)) for s in shapes.values())
    w1 = np.random.default_rng(seed).normal(0.0, 1.0 / math.sqrt(n), (n, HIDDEN)).astype(np.float32)
    net = (jnp.asarray(w1), jnp.zeros(HIDDEN, jnp.float32), jnp.zeros(HIDDEN, jnp.float32))
    zeros = tuple(jnp.zeros_like(t) for t in net)
    signal = tuple(jnp.zeros((), jnp.float32) for _ in range(3))  # c, v, Adam's step count
    return {"net": net, "adam_m": zeros, "adam_v": zeros, "signal": signal}


def features(params: dict[str, Array], event_ndim: int) -> Array:
    """The node's parameters per example, flattened and concatenated: [..., sum of event sizes]."""
    return jnp.concatenate([sg(v).reshape(*v.shape[: v.ndim - event_ndim], -1) for v in params.values()], -1)


def regression_grads(x: Array, h: Array, w2: Array, err: Array) -> tuple[Array, Array, Array]:
    """d/d(w1, b1, w2) of mean err^2 / 2 for C = tanh(x w1 + b1) w2 and err = target - C."""
    x, h, err = x.reshape(-1, x.shape[-1]), h.reshape(-1, HIDDEN), err.reshape(-1, 1)
    back = err * w2 * (1 - h * h)
    return -x.T @ back / len(x), -back.mean(0), -(err * h).mean(0)


def adam(state: dict, grads: tuple[Array, ...], lr: float, step: Array) -> tuple[tuple, tuple, tuple]:
    m = tuple(BETAS[0] * a + (1 - BETAS[0]) * g for a, g in zip(state["adam_m"], grads))
    v = tuple(BETAS[1] * a + (1 - BETAS[1]) * g * g for a, g in zip(state["adam_v"], grads))
    c0, c1 = 1 - BETAS[0] ** step, 1 - BETAS[1] ** step
    net = tuple(p - lr * (a / c0) / (jnp.sqrt(b / c1) + EPS) for p, a, b in zip(state["net"], m, v))
    return net, m, v


@register("nvil", "jax", init_state=init_state)
def nvil(params, down: Downstream, u, state, *, dist: str, event_ndim: int, decay: float = 0.8,
         baseline_lr: float = 0.01, normalise: float = 0.0):
    z = sample(dist, params, u[0])
    loss = down.main(z)
    x = features(params, event_ndim)
    (w1, b1, w2), (c, v, step) = state["net"], state["signal"]
    h = jnp.tanh(x @ w1 + b1)
    centred = sg(loss) - h @ w2  # the learning signal l minus C_psi(x)
    err = centred - c
    scale = 1 + normalise * (jnp.maximum(jnp.sqrt(v), 1) - 1)
    coeff = per_unit(err / scale, event_ndim)
    out = attach(loss, params, {k: coeff * s for k, s in score(dist, params, z).items()}, event_ndim)
    step = step + 1
    net, m, mom2 = adam(state, regression_grads(x, h, w2, err), baseline_lr, step)
    signal = (decay * c + (1 - decay) * centred.mean(), decay * v + (1 - decay) * centred.var(), step)
    return out, {"net": net, "adam_m": m, "adam_v": mom2, "signal": signal}
