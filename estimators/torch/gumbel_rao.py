"""Gumbel-Rao: straight-through Gumbel-softmax with its relaxed gradient averaged over k Gumbel draws
conditioned on the hard sample (a Rao-Blackwellisation of ST-Gumbel):

    D = onehot(argmax(logits + G)),  G_1 .. G_k ~ p(G | D),  forward D,  backward d/dlogits of
    1/k sum_j softmax((logits + sg(G_j)) / tau)

Categorical: given D = e_i, the top perturbed logit is logsumexp(logits) - log E_i and every other one a Gumbel
truncated below it, -log(E_c exp(-logits_c) + E_i exp(-logsumexp(logits))), E ~ Exp(1). Bernoulli (binary
Concrete, the 2-way case): u given b is uniform on (0, p) or (p, 1), p = sigmoid(logits), and the relaxed sample
sigmoid((logits - logit(u)) / tau). No gradient flows through the conditional noise: with it the mean would
move away from ST-Gumbel's (Paulus et al. write the total derivative; their reference code, as here, does
not). k = 1 is ST-Gumbel in distribution; the mean is ST-Gumbel's for every k, the variance falls with k.

Noise: D comes from u[0], the same hard sample as every other estimator's (b = 1[u < sigmoid(logits)],
Gumbel-max). The k conditional draws come from u[1] alone, as the points of a randomly shifted lattice
(estimators.lattice): each point is an exact uniform, so each draw is an exact conditional draw, and the spec
keeps a fixed two uniform arrays whatever k. Paulus, Maddison & Krause (2021), Rao-Blackwellizing the
straight-through Gumbel-softmax gradient estimator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from estimators.lattice import offsets
from estimators.registry import register
from estimators.torch.common import Downstream
from estimators.torch.dist import sample


def lattice_uniforms(v: Tensor, k: int, dim: int) -> Tensor:
    """[k, *v.shape]: k uniforms from one, frac(v + j alpha) over the last `dim` axes (dim 1: elementwise)."""
    off = torch.as_tensor(offsets(k, dim), device=v.device, dtype=v.dtype)
    off = off.reshape(k, *([1] * (v.ndim - 1)), dim) if dim > 1 else off.reshape(k, *([1] * v.ndim))
    s = v + off
    return (s - torch.floor(s)).clamp_(min=torch.finfo(v.dtype).tiny)


def conditional_noise(dist: str, logits: Tensor, x: Tensor, v: Tensor) -> Tensor:
    """Noise n (logits + n is the perturbed logit) of draws v [k, ...] conditioned on the sample x; no gradient."""
    logits = logits.detach()
    if dist == "bernoulli":  # -logit(u'), u' = v p (b = 1) or p + v (1 - p) (b = 0), in logs
        log_p, log_1mp = F.logsigmoid(logits), F.logsigmoid(-logits)
        p = torch.sigmoid(logits)
        on = -torch.log(v) - log_p + torch.log1p(-v * p)
        off = -torch.log1p(-(1 - v) * (1 - p)) + torch.log1p(-v) + log_1mp
        return torch.where(x > 0.5, on, off)
    log_e = torch.log(-torch.log(v))  # log E, E ~ Exp(1)
    lse = torch.logsumexp(logits, -1, keepdim=True)
    log_ei = torch.log((x * torch.exp(log_e)).sum(-1, keepdim=True))
    top = lse - log_ei
    below = -torch.logaddexp(log_e - logits, log_ei - lse)
    return torch.where(x > 0.5, top, below) - logits


@register("gumbel-rao", "torch")
def gumbel_rao(params, down: Downstream, u, state, *, dist: str, event_ndim: int, tau: float = 1.0, k: int = 10):
    logits = params["logits"]
    x = sample(dist, params, u[0])
    v = lattice_uniforms(u[1], int(k), 1 if dist == "bernoulli" else logits.shape[-1])
    noisy = logits + conditional_noise(dist, logits, x, v)
    y = (torch.sigmoid(noisy / tau) if dist == "bernoulli" else torch.softmax(noisy / tau, -1)).mean(0)
    return down.main(x + y - y.detach()), state
