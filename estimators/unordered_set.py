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
draw from p), which biases the estimate. The k draws are made one after another, each from p restricted to the
configurations not drawn before it; in that order they follow Plackett-Luce, the law of a Gumbel-top-k of the
K^V joint configurations (which the reference code finds by stochastic beam search, Kool, van Hoof & Welling
2019, one variable at a time: V sequential steps, 100x this estimator's floor in eager torch at 200 units and
minutes of JAX compilation). Each restricted draw walks the variables at once: see `_draw_outside`.

Noise: u holds k uniform arrays shaped like the sample (spec.multi_sample); draw i uses u[i], one uniform per
Bernoulli unit (1[u < its probability]) and K per categorical variable (Gumbel-max), each variable's own. The
first draw is a draw from p: it alone goes through `down.main`, so later nodes get their gradients from it (the
reference code also weights the decoder loss over all k draws; nested nodes would then cost k^depth passes). The
other k - 1 are plain forward passes (`down.value`), as in RLOO. A node with fewer than k configurations uses all
of them (S = D, p(D \\ S) = 0, R = 1: the exact gradient).
"""

from __future__ import annotations

import functools
import itertools
from math import log, prod

import numpy as np

from estimators.dist import log_prob, n_configurations, score
from estimators.ops import Array, Downstream, Ops, attach, per_unit
from estimators.spec import Spec

SPEC = Spec("unordered-set", "score-function", True, ("bernoulli", "categorical"), 1, False,
            "Kool, van Hoof & Welling 2020, Estimating gradients for discrete random variables by sampling without "
            "replacement (unordered set estimator)", multi_sample=True, min_samples=2, options={"baseline": 1.0},
            note="n_samples = k distinct joint configurations of the node, drawn without replacement, "
                 "REINFORCE weighted by the unordered set's leave-one-out ratios, with the built-in baseline "
                 "(baseline=0 drops it); exact ratios by a recursion over the subsets of the k draws")
EMPTY = -1e30  # log of a value's mass when none is left: finite, so no inf - inf arises


def log1mexp(o: Ops, x: Array) -> Array:
    """log(1 - exp(x)) for x <= 0, accurate near 0 too: 1 - e^x = -2 t / (1 - t) with t = tanh(x / 2)."""
    t = o.tanh(x / 2)
    return o.where(x > -0.693, o.log(-2 * t) - o.log1p(-t), o.log1p(-o.exp(x)))


def _values(o: Ops, dist: str, score: Array, u: Array) -> Array:
    """One-hot [..., K, V]: each variable's value drawn with probability proportional to exp(score) [..., K, V]
    (a Bernoulli's by its one uniform per variable u [..., V], a categorical's by Gumbel-max, u [..., K, V])."""
    if dist == "categorical":
        return o.moveaxis(o.one_hot(o.argmax(score - o.log(-o.log(u)), -2), score.shape[-2]), -1, -2)
    one = o.float(u < o.sigmoid(score[..., 1, :] - score[..., 0, :]))
    return o.stack([1 - one, one], -2)


def _along(x: Array, matrix: Array) -> Array:
    """x [..., V] @ matrix [V, V] as one 2-D product (torch broadcasts a batched one slowly)."""
    return (x.reshape(-1, x.shape[-1]) @ matrix).reshape(*x.shape)


@functools.cache
def _constants(n_vars: int, n_vals: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For a node of n_vars variables of n_vals values: [w, v] = 1 for w > v, [w, v] = 1 for w < v, and the
    number of configurations of the variables after each v (inf past float32's range). Made once per shape,
    outside the traced code."""
    after = np.tril(np.ones((n_vars, n_vars), np.float32), -1)
    size = np.array([float(n_vals) ** (n_vars - 1 - v) if (n_vars - 1 - v) * log(n_vals) < 30 else np.inf
                     for v in range(n_vars)], np.float32)
    return after, np.ascontiguousarray(after.T), size


def _draw_outside(o: Ops, dist: str, logp: Array, taken: Array, u: Array) -> Array:
    """One-hot [..., K, V]: a draw from the node's distribution (logp [..., K, V]) restricted to the
    configurations not in `taken` [..., j, K, V] (j distinct ones), with one draw's uniforms u.

    Sequential sampling from the restricted distribution walks the variables in order. While its prefix is that
    of some taken configurations (the set A), value c at variable v has weight p_v(c) M(c), where
    M(c) = 1 - sum_{e in A, e_v = c} P(e after v) is the mass of the valid completions; once the prefix is no
    taken configuration's, the rest is drawn freely. Each taken configuration e is a path of that walk, and a
    decision at v uses uniform u_v whatever the path, so the decisions of all j paths are computed at once. The
    walk follows a path up to its first decision off it, switching there to the path the value continues if
    there is one (at most j - 1 switches); the variables after its exit are drawn freely, from uniforms the walk
    did not use. Layout [..., K, V] keeps the variables innermost: torch's kernels are slow along a short axis."""
    n_vars, j = logp.shape[-1], taken.shape[-3]
    after, before, size = (o.asarray(a) for a in _constants(int(n_vars), int(logp.shape[-2])))
    suffix = _along(o.sum(taken * logp[..., None, :, :], -2), after)  # [..., j, V]: log P(e after v)
    agree = o.sum(taken[..., :, None, :, :] * taken[..., None, :, :, :], -2)  # [..., e, e', V]
    shares = o.float(_along(1 - agree, before) < 0.5)  # e and e' agree on every variable before v
    hit = shares[..., None, :] * taken[..., None, :, :, :]  # [..., e, e', K, V]: e' shares e's prefix, e'_v = c
    lifted = o.where(hit > 0.5, suffix[..., None, :, None, :], EMPTY)
    excluded = lifted[..., 0, :, :] if j == 1 else o.logsumexp(lifted, -3)  # [..., e, K, V]
    # a subtree holding as many taken configurations as it has configurations has no mass left: exactly 0
    full = o.sum(hit, -3) >= size
    # (below e^-80 the mass left is 1 in float32; clamping there keeps exp away from denormals, which are slow)
    log_m = o.where(full, EMPTY, o.maximum(log1mexp(o, o.minimum(o.maximum(excluded, -80.0), 0.0)), EMPTY))
    decide = _values(o, dist, logp[..., None, :, :] + log_m, u[..., None, :, :] if dist == "categorical"
                     else u[..., None, :])  # [..., e, K, V]: each path's decision at every variable
    stays = o.sum(decide * taken, -2)  # [..., e, V]: 1 where path e's decision continues e
    position = o.arange(n_vars)
    path = o.broadcast_to(o.asarray(np.eye(j, dtype=np.float32)[0]), (*taken.shape[:-3], j))  # one-hot e
    walking = o.sum(path, -1) > 0.5  # every row starts on the first path
    start, last, exit_path, exit_value = 0, None, path, None
    for _ in range(j):
        on = o.sum(path[..., None] * stays, -2)  # [..., V]
        first = o.argmax(o.float((on < 0.5) & (position >= start)))  # the path's first decision off it
        at = o.one_hot(first, n_vars)  # [..., V]
        value = o.sum(o.sum(path[..., None, None] * decide, -3) * at[..., None, :], -1)  # [..., K]
        shared_at = o.sum(o.sum(path[..., None, None] * shares, -3) * at[..., None, :], -1)  # [..., e']
        continues = shared_at * o.sum(o.sum(taken * at[..., None, None, :], -1) * value[..., None, :], -1)
        switch = o.sum(continues, -1) > 0.5
        leaves = walking & ~switch
        last = first if last is None else o.where(leaves, first, last)
        exit_path = o.where(leaves[..., None], path, exit_path)
        exit_value = value if exit_value is None else o.where(leaves[..., None], value, exit_value)
        walking = walking & switch
        path = o.where(switch[..., None], o.one_hot(o.argmax(continues), j), path)
        start = (first + 1)[..., None]
    prefix = o.sum(exit_path[..., None, None] * taken, -3)  # [..., K, V]
    free = _values(o, dist, logp, u)
    return o.where((position < last[..., None])[..., None, :], prefix,
                   o.where((position == last[..., None])[..., None, :], exit_value[..., :, None], free))


def without_replacement(o: Ops, dist: str, logits: Array, u: Array, event_ndim: int) -> Array:
    """[k, *batch, *event]: k distinct configurations of the node (k = u.shape[0]) drawn one after another
    without replacement, the i-th from the node's distribution restricted to the configurations not drawn
    before it (the Plackett-Luce order of a Gumbel-top-k); logits [*batch, *event] (no gradient flows through
    them)."""
    logits = o.stop_gradient(logits)
    k = u.shape[0]
    batch, event = tuple(logits.shape[: logits.ndim - event_ndim]), tuple(logits.shape[logits.ndim - event_ndim:])
    if dist == "categorical":
        n_vars, n_vals = prod(event[:-1]), event[-1]
        logp = o.moveaxis(o.log_softmax(logits).reshape(*batch, n_vars, n_vals), -1, -2)
        uu = o.moveaxis(o.broadcast_to(u, (k, *batch, *event)).reshape(k, *batch, n_vars, n_vals), -1, -2)
    else:
        n_vars = prod(event)
        flat = logits.reshape(*batch, n_vars)
        logp = o.stack([o.log_sigmoid(-flat), o.log_sigmoid(flat)], -2)
        uu = o.broadcast_to(u, (k, *batch, *event)).reshape(k, *batch, n_vars)
    draws = [_values(o, dist, logp, uu[0])]
    for i in range(1, k):
        draws.append(_draw_outside(o, dist, logp, o.stack(draws, -3), uu[i]))
    x = o.stack(draws, 0)  # [k, *batch, K, V]
    return (o.moveaxis(x, -2, -1) if dist == "categorical" else x[..., 1, :]).reshape(k, *batch, *event)


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
