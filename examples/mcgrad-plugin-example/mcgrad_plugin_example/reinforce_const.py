"""REINFORCE with a constant baseline c: g = (f(x) - c) * d log q(x) / d theta.

Williams (1992). E[c d log q] = 0, so any constant c keeps the estimate unbiased.

Written once against the op set `estimators.ops.Ops`, like the built-in estimators (estimators/reinforce.py):
the entry point names this module, and it runs in torch, torch-compile and JAX alike. No backend is imported
here; the arrays come from the ops `o` the driver passes in.
"""

from __future__ import annotations

from estimators.dist import sample, score
from estimators.ops import Downstream, Ops, attach, per_unit
from estimators.spec import Spec

SPEC = Spec("reinforce-const", "score-function", True, ("bernoulli", "categorical", "gaussian"), 1, False,
            "Williams 1992 (REINFORCE) with a constant baseline c: (f(x) - c) d log q(x)", options={"c": 0.5},
            note="example plug-in: unbiased for every c, least variance near E[f]")


def surrogate(o: Ops, params, down: Downstream, u, state, *, dist: str, event_ndim: int, c: float = 0.5):
    x = sample(o, dist, params, u[0])
    loss = down.main(x)
    signal = per_unit(o.stop_gradient(loss) - c, event_ndim)
    return attach(o, loss, params, {k: signal * s for k, s in score(o, dist, params, x).items()}, event_ndim), state
