"""VIMCO: leave-one-out baselines for the K-sample importance-weighted bound (IWAE).

With per-sample losses L_j = log q(z_j|x) - log p(x, z_j) (the negative log weights) and the bound's loss

    l = -log 1/K sum_j exp(-L_j),
    l_-j = -log 1/K (sum_{i != j} exp(-L_i) + exp(-mean_{i != j} L_i))   (sample j replaced by the others'
                                                                          geometric mean)
    g = sum_j (l - l_-j) * d log q(z_j|x) / d theta  +  sum_j softmax(-L)_j * d L_j / d theta |_z fixed

Mnih & Rezende (2016), Variational inference for Monte Carlo objectives. Unlike the per-node estimators,
VIMCO needs the whole model's per-sample losses at once (the signal couples the K samples), so the model
engine (`bench/problems/model.py`) calls it once per example with L and log q summed over every layer; it
applies only to a model whose objective is the IWAE bound (`requires="iwae-objective"`).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.lax import stop_gradient as sg

from estimators.registry import register


def bound(loss: jax.Array) -> jax.Array:
    """-log mean_j exp(-L_j) over the samples axis (-2 of [..., K, examples])."""
    return math.log(loss.shape[-2]) - jax.nn.logsumexp(-loss, -2)


def leave_one_out(loss: jax.Array) -> jax.Array:
    """l_-j for every j: [..., K, examples]."""
    k = loss.shape[-2]
    log_w = -loss
    others = (log_w.sum(-2, keepdims=True) - log_w) / (k - 1)  # mean of the other samples' log weights
    eye = jnp.eye(k, dtype=bool)[:, :, None]  # [j, i, 1]
    replaced = jnp.where(eye, others[..., :, None, :], log_w[..., None, :, :])  # [..., j, i, examples]
    return math.log(k) - jax.nn.logsumexp(replaced, -2)


@register("vimco", "jax")
def vimco(loss: jax.Array, log_q: jax.Array, baseline: float = 1.0) -> jax.Array:
    """Per-example surrogate [..., examples] from per-sample losses and log q, both [..., K, examples];
    baseline=0 drops the leave-one-out baselines (the bound's plain score-function gradient, for comparison)."""
    value = bound(loss)
    signal = sg(value)[..., None, :] - baseline * leave_one_out(sg(loss))
    return value + (signal * (log_q - sg(log_q))).sum(-2)
