"""Straight-through Gumbel-softmax: forward the hard sample, backward the Gumbel-softmax gradient.

Jang, Gu & Poole (2017). The hard sample equals the one the other estimators draw from the same u.
"""

from __future__ import annotations

import torch.nn.functional as F

from estimators.registry import register
from estimators.torch.common import Downstream
from estimators.torch.gumbel_softmax import relaxed_sample


@register("st-gumbel", "torch")
def st_gumbel(params, down: Downstream, u, state, *, dist: str, event_ndim: int, tau: float = 1.0):
    y = relaxed_sample(dist, params["logits"], u[0], tau)
    if dist == "bernoulli":
        hard = (y > 0.5).to(y.dtype)
    else:
        hard = F.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype)
    return down.main(hard + y - y.detach()), state
