"""The categorical VAE: `depth` stochastic layers of `vars` categorical variables of `cats` classes
(bench/problems/discrete_vae.py), on binarized images; the Gumbel-softmax and ReinMax papers' benchmark."""

from __future__ import annotations

from typing import Any

from bench.problems import DATA, IMAGE, WIDTH, Problem, iwae_k
from bench.problems.discrete_vae import IWAE, VAE_CHOICES, DiscreteVAE
from estimators.spec import Range


def _make(pp: dict[str, Any], depth: int, batch: int, estimator: str, pixels: int) -> DiscreteVAE:
    return DiscreteVAE("categorical", pixels, int(pp["vars"]), depth, cats=int(pp["cats"]),
                       nonlinear=pp["variant"] == "nonlinear", hidden=int(pp["hidden"]), iwae_k=iwae_k(pp))


PROBLEM = Problem(
    "categorical-vae", "categorical", "VAE with vars categorical latents of cats classes, -ELBO", _make,
    defaults={"vars": 20, "cats": 10, "variant": "linear", "hidden": 100, **IMAGE},
    ranges={"vars": WIDTH, "cats": Range(2, 1024, integer=True), "hidden": WIDTH, "k": WIDTH},
    choices={**VAE_CHOICES, **DATA}, optional=IWAE, has_depth=True, excludes=("deterministic",),
    data="binary-images", metrics={"elbo": "held-out ELBO (nats per example)"},
    # 20 x 10 with 256-unit tanh encoder and decoder: Jang et al. 2017 (Gumbel-softmax), Liu et al. 2023 (ReinMax)
    sizes={"quick": {"": {"vars": 2, "cats": 3}}, "full": {"": {"vars": 2, "cats": 3}},
           "paper": {"": {"vars": 20, "cats": 10, "variant": "nonlinear", "hidden": 256, "data": "digits28"}}},
    depths={"paper": (1,)})
