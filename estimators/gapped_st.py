"""Gapped straight-through (GST): straight-through Gumbel-softmax with the Gumbel noise replaced by a
deterministic perturbation of the logits that keeps ST-GS's two essential properties (Fan, Chi, Rudnicky &
Ramadge 2022): consistency (the perturbed logits' argmax is the sample D) and a strict gap (the sampled logit
exceeds every other by at least `gap`). With m = argmax(logits) and D = e_d, d ~ softmax(logits):

    theta~_d = logits_m,   theta~_j = min(logits_j, logits_m - gap) (j != d),
    forward D,   backward d/dlogits of softmax((logits + sg(theta~ - logits)) / tau)

so the backward pass is J(softmax(theta~ / tau)) / tau times df/dD, J(p) = diag(p) - p p^T: one evaluation, no
resampling, and no noise given D (the variance ST-GS's Gumbels add given D is gone). GST-1.0 is gap = 1 (the
default); GST-p takes the expected gap of ST-GS given D, E[G_d - max_{j != d} G_j | D = e_d] = -log(1 - pi) / pi,
pi = softmax(logits)_d, selected here by any gap < 0 (the reference code's convention for its mode "gst-p";
pi is scaled by 1 - 1e-5 there and here, so the gap stays finite at pi = 1). Bernoulli is the 2-way categorical
(0, logit): d b / d logit := sigmoid'(delta / tau) / tau, delta = s max(s logit, gap), s = 2b - 1 (gap from
pi = sigmoid(s logit) for GST-p). Biased: its mean is E_D[J(softmax(theta~(D) / tau)) / tau df/dD(D)].

Follows the reference code (chijames/GST, model/basic.py gst_mover; its default detach=True: the perturbation
carries no gradient, so d theta~ / d logits = I); the sample is the suite's Gumbel-max draw from the same u as
every other estimator, which is a draw from softmax(logits) as the code's OneHotCategorical is. The code's
centring of the perturbed logits leaves the softmax unchanged and is omitted.
"""

from __future__ import annotations

from collections.abc import Callable

from estimators.dist import sample
from estimators.gumbel_softmax import over
from estimators.ops import Array, Downstream, Ops
from estimators.spec import Spec

SPEC = Spec("gapped-st", "straight-through", False, ("bernoulli", "categorical"), 1, True,
            "Fan, Chi, Rudnicky & Ramadge 2022, Training discrete deep generative models via gapped straight-through "
            "estimator (GST)", options={"tau": 1.0, "gap": 1.0},
            note="ST-GS with a deterministic perturbation: the sampled logit raised to the maximum, the others held "
                 "at least `gap` below it (GST-1.0: gap=1; GST-p: any gap < 0, the gap -log(1-pi)/pi); one "
                 "evaluation, no noise given the sample; Bernoulli as the 2-way categorical (0, logits)")
PI_SCALE = 1 - 1e-5  # the reference code's guard: -log(1 - pi) / pi stays finite at pi = 1


def gap_for(o: Ops, pi: Callable[[], Array], gap: float) -> Array | float:
    """The gap: `gap` when >= 0, else GST-p's -log(1 - pi) / pi (pi() computed only then)."""
    if gap >= 0:
        return gap
    p = o.maximum(pi() * PI_SCALE, 1e-30)
    return -o.log1p(-p) / p


def surrogate(o: Ops, params, down: Downstream, u, state, *, dist: str, event_ndim: int, tau: float, gap: float):
    logits, sg = params["logits"], o.stop_gradient
    lg = sg(logits)
    x = sample(o, dist, {"logits": lg}, u[0])  # b = 1[u < sigmoid(logits)], or Gumbel-max: a draw from softmax(logits)
    if dist == "bernoulli":
        s = 2 * x - 1
        delta = s * o.maximum(s * lg, gap_for(o, lambda: o.sigmoid(s * lg), gap))  # theta~_1 - theta~_0
        y = o.sigmoid(over(delta, tau))
        return down.main(x + over(y * (1 - y), tau) * (logits - lg)), state
    top = o.take_along_axis(lg, o.argmax(lg)[..., None], -1)
    gap_d = gap_for(o, lambda: o.sum(x * o.softmax(lg), -1, keepdims=True), gap)  # pi = the sample's probability
    moved = o.where(x > 0.5, top, o.minimum(lg, top - gap_d))
    y = o.softmax(over(logits + sg(moved - logits), tau))
    return down.main(x + y - sg(y)), state
