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

import torch
from torch import Tensor

from estimators.registry import register


def bound(loss: Tensor) -> Tensor:
    """-log mean_j exp(-L_j) over the samples axis (-2 of [..., K, examples])."""
    return math.log(loss.shape[-2]) - torch.logsumexp(-loss, -2)


def leave_one_out(loss: Tensor) -> Tensor:
    """l_-j for every j: [..., K, examples]."""
    k = loss.shape[-2]
    log_w = -loss
    others = (log_w.sum(-2, keepdim=True) - log_w) / (k - 1)  # mean of the other samples' log weights
    eye = torch.eye(k, dtype=torch.bool, device=loss.device)[:, :, None]  # [j, i, 1]
    replaced = torch.where(eye, others[..., :, None, :], log_w[..., None, :, :])  # [..., j, i, examples]
    return math.log(k) - torch.logsumexp(replaced, -2)


@register("vimco", "torch")
def vimco(loss: Tensor, log_q: Tensor, baseline: float = 1.0) -> Tensor:
    """Per-example surrogate [..., examples] from per-sample losses and log q, both [..., K, examples];
    baseline=0 drops the leave-one-out baselines (the bound's plain score-function gradient, for comparison)."""
    value = bound(loss)
    signal = value.detach()[..., None, :] - baseline * leave_one_out(loss.detach())
    return value + (signal * (log_q - log_q.detach())).sum(-2)
