"""DisARM for categorical variables by stick breaking (Dong, Mnih & Tucker 2021, Coupled gradient estimators for
discrete latent variables, sec. 4: the stick-breaking variant with Rao-Blackwellisation, "DisARM-SB" here).

A variable of C categories is the first of C - 1 binaries that is 1 (the last category when none is): with the
logits sorted ascending, psi = sort(logits), binary r has logit alpha_r = psi_r - logsumexp_{s > r} psi_s, so
P(z = r) = prod_{s < r} (1 - sigma(alpha_s)) sigma(alpha_r) = softmax(psi)_r. The binaries are coupled
antithetically, b_r = 1[u_r < sigma(alpha_r)] and b~_r = 1[1 - u_r < sigma(alpha_r)], giving z and z~, and
the gradient with respect to alpha is multivariate DisARM with the terms f cannot see integrated out:

    r <= min(z, z~):   1/2 (f(z) - f(z~)) (-1)^b~_r 1[b_r != b~_r] sigma(|alpha_r|)     (DisARM)
    z < r <= z~:       1/2 (f(z~) - f(z)) (b~_r - sigma(alpha_r))                         (only z~ reads b_r)
    z~ < r <= z:       1/2 (f(z) - f(z~)) (b_r - sigma(alpha_r))
    r > max(z, z~):    0

(z and z~ as positions in the sorted order). Given every other uniform, the region r falls in is fixed and
each replacement has the DisARM term's conditional mean over u_r, 1/2 sigma(alpha)(1 - sigma(alpha))
(f(. | b_r = 1) - f(. | b_r = 0)); the last has mean 0. So the estimate is unbiased for the alpha-gradient,
and the chain rule through alpha(logits) (autodiff of the surrogate) gives the logits-gradient: one antithetic
pair, 2 evaluations per draw. Follows their code (google-research/google-research, disarm/categorical/
networks.py, grad_type 'disarm' with stick_breaking, logits_order 'ascending' as in their README, without
importance_weighting); the paper's importance-weighted variant (DisARM-IW: 1/2 w(z, z~) (f(z) - f(z~))
(d log q(z) - d log q(z~))) and the tree-structured one are not implemented here. The ascending order is
piecewise constant in the logits (ties broken by index), so it carries no gradient and the estimate stays
unbiased for any order. Uniforms: entries 0 .. C-2 of the draw's uniform array drive the C - 1 binaries.
"""

from __future__ import annotations

import numpy as np

from estimators.ops import Array, Downstream, Ops, per_unit, sum_event
from estimators.spec import Spec

SPEC = Spec("disarm-cat", "antithetic", True, ("categorical",), 2, False,
            "Dong, Mnih & Tucker 2021, Coupled gradient estimators for discrete latent variables (DisARM, "
            "stick-breaking variant)",
            note="each categorical as C-1 stick-breaking binaries (logits sorted ascending), coupled "
                 "antithetically: DisARM on the binaries both draws visit, REINFORCE-style terms on those only "
                 "one visits (Rao-Blackwellised); one antithetic pair, 2 evaluations per draw")
_BIG = 1e30  # stands for -inf in a masked logsumexp (finite, so no NaN in any gradient)


def ascending(o: Ops, logits: Array) -> Array:
    """[..., C, C] permutation matrices m with m[a, r] = 1 where category a has rank r in ascending order of
    the logits (ties by index): `logits @ m` lists the logits sorted ascending."""
    n = logits.shape[-1]
    a, b = o.expand_dims(logits, -1), o.expand_dims(logits, -2)  # [..., a, 1], [..., 1, b]
    earlier = o.asarray(np.tril(np.ones((n, n), bool), -1))  # b < a
    rank = o.sum(o.float(b < a) + o.float(b == a) * o.float(earlier), -1)  # [..., a]
    return o.float(o.expand_dims(rank, -1) == o.float(o.arange(n)))


def stick_logits(o: Ops, psi: Array) -> Array:
    """alpha_r = psi_r - logsumexp_{s > r} psi_s for r = 0 .. C-2: [..., C-1]."""
    n = psi.shape[-1]
    later = o.asarray(np.triu(np.ones((n, n), bool), 1)[:-1])  # [C-1, C]: s > r
    rest = o.logsumexp(o.where(later, o.expand_dims(psi, -2), -_BIG), -1)
    return psi[..., :-1] - rest


def first_one(o: Ops, b: Array) -> tuple[Array, Array]:
    """For binaries [..., C-1]: (alive [..., C-1], 1 where no earlier binary is 1, i.e. r <= z; the one-hot
    position of z [..., C], the first 1, or C-1 when there is none)."""
    n = b.shape[-1] + 1
    ext = o.concat([b, o.float(b[..., :1] == b[..., :1])], -1)  # b_{C-1} = 1
    before = ext @ o.asarray(np.triu(np.ones((n, n), np.float32), 1))  # ones among s < r
    alive = o.float(before == 0)
    return alive[..., :-1], alive * ext


def surrogate(o: Ops, params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    sg, logits = o.stop_gradient, params["logits"]
    n_cat = logits.shape[-1]
    if n_cat == 1:  # one category: the draw is certain and the gradient 0
        return down.main(o.broadcast_to(o.float(sg(logits) == sg(logits)), tuple(u.shape[1:]))), state
    m = sg(ascending(o, sg(logits)))
    alpha = stick_logits(o, (o.expand_dims(logits, -2) @ m)[..., 0, :])  # with gradients, through the sort
    sigma = o.sigmoid(sg(alpha))
    v = u[0][..., : n_cat - 1]
    b, b_anti = o.float(v < sigma), o.float(1 - v < sigma)
    alive, at = first_one(o, b)
    alive_anti, at_anti = first_one(o, b_anti)
    mt = o.moveaxis(m, -1, -2)
    z, z_anti = (o.expand_dims(at, -2) @ mt)[..., 0, :], (o.expand_dims(at_anti, -2) @ mt)[..., 0, :]
    loss = down.main(z)
    diff = per_unit(sg(loss) - down.value(z_anti), event_ndim)  # f(z) - f(z~), over variables and binaries
    both = alive * alive_anti
    coeff = 0.5 * diff * (both * (1 - 2 * b_anti) * o.float(b != b_anti) * o.sigmoid(o.abs(sg(alpha)))
                          - (1 - alive) * alive_anti * (b_anti - sigma)
                          + alive * (1 - alive_anti) * (b - sigma))
    return loss + sum_event(o, sg(coeff) * (alpha - sg(alpha)), event_ndim), state
