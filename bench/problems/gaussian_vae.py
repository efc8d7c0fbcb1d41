"""Seed 000's variational autoencoder: one Gaussian latent layer, a Bernoulli decoder, the analytic KL.

    encoder  h = tanh MLP(x) (`depth` hidden layers of width `hidden`),  q(z|x) = N(loc(h), exp(log_scale(h))^2)
    decoder  logits = tanh MLP(z) -> n_pixels,                             p(x|z) = Bernoulli(sigmoid(logits))
    loss     = KL(q(z|x) || N(0, I)) - log p(x|z),    the negative ELBO of one binarized image

The KL is analytic, sum_k (loc_k^2 + scale_k^2 - 1) / 2 - log scale_k, and goes in `direct_loss`: it holds no
sample, so score-function estimators never multiply it by a score (seed 000's "evaluate the KL analytically,
estimate only the reconstruction term"). Reparam differentiates the reconstruction through z = loc + scale*eps;
reinforce, reinforce-ema and rloo estimate it from the score of q. local-reparam does not apply: the latents are
not the weights of a linear layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.problems import DATA, IMAGE, WIDTH, Problem
from bench.problems.engine import Model
from bench.problems.layers import Arrays, dense, init_dense
from estimators.ops import Ops


@dataclass(frozen=True)
class GaussianVAE(Model):
    """ctx {"x": binarized images [draws, n_pixels]}; `depth` tanh layers in the encoder and in the decoder."""

    n_pixels: int
    latent: int = 8
    hidden: int = 64
    depth: int = 1
    dist = "gaussian"
    n_stochastic = 1

    def _encoder_names(self) -> list[str]:
        return [f"enc{i}" for i in range(self.depth)] + ["loc", "log_scale"]

    def _decoder_names(self) -> list[str]:
        return [f"dec{i}" for i in range(self.depth)] + ["out"]

    def init_params(self, seed: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        p: dict[str, Any] = {}
        width = self.n_pixels
        for i in range(self.depth):
            p |= init_dense(rng, f"enc{i}", width, self.hidden)
            width = self.hidden
        p |= init_dense(rng, "loc", width, self.latent) | init_dense(rng, "log_scale", width, self.latent)
        width = self.latent
        for i in range(self.depth):
            p |= init_dense(rng, f"dec{i}", width, self.hidden)
            width = self.hidden
        p |= init_dense(rng, "out", width, self.n_pixels)
        return {k: v.astype(np.float32) for k, v in p.items()}

    def event_shape(self, layer: int) -> tuple[int, ...]:
        return (self.latent,)

    def inputs(self, o: Ops, p: Arrays, ctx: Arrays) -> Any:
        return ctx["x"]

    def _encode(self, o: Ops, p: Arrays, x: Any) -> tuple[Any, Any]:
        h = x
        for i in range(self.depth):
            h = o.tanh(dense(p, f"enc{i}", h))
        return dense(p, "loc", h), dense(p, "log_scale", h)

    def node(self, o: Ops, p: Arrays, layer: int, prev: Any, ctx: Arrays) -> Arrays:
        loc, log_scale = self._encode(o, p, prev)
        return {"loc": loc, "scale": o.exp(log_scale)}

    def direct_loss(self, o: Ops, p: Arrays, ctx: Arrays) -> Any:
        """KL(q(z|x) || N(0, I)) per example, [rows, draws]."""
        loc, log_scale = self._encode(o, p, ctx["x"])
        return (0.5 * (o.square(loc) + o.exp(2 * log_scale) - 1) - log_scale).sum(-1)

    def local_loss(self, o: Ops, p: Arrays, layer: int, z: Any, prev: Any, ctx: Arrays) -> Any:
        """-log p(x|z), summed over pixels: [..., rows, draws] (z may carry an estimator's extra leading axes)."""
        h = z
        for i in range(self.depth):
            h = o.tanh(dense(p, f"dec{i}", h))
        logits, x = dense(p, "out", h), ctx["x"]
        return -(x * o.log_sigmoid(logits) + (1 - x) * o.log_sigmoid(-logits)).sum(-1)

    def final_loss(self, o: Ops, p: Arrays, z: Any, ctx: Arrays) -> Any:
        return 0.0

    def metrics(self, o: Ops, p: Arrays, h: Any, ctx: Arrays, loss: Any) -> dict[str, Any]:
        return {"elbo": -loss}

    def groups(self, params: dict[str, np.ndarray]) -> dict[str, list[str]]:
        enc = [f"{n}_{s}" for n in self._encoder_names() for s in ("w", "b")]
        dec = [f"{n}_{s}" for n in self._decoder_names() for s in ("w", "b")]
        return {"encoder": enc, "decoder": dec, "layer0": enc}


PROBLEM = Problem(
    "gaussian-vae", "gaussian", "seed 000 VAE: Gaussian latent, analytic KL; depth tanh layers",
    lambda pp, depth, batch, estimator, pixels: GaussianVAE(pixels, latent=int(pp["latent"]),
                                                            hidden=int(pp["hidden"]), depth=depth),
    defaults={"latent": 8, "hidden": 64, **IMAGE}, ranges={"latent": WIDTH, "hidden": WIDTH}, choices=DATA,
    has_depth=True, excludes=("deterministic",), data="binary-images",
    metrics={"elbo": "held-out ELBO (nats per example)"},
    sizes={"paper": {"": {"latent": 20, "hidden": 500, "data": "digits28"}}}, depths={"paper": (1,)})
