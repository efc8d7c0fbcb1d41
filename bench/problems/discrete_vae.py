"""VAEs with discrete latents, on binarized images: the sigmoid belief net VAE (`sbn-vae`, Bernoulli layers
of `width` units) and the categorical VAE (`categorical-vae`, `width` variables of `cats` categories).

Stochastic layers z_0 .. z_{L-1}; encoder q(z_0|x) q(z_1|z_0) ..., decoder p(z_{L-1}) ... p(z_0|z_1) p(x|z_0).
Linear variant: each conditional is one affine map; nonlinear: two tanh layers of `hidden` units in
between (the REBAR, RELAX and DisARM benchmarks). Per-example loss: the negative ELBO,

    -ELBO = sum_l [log q(z_l | z_{l-1}) - log p(z_{l-1} | z_l)] - log p(z_{L-1}),   z_{-1} = x,

split as local terms (layer l's sample and its parent) and the prior as the final term.
With objective=iwae:k=K the loss is instead the importance-weighted bound -log 1/K sum_j exp(-(-ELBO)(z_j)) over
K samples of each example (Burda, Grosse & Salakhutdinov 2016), which VIMCO is built for; the model engine
draws and combines the K samples.
Mnih & Gregor 2014; Tucker et al. 2017 (REBAR); Jang, Gu & Poole 2017 (categorical VAE).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.problems.engine import Model
from bench.problems.layers import Arrays, dense, init_dense
from estimators.dist import log_prob
from estimators.ops import Ops

VAE_CHOICES = {"variant": ("linear", "nonlinear"), "objective": ("elbo", "iwae")}
# the VAEs' multi-sample bound: objective=iwae:k=K (Burda, Grosse & Salakhutdinov 2016)
IWAE = {"objective": "elbo", "k": 1}


@dataclass(frozen=True)
class DiscreteVAE(Model):
    dist: str  # "bernoulli" (sbn-vae) or "categorical"
    n_pixels: int
    width: int
    depth: int
    cats: int = 2
    nonlinear: bool = False
    hidden: int = 100
    iwae_k: int = 1  # K > 1: the loss is the K-sample importance-weighted bound (objective=iwae:k=K)

    @property
    def n_stochastic(self) -> int:
        return self.depth

    @property
    def units(self) -> int:
        """Length of one flattened sample."""
        return self.width * (self.cats if self.dist == "categorical" else 1)

    def event_shape(self, layer: int) -> tuple[int, ...]:
        return (self.width, self.cats) if self.dist == "categorical" else (self.width,)

    def _maps(self) -> list[tuple[str, int, int]]:
        """(name, inputs, outputs) of every conditional: q{l} encodes, p{l} decodes layer l's parent."""
        out = []
        for m in range(self.depth):
            out.append((f"q{m}", self.n_pixels if m == 0 else self.units, self.units))
            out.append((f"p{m}", self.units, self.n_pixels if m == 0 else self.units))
        return out

    def init_params(self, seed: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        p: dict[str, Any] = {"prior_b": rng.normal(0.0, 0.1, self.units)}
        for name, n_in, n_out in self._maps():
            if self.nonlinear:
                p |= init_dense(rng, f"{name}a", n_in, self.hidden) | init_dense(rng, f"{name}c", self.hidden,
                                                                                   self.hidden)
                n_in = self.hidden
            p |= init_dense(rng, name, n_in, n_out)
        return {k: v.astype(np.float32) for k, v in p.items()}

    def _flat(self, z: Any) -> Any:
        return z.reshape(*z.shape[:-2], self.units) if self.dist == "categorical" else z

    def _event(self, logits: Any) -> Any:
        return logits.reshape(*logits.shape[:-1], *self.event_shape(0))

    def _map(self, o: Ops, p: Arrays, name: str, h: Any) -> Any:
        if self.nonlinear:
            h = o.tanh(dense(p, f"{name}c", o.tanh(dense(p, f"{name}a", h))))
        return dense(p, name, h)

    def inputs(self, o: Ops, p: Arrays, ctx: Arrays) -> Any:
        return ctx["x"]

    def node(self, o: Ops, p: Arrays, layer: int, prev: Any, ctx: Arrays) -> Arrays:
        parent = prev if layer == 0 else self._flat(prev)
        return {"logits": self._event(self._map(o, p, f"q{layer}", parent))}

    def local_loss(self, o: Ops, p: Arrays, layer: int, z: Any, prev: Any, ctx: Arrays) -> Any:
        log_q = log_prob(o, self.dist, self.node(o, p, layer, prev, ctx), z, len(self.event_shape(layer)))
        parent_logits = self._map(o, p, f"p{layer}", self._flat(z))
        if layer == 0:
            log_p = log_prob(o, "bernoulli", {"logits": parent_logits}, prev, 1)
        else:
            log_p = log_prob(o, self.dist, {"logits": self._event(parent_logits)}, prev,
                                    len(self.event_shape(layer)))
        return log_q - log_p

    def final_loss(self, o: Ops, p: Arrays, h: Any, ctx: Arrays) -> Any:
        b = p["prior_b"]
        prior = self._event(b.reshape(b.shape[0], 1, b.shape[-1]))
        return -log_prob(o, self.dist, {"logits": prior}, h, len(self.event_shape(0)))

    def metrics(self, o: Ops, p: Arrays, h: Any, ctx: Arrays, loss: Any) -> dict[str, Any]:
        return {"elbo": -loss}

    def groups(self, params: dict[str, np.ndarray]) -> dict[str, list[str]]:
        out = {f"layer{m}": [k for k in params if k.startswith(f"q{m}_") or k.startswith(f"q{m}a_")
                             or k.startswith(f"q{m}c_")] for m in range(self.depth)}
        return out | {"decoder": [k for k in params if k.startswith("p")]}
