"""Backend-neutral description of every estimator in the catalog.

A `Spec` says what an estimator is (family, bias, supported distributions, cost, paper); the backend
modules in `estimators/torch/` and `estimators/jax/` say how it is computed. Nothing here imports a backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Family = Literal[
    "score-function",
    "pathwise",
    "straight-through",
    "relaxation",
    "control-variate",
    "antithetic",
    "exact",
    "deterministic",
]
DISTS = ("bernoulli", "categorical", "gaussian")


@dataclass(frozen=True)
class Spec:
    name: str
    family: Family
    unbiased: bool
    dists: tuple[str, ...]
    evals_per_sample: int | None  # f-evaluations per draw; None = one per configuration (exact)
    needs_df: bool  # whether it differentiates f (needs dz f), rather than only evaluating it
    paper: str
    uniforms: int = 1  # uniform arrays (each shaped like the sample) consumed per draw
    multi_sample: bool = False  # n_samples draws form ONE estimate with a shared baseline (RLOO)
    state: Literal[None, "running", "trained"] = None  # running: updated by the estimator; trained: by min variance
    default_warmup: int = 0  # state updates at fixed parameters before an estimate is measured
    options: dict[str, float] = field(default_factory=dict)
    note: str = ""
    # What the estimator needs from a model beyond its distribution ("" = any node of a supported dist will do).
    # A problem declares what it provides; the single-node API (grad_samples) rejects any non-empty requirement.
    requires: str = ""


# Each requirement, in words, for error messages.
REQUIREMENTS = {
    "linear-gaussian-weights": "a model with linear Gaussian weights (problem bnn)",
}


_B, _C, _G = "bernoulli", "categorical", "gaussian"

SPECS: dict[str, Spec] = {
    s.name: s
    for s in [
        Spec("exact", "exact", True, (_B, _C), None, False,
             "Enumeration of every configuration (ground truth for small problems)", uniforms=0),
        Spec("reinforce", "score-function", True, (_B, _C, _G), 1, False,
             "Williams 1992, Simple statistical gradient-following algorithms (REINFORCE)"),
        Spec("reinforce-ema", "score-function", True, (_B, _C, _G), 1, False,
             "Seed 002 (R2RT, Binary Stochastic Neurons): variance-adjusted REINFORCE",
             state="running", default_warmup=100, options={"decay": 0.95},
             note="per-unit baseline EMA[(b-p)^2 L]/EMA[(b-p)^2] from earlier steps only, so it stays unbiased"),
        Spec("rloo", "score-function", True, (_B, _C, _G), 1, False,
             "Kool, van Hoof & Welling 2019, Buy 4 REINFORCE samples, get a baseline for free!",
             multi_sample=True, note="n_samples >= 2 draws share a leave-one-out baseline"),
        Spec("arm", "antithetic", True, (_B,), 2, False,
             "Yin & Zhou 2019, ARM: Augment-REINFORCE-merge gradient for stochastic binary networks"),
        Spec("disarm", "antithetic", True, (_B,), 2, False,
             "Dong, Mnih & Tucker 2020, DisARM: an antithetic gradient estimator for binary latent variables"),
        Spec("st", "straight-through", False, (_B,), 1, True,
             "Bengio, Leonard & Courville 2013; seed 002: pass-through (identity) straight-through"),
        Spec("st-sigmoid", "straight-through", False, (_B,), 1, True,
             "Seed 002: sigmoid-adjusted straight-through with slope annealing (Chung et al. 2016)",
             options={"slope": 1.0},
             note="samples Bernoulli(sigmoid(slope*logits)) as seed 002 does; slope=1 is the plain estimator"),
        Spec("gumbel-softmax", "relaxation", False, (_B, _C), 1, True,
             "Jang, Gu & Poole 2017; Maddison, Mnih & Teh 2017 (Concrete)", options={"tau": 1.0},
             note="f is evaluated at relaxed (continuous) samples"),
        Spec("st-gumbel", "straight-through", False, (_B, _C), 1, True,
             "Jang, Gu & Poole 2017: straight-through Gumbel-softmax", options={"tau": 1.0}),
        Spec("rebar", "control-variate", True, (_B,), 3, True,
             "Tucker, Mnih, Maddison, Lawson & Sohl-Dickstein 2017, REBAR", uniforms=2,
             state="trained", default_warmup=100,
             note="state: log temperature and eta, trained by minimising the estimator's second moment"),
        Spec("relax", "control-variate", True, (_B,), 3, True,
             "Grathwohl, Choi, Wu, Roeder & Duvenaud 2018, Backpropagation through the void (RELAX)",
             uniforms=2, state="trained", default_warmup=100,
             note="control variate eta*f(sigmoid(z/temperature)) + r(z), r a small MLP; all of it state"),
        Spec("deterministic", "deterministic", False, (_B,), 1, True,
             "Seed 002: deterministic sigmoid network (no sampling)", uniforms=0,
             note="estimates no stochastic objective: it returns the gradient of f(sigmoid(logits))"),
        Spec("reparam", "pathwise", True, (_G,), 1, True,
             "Kingma & Welling 2014; Rezende, Mohamed & Wierstra 2014 (seed 000)"),
        Spec("local-reparam", "pathwise", True, (_G,), 1, True,
             "Kingma, Salimans & Welling 2015, Variational dropout and the local reparameterization trick",
             requires="linear-gaussian-weights",
             note="needs a model whose Gaussian nodes are the weights of a linear layer: the model samples each "
                  "example's pre-activations instead of a shared weight draw (bnn)"),
    ]
}
