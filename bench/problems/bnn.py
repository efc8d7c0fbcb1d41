"""Seed 000's Bayesian neural network: mean-field Gaussian weights trained by the ELBO (Blundell et al. 2015's
"Bayes by backprop"), a classifier with `depth` relu hidden layers of width `hidden` and a softmax output.

    W_l ~ q(W_l) = N(loc_l, softplus(rho_l)^2) elementwise,  l = 0..depth (every linear layer, the output too)
    h_l = relu(h_{l-1} W_l + b_l)  (no relu at the output),   h_{-1} = x
    loss = mean over the minibatch of -log softmax(h_depth)[y]  +  sum_l KL(q(W_l) || N(0, prior_scale^2)) / n_train

The biases b_l are deterministic point estimates, not random variables (no KL for them). The KL is analytic
and goes in `direct_loss` (no sample in it, so no estimator multiplies it by a score); dividing by n_train
makes the per-example loss the negative ELBO over the training set divided by its size.

One draw is one sample of all the weights, shared by the B examples of the minibatch: the data carry no draws
axis (per_draw_data = False) and ctx {"x": [B, n_in], "y": one-hot [B, n_classes]} holds the whole minibatch.

local=False: the stochastic nodes are the weights, node shape [draws, n_in_l, n_out_l]; carry multiplies.
local=True (the local reparameterization trick, Kingma, Salimans & Welling 2015): the stochastic nodes are each
    example's pre-activations a_l = h_{l-1} W_l + b_l, which given h_{l-1} are exactly Gaussian,
        a_l ~ N(h_{l-1} loc_l + b_l, h_{l-1}^2 softplus(rho_l)^2),  node shape [draws, B, n_out_l],
    sampled independently per example. Every example's marginal, hence the expected loss, is the same as with
    shared weights, so its gradient is too; the estimator `local-reparam` (which `requires` this) has lower
    variance. Pathwise estimators only: an example whose relu layer is all zero gets a zero-scale node there,
    whose score is undefined (score-function estimators belong on local=False).
Layers are the engine's stochastic layers: n_stochastic = depth + 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.problems import DATA, IMAGE, WIDTH, Problem
from bench.problems.engine import Model
from bench.problems.layers import Arrays, accuracy, cross_entropy
from estimators.ops import Ops

INIT_SCALE = 0.05  # softplus(rho) at initialisation


@dataclass(frozen=True)
class BNN(Model):
    n_in: int
    hidden: int = 32
    depth: int = 2  # relu hidden layers; the output layer's weights are random too
    n_classes: int = 10
    n_train: int = 1297  # training-set size: the KL's weight per example (digits' training split)
    batch_size: int = 16  # examples in ctx (fixes the node shape with local=True)
    local: bool = False
    prior_scale: float = 1.0
    dist = "gaussian"
    per_draw_data = False

    @property
    def n_stochastic(self) -> int:
        return self.depth + 1

    def widths(self, layer: int) -> tuple[int, int]:
        """(fan in, fan out) of layer `layer`'s weights."""
        n_in = self.n_in if layer == 0 else self.hidden
        return n_in, self.n_classes if layer == self.depth else self.hidden

    def init_params(self, seed: int) -> dict[str, np.ndarray]:
        """loc ~ N(0, 1/fan_in), rho = softplus^-1(0.05), biases ~ N(0, 0.1^2) (as init_dense)."""
        rng = np.random.default_rng(seed)
        rho = np.log(np.expm1(INIT_SCALE))
        p: dict[str, Any] = {}
        for layer in range(self.n_stochastic):
            n_in, n_out = self.widths(layer)
            p[f"w{layer}_loc"] = rng.normal(0.0, 1 / np.sqrt(n_in), (n_in, n_out))
            p[f"w{layer}_rho"] = np.full((n_in, n_out), rho)
            p[f"b{layer}"] = rng.normal(0.0, 0.1, n_out)
        return {k: v.astype(np.float32) for k, v in p.items()}

    def event_shape(self, layer: int) -> tuple[int, ...]:
        return (self.batch_size, self.widths(layer)[1]) if self.local else self.widths(layer)

    def inputs(self, o: Ops, p: Arrays, ctx: Arrays) -> Any:
        return ctx["x"]

    @staticmethod
    def _per_draw(w: Any) -> Any:
        """[rows, *shape] -> [rows, 1, *shape]: broadcasts against [..., rows, draws, *shape]."""
        return w.reshape(w.shape[0], 1, *w.shape[1:])

    def _bias(self, p: Arrays, layer: int) -> Any:
        b = p[f"b{layer}"]
        return b.reshape(b.shape[0], 1, 1, b.shape[-1])  # [rows, draws, B, n_out]

    def node(self, o: Ops, p: Arrays, layer: int, prev: Any, ctx: Arrays) -> Arrays:
        loc = self._per_draw(p[f"w{layer}_loc"])
        scale = o.softplus(self._per_draw(p[f"w{layer}_rho"]))
        if not self.local:
            return {"loc": loc, "scale": scale}
        var = o.square(prev) @ o.square(scale)
        pos = var > 0  # an all-zero h (every relu off) gives scale 0: keep sqrt's gradient finite there
        return {"loc": prev @ loc + self._bias(p, layer), "scale": o.where(pos, o.sqrt(o.where(pos, var, 1.0)), 0.0)}

    def carry(self, o: Ops, p: Arrays, layer: int, z: Any, prev: Any, ctx: Arrays) -> Any:
        """The layer's activations [..., rows, draws, B, n_out]: z is W_l (local=False) or a_l (local=True)."""
        a = z if self.local else prev @ z + self._bias(p, layer)
        return a if layer == self.depth else o.relu(a)

    def final_loss(self, o: Ops, p: Arrays, h: Any, ctx: Arrays) -> Any:
        """Mean cross-entropy over the minibatch: [..., rows, draws]."""
        return cross_entropy(o, h, ctx["y"]).mean(-1)

    def direct_loss(self, o: Ops, p: Arrays, ctx: Arrays) -> Any:
        """sum_l KL(N(loc_l, s_l^2) || N(0, prior^2)) / n_train, [rows, 1]."""
        total = 0.0
        prior = self.prior_scale
        for layer in range(self.n_stochastic):
            loc, scale = p[f"w{layer}_loc"], o.softplus(p[f"w{layer}_rho"])
            kl = math.log(prior) - o.log(scale) + (o.square(scale) + o.square(loc)) / (2 * prior**2) - 0.5
            total = total + kl.sum((-2, -1))
        return total[:, None] / self.n_train

    def metrics(self, o: Ops, p: Arrays, h: Any, ctx: Arrays, loss: Any) -> dict[str, Any]:
        return {"accuracy": accuracy(o, h, ctx["y"]).mean(-1)}

    def groups(self, params: dict[str, np.ndarray]) -> dict[str, list[str]]:
        return {f"layer{m}": [f"w{m}_loc", f"w{m}_rho", f"b{m}"] for m in range(self.n_stochastic)}


# measure-valued perturbs one weight at a time: 3 forward passes of the rest of the net per weight, 4 320 per
# estimate at the default size and depth 2 (1 440 weights), far past what a gradients cell can afford
PROBLEM = Problem(
    "bnn", "gaussian", "Bayesian neural net, mean-field Gaussian weights, depth layers, -ELBO",
    lambda pp, depth, batch, estimator, pixels: BNN(pixels, hidden=int(pp["hidden"]), depth=depth,
                                                    n_train=int(pp.get("n_train", 1297)), batch_size=batch,
                                                    local=estimator == "local-reparam"),
    defaults={"hidden": 16, **IMAGE}, ranges={"hidden": WIDTH}, choices=DATA, has_depth=True,
    provides=("linear-gaussian-weights",), excludes=("measure-valued",),
    metrics={"accuracy": "held-out accuracy"},
    sizes={"paper": {"": {"hidden": 400, "data": "digits28"}}}, depths={"paper": (2,)})
