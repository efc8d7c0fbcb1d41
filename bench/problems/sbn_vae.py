"""The sigmoid belief net VAE: `depth` stochastic layers of `width` Bernoulli units (bench/problems/discrete_vae.py),
linear or nonlinear, on binarized images; the DisARM, ARM, REBAR and RELAX papers' benchmark."""

from __future__ import annotations

from typing import Any

from bench.problems import DATA, IMAGE, WIDTH, Problem, iwae_k
from bench.problems.discrete_vae import IWAE, VAE_CHOICES, DiscreteVAE


def _make(pp: dict[str, Any], depth: int, batch: int, estimator: str, pixels: int) -> DiscreteVAE:
    return DiscreteVAE("bernoulli", pixels, int(pp["width"]), depth, nonlinear=pp["variant"] == "nonlinear",
                       hidden=int(pp["hidden"]), iwae_k=iwae_k(pp))


PAPER = {"width": 200, "hidden": 200, "data": "digits28"}  # 784-200(-200), Dong et al. 2020; Tucker et al. 2017
PROBLEM = Problem(
    "sbn-vae", "bernoulli", "sigmoid belief net VAE, depth stochastic layers, -ELBO", _make,
    defaults={"width": 200, "variant": "linear", "hidden": 100, **IMAGE},
    ranges={"width": WIDTH, "hidden": WIDTH, "k": WIDTH}, choices={**VAE_CHOICES, **DATA}, optional=IWAE,
    has_depth=True, excludes=("deterministic",), data="binary-images",
    metrics={"elbo": "held-out ELBO (nats per example)"},
    sizes={"quick": {"": {"width": 3}},
           "full": {"": {"width": 3}, "nonlinear": {"width": 3, "variant": "nonlinear", "hidden": 32}},
           "paper": {"": {**PAPER, "variant": "linear"}, "nonlinear": {**PAPER, "variant": "nonlinear"}}})
