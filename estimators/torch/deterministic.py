"""Seed 002's deterministic baseline: the node outputs sigmoid(logits) and nothing is sampled.

It estimates no stochastic objective: its "estimate" is the exact gradient of f(sigmoid(logits)),
kept for training comparisons (stochastic against deterministic networks).
"""

from __future__ import annotations

import torch

from estimators.registry import register
from estimators.torch.common import Downstream


@register("deterministic", "torch")
def deterministic(params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    return down.main(torch.sigmoid(params["logits"])), state
