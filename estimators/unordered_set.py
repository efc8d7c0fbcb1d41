"""The unordered set estimator: REINFORCE over k draws without replacement, weighted by the probabilities of the
unordered set they form, with the built-in baseline (Kool, van Hoof & Welling 2020, eqs. 6-7 and 14-16).

S = {s_1 .. s_k}: the k largest Gumbel-perturbed log-probabilities (Gumbel-top-k), k distinct values of the node.
With p^D(S) the probability that k draws without replacement from D give the set S in any order and
W(B) = p^{D \\ (S \\ B)}(B) for B a subset of S (the set B drawn from the domain without the rest of S):

    R(S, s)        = W(S \\ {s}) / W(S)                           (leave-one-out ratio)
    R^{D\\s}(S, s') = W(S \\ {s, s'}) / W(S \\ {s}),  1 at s' = s   (second order)
    g = sum_{s in S} p(s) R(S, s) d log p(s) / d theta (f(s) - b_s),   b_s = sum_{s' in S} p(s') R^{D\\s}(S, s') f(s')

b_s is an unbiased estimate of E_p[f] from the other k - 1 draws (p(s) f(s) plus the unordered set estimate of
(1 - p(s)) E_{D\\s}[f]), so it is a valid baseline; baseline=0 drops it (g = sum p R f d log p, the estimator
without it, which is REINFORCE at k = 1). Every W comes from one exact recursion over the subsets of S,

    W({}) = 1,   W(B) = sum_{b in B} p(b) W(B \\ {b}) / (p(D \\ S) + p(B))

(the first draw from D \\ (S \\ B) is b with probability p(b) / (p(D \\ S) + p(B))): k 2^(k-1) terms, all positive,
in logs. The reference code (wouterkool/estimating-gradients-without-replacement) computes the same ratios by
enumerating the k! orderings (its VAE) or by trapezoidal integration of the paper's integral form (its Bernoulli
experiment), and sets R = 1 by hand when S holds nearly all the mass; the recursion gives R -> 1 there itself.

What "without replacement" means at a node of several variables: per joint configuration of the node, as the
paper's own categorical VAE does (20 variables of 10 categories, one categorical over the 10^20 joint values).
The estimator is then exactly the paper's, for the node's distribution p(x) = prod_v p_v(x_v), the k draws are k
distinct configurations (each one f-evaluation), and unbiasedness follows from the paper's theorem unchanged.
Drawing each variable without replacement separately would not do: pairing the v-th variable's j-th draw with
the others' j-th draws gives configurations whose marginals are not p (only the first of a Gumbel-top-k is a
draw from p), which biases the estimate. The joint Gumbel-top-k is found exactly by stochastic beam search
(Kool, van Hoof & Welling 2019), as in the reference code: one variable at a time, each of the k prefixes'
children gets Gumbels conditioned on their maximum being the prefix's own perturbed value, and the k largest
children are kept; the final beam is the Gumbel-top-k of all K^V joint configurations, in decreasing order.

Noise: u holds k uniform arrays shaped like the sample (spec.multi_sample); prefix j's children at variable v
use u[j] at v. Categorical: K Gumbels per child set, shifted to their conditioned maximum (the reference code's
formula). Bernoulli (each unit a 2-way categorical): one uniform per child pair, which picks the larger child
(1[u < sigmoid(logit)]) and, rescaled to (0, 1), the smaller one's Gumbel truncated below the prefix's value.
The first draw is the Gumbel-max of the joint, a draw from p: it alone goes through `down.main`, so later
nodes get their gradients from it (the reference code also weights the decoder loss over all k draws; nested
nodes would then cost k^depth passes). The other k - 1 are plain forward passes (`down.value`), as in RLOO.
A node with fewer than k configurations uses all of them (S = D, p(D \\ S) = 0, R = 1: the exact gradient).
"""

from __future__ import annotations

import itertools
from math import prod

import numpy as np

from estimators.dist import log_prob, n_configurations, score
from estimators.ops import Array, Downstream, Ops, attach, per_unit
from estimators.spec import Spec

SPEC = Spec("unordered-set", "score-function", True, ("bernoulli", "categorical"), 1, False,
            "Kool, van Hoof & Welling 2020, Estimating gradients for discrete random variables by sampling without "
            "replacement (unordered set estimator)", multi_sample=True, min_samples=2, options={"baseline": 1.0},
            note="n_samples = k distinct joint configurations of the node (Gumbel-top-k by stochastic beam search), "
                 "REINFORCE weighted by the unordered set's leave-one-out ratios, with the built-in baseline "
                 "(baseline=0 drops it); exact ratios by a recursion over the subsets of the k draws")
EMPTY = -1e30  # perturbed value of an empty beam slot: below every real one, finite so no inf - inf arises
TAKEN = -3e30  # a candidate already kept in this step's top-k: below the empty slots


def log1mexp(o: Ops, x: Array) -> Array:
    """log(1 - exp(x)) for x <= 0, accurate near 0 too: 1 - e^x = -2 t / (1 - t) with t = tanh(x / 2)."""
    t = o.tanh(x / 2)
    return o.where(x > -0.693, o.log(-2 * t) - o.log1p(-t), o.log1p(-o.exp(x)))


def _children(o: Ops, dist: str, loc: Array, top: Array, u: Array, log_p1: Array) -> Array:
    """[..., k, K]: the perturbed log-probabilities of each prefix's K children, conditioned on their maximum
    being the prefix's own `top` [..., k]; loc [..., k, K] are their locations (prefix plus child log p)."""
    top = top[..., None]
    if dist == "categorical":  # K Gumbels, then shifted so their maximum is top (-log(e^-T - e^-Z + e^-g))
        g = loc - o.log(-o.log(u))
        z = o.take_along_axis(g, o.argmax(g)[..., None], -1)
        return top - o.softplus(top - g + o.log1p(-o.exp(g - z)))
    # Bernoulli: child 1 wins with probability p1 = sigmoid(logit); the rescaled uniform draws the loser's Gumbel
    # truncated below top: -log(E e^-a + e^-T), E = -log(v) ~ Exp(1), a the loser's location
    p1 = o.exp(log_p1)[..., None]
    one = u < p1
    v = o.maximum(o.where(one, u / p1, (u - p1) / (1 - p1)), o.tiny)
    loser_loc = o.where(one, loc[..., 0], loc[..., 1])
    loser = -o.logaddexp(o.log(-o.log(v)) - loser_loc, -top[..., 0])
    return o.stack([o.where(one, loser, top[..., 0]), o.where(one, top[..., 0], loser)], -1)


def beam_search(o: Ops, dist: str, logp: Array, u: Array) -> Array:
    """Stochastic beam search: the Gumbel-top-k of the joint log-probabilities sum_v logp[..., v, x_v] over all
    configurations x, as values [..., k, V] in decreasing order of their perturbed log-probability.

    logp [..., V, K] per-variable log-probabilities; u [..., k, V, K] (categorical) or [..., k, V] (Bernoulli)."""
    batch, n_vars, n_vals = tuple(logp.shape[:-2]), logp.shape[-2], logp.shape[-1]
    k = u.shape[len(batch)]
    top = o.broadcast_to(o.asarray(np.array([0.0] + [EMPTY] * (k - 1), np.float32)), (*batch, k))
    phi = o.broadcast_to(o.asarray(np.zeros(k, np.float32)), (*batch, k))  # the prefixes' log-probabilities
    trace = []
    for v in range(n_vars):
        lp = logp[..., v, :]
        loc = phi[..., None] + lp[..., None, :]  # [..., k, K]
        noise = u[..., v, :] if dist == "categorical" else u[..., v]
        values = _children(o, dist, loc, top, noise, lp[..., 1]).reshape(*batch, k * n_vals)
        loc = loc.reshape(*batch, k * n_vals)
        left, picks, tops, phis = values, [], [], []
        for _ in range(k):  # top-k by repeated argmax: k is small
            i = o.argmax(left)[..., None]
            picks.append(i)
            tops.append(o.take_along_axis(values, i, -1))
            phis.append(o.take_along_axis(loc, i, -1))
            left = o.where(o.one_hot(i[..., 0], k * n_vals) > 0.5, TAKEN, left)
        idx, top, phi = o.concat(picks, -1), o.concat(tops, -1), o.concat(phis, -1)
        trace.append((idx // n_vals, idx % n_vals))
    ptr = o.broadcast_to(o.arange(k), (*batch, k))
    chosen = []
    for parent, value in reversed(trace):  # back from the final beam to each configuration's values
        chosen.append(o.take_along_axis(value, ptr, -1))
        ptr = o.take_along_axis(parent, ptr, -1)
    return o.stack(chosen[::-1], -1)


def without_replacement(o: Ops, dist: str, logits: Array, u: Array, event_ndim: int) -> Array:
    """[k, *batch, *event]: k distinct configurations of the node (k = u.shape[0]), the Gumbel-top-k of its
    joint distribution in decreasing order; logits [*batch, *event] (no gradient flows through them)."""
    logits = o.stop_gradient(logits)
    k = u.shape[0]
    batch, event = tuple(logits.shape[: logits.ndim - event_ndim]), tuple(logits.shape[logits.ndim - event_ndim:])
    if dist == "categorical":
        n_vars, n_vals = prod(event[:-1]), event[-1]
        logp = o.log_softmax(logits).reshape(*batch, n_vars, n_vals)
        uu = o.moveaxis(o.broadcast_to(u, (k, *batch, *event)).reshape(k, *batch, n_vars, n_vals), 0, -3)
        return o.moveaxis(o.one_hot(beam_search(o, dist, logp, uu), n_vals), -3, 0).reshape(k, *batch, *event)
    n_vars = prod(event)
    flat = logits.reshape(*batch, n_vars)
    logp = o.stack([o.log_sigmoid(-flat), o.log_sigmoid(flat)], -1)
    uu = o.moveaxis(o.broadcast_to(u, (k, *batch, *event)).reshape(k, *batch, n_vars), 0, -2)
    return o.moveaxis(o.float(beam_search(o, dist, logp, uu)), -2, 0).reshape(k, *batch, *event)


def _gather(o: Ops, x: Array, index: np.ndarray) -> Array:
    """x[..., index] for a static integer index array."""
    return x[..., o.asarray(index)]


def log_subset_probs(o: Ops, log_p: Array, log_rest: Array) -> list[Array]:
    """[log W(B) for the subsets B of size m, in itertools.combinations order, for m = 0 .. k]: log_p [..., k] the
    draws' log-probabilities, log_rest [...] log p(D \\ S)."""
    k = log_p.shape[-1]
    position = [{c: i for i, c in enumerate(itertools.combinations(range(k), m))} for m in range(k + 1)]
    levels = [o.broadcast_to(o.asarray(np.zeros(1, np.float32)), (*log_p.shape[:-1], 1))]
    for m in range(1, k + 1):
        members = np.array(list(position[m]), np.int64).reshape(-1, m)
        without = np.array([[position[m - 1][c[:i] + c[i + 1:]] for i in range(m)] for c in position[m]],
                           np.int64).reshape(-1, m)
        lp = _gather(o, log_p, members)  # [..., C(k, m), m]
        mass = o.logaddexp(log_rest[..., None], o.logsumexp(lp, -1))
        levels.append(o.logsumexp(lp + _gather(o, levels[m - 1], without), -1) - mass)
    return levels


def weights(o: Ops, log_p: Array, f: Array, baseline: float) -> Array:
    """[..., k]: each draw's coefficient p(s) R(S, s) (f(s) - baseline * b_s) of d log p(s) / d theta."""
    k = log_p.shape[-1]
    log_rest = log1mexp(o, o.minimum(o.logsumexp(log_p, -1), 0.0))  # p(D \ S) = 1 - sum_S p
    levels = log_subset_probs(o, log_p, log_rest)
    full = list(range(k))
    pos1 = {c: i for i, c in enumerate(itertools.combinations(range(k), k - 1))}
    log_w1 = _gather(o, levels[k - 1], np.array([pos1[tuple(full[:s] + full[s + 1:])] for s in full], np.int64))
    p_r = o.exp(log_p + log_w1 - levels[k])  # p(s) R(S, s)
    if k == 1:  # no other draw: b_s = p(s) f(s) (the k = 1 estimator with it is (1 - p) f d log p, not unbiased)
        b = o.exp(log_p) * f
    else:
        pos2 = {c: i for i, c in enumerate(itertools.combinations(range(k), k - 2))}
        pairs = np.array([[pos2[tuple(i for i in full if i not in (s, t))] if s != t else 0 for t in full]
                          for s in full], np.int64)
        log_r2 = _gather(o, levels[k - 2], pairs) - log_w1[..., None]  # [..., s, s']
        log_r2 = o.where(o.eye(k), 0.0, log_r2)
        b = o.sum(o.exp(log_p[..., None, :] + log_r2) * f[..., None, :], -1)
    return p_r * (f - baseline * b)


def surrogate(o: Ops, params, down: Downstream, u, state, *, dist: str, event_ndim: int, baseline: float):
    logits = params["logits"]
    event = tuple(logits.shape[logits.ndim - event_ndim:])
    k = min(u.shape[0], n_configurations(dist, event))  # a node with fewer configurations: all of them
    x = without_replacement(o, dist, logits, u[:k], event_ndim)  # [k, *batch, *event]
    loss = down.main(x[0])
    f = o.stop_gradient(loss)[None] if k == 1 else o.concat([o.stop_gradient(loss)[None], down.value(x[1:])])
    log_p = log_prob(o, dist, {"logits": o.stop_gradient(logits)}, x, event_ndim)  # [k, *batch]
    f = o.broadcast_to(f, tuple(log_p.shape))
    w = o.moveaxis(weights(o, o.moveaxis(log_p, 0, -1), o.moveaxis(f, 0, -1), baseline), -1, 0)
    coeff = o.sum(per_unit(w, event_ndim) * score(o, dist, params, x)["logits"], 0)
    return attach(o, loss, params, {"logits": coeff}, event_ndim), state
