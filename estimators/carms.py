"""CARMS (categorical antithetic REINFORCE multi-sample): ARMS for categorical variables. K >= 2 draws of each
variable, made negatively correlated by a Dirichlet copula, share a leave-one-out baseline; each pair of draws
is importance-weighted by how much likelier the pair is independently than under the copula:

    g = 1/(K(K-1)) sum_k sum_{j != k} r(z_k, z_j) (f(z_k) - f(z_j)) (z_k - p),   r(a, b) = p_a p_b / Q(a, b)

p = softmax(logits), z one-hot, Q(a, b) = P(z_k = a, z_j = b) the copula's pairwise joint (every pair of draws
has the same one). E[r(z_k, z_j) h(z_k, z_j)] = sum_ab p_a p_b h(a, b) wherever Q > 0, so the estimate has
RLOO's mean on independent draws: unbiased (Dimitriev & Zhou 2021, eq. for the CARMS estimator). With
independent draws r = 1 and g is RLOO; with 2 categories and 2 draws it is DisARM, with K it is ARMS.

Sampling (CARMS-I, the paper's inverse-CDF categorical): per variable the categories are laid out on [0, 1) in
one of C(C-1)/2 orders, drawn uniformly (rotations, each unordered pair of categories at the two ends exactly
once: their code's `InverseCategorical._get_permutations`), and
draw k takes the category whose interval holds its copula uniform c_k. From K iid uniforms v_k (one per draw):
e = -log v, d = e / sum_k e ~ Dirichlet(1, ..., 1), c_k = (1 - d_k)^(K-1), each marginally U(0, 1). Two of
them have the bivariate CDF C2(x, y) = max(x^(1/(K-1)) + y^(1/(K-1)) - 1, 0)^(K-1) (copulas.Dirichlet), so for
the order pi with intervals [L_a, R_a):

    Q(a, b) = mean_pi [C2(R_a, R_b) - C2(L_a, R_b) - C2(R_a, L_b) + C2(L_a, L_b)]

Follows their code (github.com/alekdimi/carms, antithetic.InverseCategorical, copulas.Dirichlet,
vae.matrix_grad; grad_type 'carms', the default) except where it departs from the paper's estimator: the code
smooths and clips the ratio, clip((p_a p_b + 1e-3) / (Q + 1e-3), 0.01, 10), and sets Q(a, a) to 1e-6; here r is
the exact p_a p_b / Q(a, b) for every pair, agreeing pairs included (with one variable their f's are equal, so
they drop out; with several variables per node their term has mean zero whatever its weight, and the exact
ratio keeps LOORF as the case of independent draws). A pair whose Q rounds to <= 0 in float32 (probability
~1e-7: only pairs the copula almost never draws) gets weight 0 rather than an infinite one.
Uniforms: draw k's copula uniform is entry 0 of its uniform array's category axis; draw 0's entry 1 picks the
order (shared by the K draws, independent across variables).
"""

from __future__ import annotations

from functools import cache

import numpy as np

from estimators.ops import Array, Downstream, Ops, attach, per_unit
from estimators.spec import Spec

SPEC = Spec("carms", "antithetic", True, ("categorical",), 1, False,
            "Dimitriev & Zhou 2021, CARMS: Categorical-Antithetic-REINFORCE Multi-Sample gradient estimator",
            multi_sample=True, min_samples=2,
            note="n_samples >= 2 draws per variable, negatively correlated through a Dirichlet copula on a randomly "
                 "ordered inverse CDF (CARMS-I), share a leave-one-out baseline; each pair weighted by "
                 "p_a p_b / P(pair), the exact ratio (their code clips it); 2 categories: ARMS")
_FLOOR = 1e-30  # a pair's joint probability at or below this counts as impossible (weight 0)


@cache
def orders(c: int) -> tuple[np.ndarray, np.ndarray]:
    """Their code's C(C-1)/2 category orders as [P, C, C] matrices: `shuffle[pi] @ p` lists p in order pi, and
    `before[pi, a, b]` = 1 where category b precedes a (so `before[pi] @ p` is each interval's left end). Order
    (i, j): the categories rotated by i, then all but the first rotated by j; kept when the first category's
    index is below the last's, so each unordered pair of categories sits at the two ends exactly once."""
    shuffles = []
    for i in range(c):
        for j in range(c - 1):
            m = np.roll(np.eye(c, dtype=np.float32), i, axis=0)
            m[1:] = np.roll(m[1:], j, axis=0)
            if np.argmax(m[0]) < np.argmax(m[-1]):
                shuffles.append(m)
    shuffle = np.stack(shuffles)
    before = np.zeros_like(shuffle)
    for n, m in enumerate(shuffle):
        order = np.argmax(m, -1)
        for pos, a in enumerate(order):
            before[n, a, order[:pos]] = 1.0
    return shuffle, before


def copula_uniforms(o: Ops, v: Array) -> Array:
    """[K, ...] iid uniforms -> [K, ...] uniforms with U(0, 1) marginals, jointly antithetic along axis 0."""
    e = -o.log(v)
    return (1 - e / o.sum(e, 0)) ** (v.shape[0] - 1)


def bivariate_cdf(o: Ops, x: Array, y: Array, k: int) -> Array:
    """P(c_j < x, c_k < y) for two of the K copula uniforms (their copulas.Dirichlet, not inverted)."""
    s = 1.0 / (k - 1)
    return o.maximum(x**s + y**s - 1, 0.0) ** (k - 1)


def sample(o: Ops, p: Array, c: Array, pick: Array) -> Array:
    """One-hot draws [K, ..., C] by the inverse CDF of p [..., C] in the order `pick` [...] (a uniform) selects,
    at the copula uniforms c [K, ...]. The category is the number of right ends <= c in that order (never past
    the last, whatever the rounding of the cumulative sums), mapped back through the order."""
    n_cat = p.shape[-1]
    shuffle, _ = orders(n_cat)
    n_orders = shuffle.shape[0]
    idx = o.minimum(o.floor(pick * n_orders), n_orders - 1)
    chosen = o.float(o.expand_dims(idx, -1) == o.float(o.arange(n_orders)))  # [..., P]
    s = (chosen @ o.asarray(shuffle.reshape(n_orders, n_cat * n_cat))).reshape(*p.shape, n_cat)  # [..., C, C]
    right = (s @ o.expand_dims(p, -1))[..., 0] @ o.asarray(np.triu(np.ones((n_cat, n_cat), np.float32)))
    count = o.sum(o.float(right[..., :-1] <= o.expand_dims(c, -1)), -1)  # [K, ...]: position in the order
    at = o.float(o.expand_dims(count, -1) == o.float(o.arange(n_cat)))  # [K, ..., C] one-hot position
    return (o.expand_dims(at, -2) @ s)[..., 0, :]


def pair_joint(o: Ops, p: Array, z: Array) -> Array:
    """Q(z_k, z_j) for every ordered pair of draws: [K, K, ...], averaged over the orders."""
    k, n_cat = z.shape[0], p.shape[-1]
    _, before = orders(n_cat)
    n_orders = before.shape[0]
    # left ends of every category in every order: [..., P, C]
    left = (p @ o.asarray(before.transpose(2, 0, 1).reshape(n_cat, n_orders * n_cat))).reshape(*p.shape[:-1],
                                                                                                 n_orders, n_cat)
    right = left + o.expand_dims(p, -2)
    zl = (left @ o.expand_dims(z, -1))[..., 0]  # [K, ..., P]: each draw's interval in each order
    zr = (right @ o.expand_dims(z, -1))[..., 0]
    lk, rk, lj, rj = o.expand_dims(zl, 1), o.expand_dims(zr, 1), o.expand_dims(zl, 0), o.expand_dims(zr, 0)
    rect = (bivariate_cdf(o, rk, rj, k) - bivariate_cdf(o, lk, rj, k) - bivariate_cdf(o, rk, lj, k)
            + bivariate_cdf(o, lk, lj, k))
    return o.mean(rect, -1)


def surrogate(o: Ops, params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    sg, k = o.stop_gradient, u.shape[0]
    logits = sg(params["logits"])
    n_cat = logits.shape[-1]
    if n_cat == 1:  # one category: the draw is certain and the gradient 0
        return down.main(o.broadcast_to(o.float(logits == logits), tuple(u.shape[1:]))), state
    p = o.softmax(logits)
    z = sample(o, p, copula_uniforms(o, u[..., 0]), u[0, ..., 1])  # [K, ..., C]
    loss = down.main(z[0])
    f = o.concat([o.expand_dims(sg(loss), 0), down.value(z[1:])])  # [K, rows, draws]
    f = per_unit(f, event_ndim - 1)  # broadcast over the variables
    pz = o.sum(z * p, -1)  # [K, ...]: each draw's probability
    joint = pair_joint(o, p, z)  # [K, K, ...]
    possible = joint > _FLOOR
    ratio = o.where(possible, o.expand_dims(pz, 1) * o.expand_dims(pz, 0) / o.where(possible, joint, 1.0), 0.0)
    others = o.asarray((1 - np.eye(k, dtype=np.float32)).reshape(k, k, *([1] * (ratio.ndim - 2))))
    weight = o.sum(others * ratio * (o.expand_dims(f, 1) - o.expand_dims(f, 0)), 1)  # [K, ...]
    coeff = o.sum(o.expand_dims(weight, -1) * (z - p), 0) / (k * (k - 1))
    return attach(o, loss, params, {"logits": coeff}, event_ndim), state

