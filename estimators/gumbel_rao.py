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

from estimators.dist import sample
from estimators.lattice import offsets
from estimators.ops import Array, Downstream, Ops
from estimators.spec import Spec

SPEC = Spec("gumbel-rao", "straight-through", False, ("bernoulli", "categorical"), 1, True,
            "Paulus, Maddison & Krause 2021, Rao-Blackwellizing the straight-through Gumbel-softmax gradient "
            "estimator", uniforms=2, options={"tau": 1.0, "k": 10},
            note="st-gumbel's relaxed gradient averaged over k Gumbel draws conditioned on the hard sample (no "
                 "gradient through the conditioning): st-gumbel's mean, less variance; the k draws come from the "
                 "second uniform array, each an exact conditional draw (randomly shifted lattice)")


def lattice_uniforms(o: Ops, v: Array, k: int, dim: int) -> Array:
    """[k, *v.shape]: k uniforms from one, frac(v + j alpha) over the last `dim` axes (dim 1: elementwise)."""
    off = offsets(k, dim)
    off = off.reshape(k, *([1] * (v.ndim - 1)), dim) if dim > 1 else off.reshape(k, *([1] * v.ndim))
    s = v + o.asarray(off)
    return o.maximum(s - o.floor(s), o.tiny)


def conditional_noise(o: Ops, dist: str, logits: Array, x: Array, v: Array) -> Array:
    """Noise n (logits + n is the perturbed logit) of draws v [k, ...] conditioned on the sample x; no gradient."""
    logits = o.stop_gradient(logits)
    if dist == "bernoulli":  # -logit(u'), u' = v p (b = 1) or p + v (1 - p) (b = 0), in logs
        log_p, log_1mp = o.log_sigmoid(logits), o.log_sigmoid(-logits)
        p = o.sigmoid(logits)
        on = -o.log(v) - log_p + o.log1p(-v * p)
        off = -o.log1p(-(1 - v) * (1 - p)) + o.log1p(-v) + log_1mp
        return o.where(x > 0.5, on, off)
    log_e = o.log(-o.log(v))  # log E, E ~ Exp(1)
    lse = o.logsumexp(logits, -1, keepdims=True)
    log_ei = o.log(o.sum(x * o.exp(log_e), -1, keepdims=True))
    top = lse - log_ei
    below = -o.logaddexp(log_e - logits, log_ei - lse)
    return o.where(x > 0.5, top, below) - logits


def surrogate(o: Ops, params, down: Downstream, u, state, *, dist: str, event_ndim: int, tau: float, k: int):
    logits = params["logits"]
    x = sample(o, dist, params, u[0])
    v = lattice_uniforms(o, u[1], int(k), 1 if dist == "bernoulli" else logits.shape[-1])
    noisy = logits + conditional_noise(o, dist, logits, x, v)
    y = o.mean(o.sigmoid(noisy / tau) if dist == "bernoulli" else o.softmax(noisy / tau), 0)
    return down.main(x + y - o.stop_gradient(y)), state
