"""Backend-neutral description of every estimator in the catalog.

A `Spec` says what an estimator is (family, bias, supported distributions, cost, paper); the backend
modules in `estimators/torch/` and `estimators/jax/` say how it is computed. Nothing here imports a backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Literal

Family = Literal[
    "score-function",
    "pathwise",
    "straight-through",
    "relaxation",
    "control-variate",
    "antithetic",
    "measure-valued",
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
    # option defaults; `warmup` (state updates at fixed parameters before estimates are drawn, then frozen) and
    # `states` (independently trained states the estimates are split among) belong to the driver
    options: dict[str, float] = field(default_factory=dict)
    note: str = ""
    # What the estimator needs from a model beyond its distribution ("" = any node of a supported dist will do).
    # A problem declares what it provides; the single-node API (grad_samples) rejects any non-empty requirement.
    requires: str = ""
    # f-evaluations per draw that grow with the node: this many for every variable of the node and every value
    # it can take besides its sample (indecater: 1, so a node of V variables with K values each costs
    # evals_per_sample + V (K - 1) evaluations per draw; see `evals_per_draw`)
    evals_per_other_value: int = 0
    # further f-evaluations per draw for each coordinate of the node (measure-valued: the cost grows with the
    # number of coordinates, evals_per_sample + evals_per_coordinate * coordinates per draw)
    evals_per_coordinate: int = 0


DRIVER_OPTIONS = ("warmup", "states")


@dataclass(frozen=True)
class Range:
    """The domain of a numeric option or problem parameter: bounds (open or closed) and integrality."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False

    def check(self, value: float) -> str:
        """'' when value is inside, else the domain in words."""
        bad = (self.integer and float(value) != int(value)
               or self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo)
               or self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi))
        return f"must be {self}" if bad else ""

    def __str__(self) -> str:
        parts = [("an integer" if self.integer else "a number")]
        if self.lo is not None:
            parts.append(f"{'>' if self.lo_open else '>='} {self.lo:g}")
        if self.hi is not None:
            parts.append(f"{'<' if self.hi_open else '<='} {self.hi:g}")
        return " ".join(parts[:1]) + (" " + " and ".join(parts[1:]) if parts[1:] else "")


OPTION_RANGES = {"tau": Range(0, lo_open=True), "slope": Range(0, lo_open=True), "decay": Range(0, 1, hi_open=True),
                 "warmup": Range(0, integer=True), "states": Range(1, integer=True), "k": Range(1, integer=True),
                 "baseline": Range(0, 1, integer=True), "baseline_lr": Range(0),
                 "normalise": Range(0, 1, integer=True)}


def driver_options(spec: Spec, options: dict) -> dict:
    """The options the driver acts on (warm-up steps, trained states), defaults filled in."""
    return {k: v for k, v in {**spec.options, **options}.items() if k in DRIVER_OPTIONS and k in spec.options}


def surrogate_options(spec: Spec, options: dict) -> dict:
    """The options the estimator's surrogate function takes, defaults filled in."""
    return {k: v for k, v in {**spec.options, **options}.items() if k in spec.options and k not in DRIVER_OPTIONS}


def draw_counts(spec: Spec, n_samples: int) -> tuple[int, int]:
    """(independent draws averaged per estimate, uniform arrays per draw): the backends' drivers share it."""
    return (1, n_samples) if spec.multi_sample else (n_samples, spec.uniforms)


def evals_per_draw(spec: Spec, dist: str, event_shape: tuple[int, ...]) -> int | None:
    """f-evaluations one draw costs at a node of this event shape (None: one per configuration, exact).

    Bernoulli: every unit is a variable of 2 values; categorical: every variable has event_shape[-1] values;
    Gaussian: every unit is a coordinate."""
    if spec.evals_per_sample is None:
        return None
    if dist == "bernoulli":
        n_vars, n_values = prod(event_shape), 2
    else:
        n_vars, n_values = prod(event_shape[:-1]), int(event_shape[-1])
    return (spec.evals_per_sample + spec.evals_per_other_value * n_vars * (n_values - 1)
            + spec.evals_per_coordinate * prod(event_shape))


def even_chunks(n_rows: int, max_rows: int) -> int:
    """The chunk size that splits n_rows into the fewest chunks of at most max_rows, as evenly as possible."""
    return max(1, -(-n_rows // -(-n_rows // max(max_rows, 1)))) if n_rows else 1


# Each requirement, in words, for error messages.
REQUIREMENTS = {
    "linear-gaussian-weights": "a model with linear Gaussian weights (problem bnn)",
    "iwae-objective": "a VAE trained on the importance-weighted bound (sbn-vae or categorical-vae with "
                      "objective=iwae:k=K, K >= 2)",
}


_B, _C, _G = "bernoulli", "categorical", "gaussian"
# trained control variates: 100 Adam steps each, estimates split among 4 independently trained states, so the
# reported variance includes the training's randomness (and its standard error is taken across states)
TRAINED = {"warmup": 100, "states": 4}

SPECS: dict[str, Spec] = {
    s.name: s
    for s in [
        Spec("exact", "exact", True, (_B, _C), None, False,
             "Enumeration of every configuration (ground truth for small problems)", uniforms=0),
        Spec("reinforce", "score-function", True, (_B, _C, _G), 1, False,
             "Williams 1992, Simple statistical gradient-following algorithms (REINFORCE)"),
        Spec("reinforce-ema", "score-function", True, (_B, _C, _G), 1, False,
             "Seed 002 (R2RT, Binary Stochastic Neurons): variance-adjusted REINFORCE",
             state="running", options={"decay": 0.95, "warmup": 100},
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
        Spec("reinmax", "straight-through", False, (_B, _C), 1, True,
             "Liu, Chen, Gao & Han 2023, Bridging discrete and backpropagation: straight-through and beyond "
             "(ReinMax)", options={"tau": 1.0},
             note="second-order (Heun) straight-through: the gradient of 2 pi1 - pi0/2 with pi0 = softmax(logits), "
                  "pi1 = (D + softmax(logits/tau))/2 and softmax's Jacobian at pi1; samples softmax(logits) "
                  "whatever tau (the reference code refuses tau < 1); Bernoulli as the 2-way categorical "
                  "(0, logits)"),
        Spec("gumbel-rao", "straight-through", False, (_B, _C), 1, True,
             "Paulus, Maddison & Krause 2021, Rao-Blackwellizing the straight-through Gumbel-softmax gradient "
             "estimator", uniforms=2, options={"tau": 1.0, "k": 10},
             note="st-gumbel's relaxed gradient averaged over k Gumbel draws conditioned on the hard sample (no "
                  "gradient through the conditioning): st-gumbel's mean, less variance; the k draws come from the "
                  "second uniform array, each an exact conditional draw (randomly shifted lattice)"),
        Spec("muprop", "control-variate", True, (_B, _C), 2, True,
             "Gu, Levine, Sutskever & Mnih 2016, MuProp: unbiased backpropagation for stochastic neural networks",
             note="baseline f(mu) + f'(mu).(x - mu), f the mean-field downstream (later nodes at their means, "
                  "later parameters frozen), with its expectation's gradient f'(mu) dmu/dlogits added back; "
                  "2 evaluations: the hard pass and the mean-field pass (each forward and backward)"),
        Spec("indecater", "score-function", True, (_B, _C), 1, False,
             "De Smet, Sansone & Zuidberg Dos Martires 2023, Differentiable sampling of categorical distributions "
             "using the CatLog-derivative trick (IndeCateR)", evals_per_other_value=1,
             note="each variable's exact expectation over its K values, the others as sampled: K evaluations per "
                  "variable, the sampled value's shared (the forward pass), so 1 + V (K - 1) per draw for V "
                  "variables (V + 1 for V Bernoulli units): the cost grows with the node's width"),
        Spec("rebar", "control-variate", True, (_B,), 3, True,
             "Tucker, Mnih, Maddison, Lawson & Sohl-Dickstein 2017, REBAR", uniforms=2,
             state="trained", options=TRAINED,
             note="state: log temperature and eta, trained by minimising the estimator's second moment"),
        Spec("relax", "control-variate", True, (_B,), 3, True,
             "Grathwohl, Choi, Wu, Roeder & Duvenaud 2018, Backpropagation through the void (RELAX)",
             uniforms=2, state="trained", options=TRAINED,
             note="control variate eta*f(sigmoid(z/temperature)) + r(z), r a small MLP; all of it state"),
        Spec("vimco", "score-function", True, (_B, _C), 1, False,
             "Mnih & Rezende 2016, Variational inference for Monte Carlo objectives (VIMCO)",
             requires="iwae-objective", options={"baseline": 1.0},
             note="the K samples of the bound share leave-one-out baselines (each sample's log weight replaced "
                  "by the others' mean); one estimator for the whole model, not per node; baseline=0 drops them"),
        Spec("deterministic", "deterministic", False, (_B, _C, _G), 1, True,
             "Seed 002: deterministic sigmoid network (no sampling); each node replaced by its mean", uniforms=0,
             note="estimates no stochastic objective: it returns the gradient of f(E[x]) (sigmoid(logits), "
                  "softmax(logits), loc); the speed suite's floor"),
        Spec("reparam", "pathwise", True, (_G,), 1, True,
             "Kingma & Welling 2014; Rezende, Mohamed & Wierstra 2014 (seed 000)"),
        Spec("local-reparam", "pathwise", True, (_G,), 1, True,
             "Kingma, Salimans & Welling 2015, Variational dropout and the local reparameterization trick",
             requires="linear-gaussian-weights",
             note="needs a model whose Gaussian nodes are the weights of a linear layer: the model samples each "
                  "example's pre-activations instead of a shared weight draw (bnn)"),
        Spec("nvil", "score-function", True, (_B, _C, _G), 1, False,
             "Mnih & Gregor 2014, Neural variational inference and learning in belief networks (NVIL)",
             state="running", options={"decay": 0.8, "baseline_lr": 0.01, "normalise": 0.0, "warmup": 100},
             note="baseline c + C_psi(node parameters), C_psi a one-hidden-layer net fitted online (Adam) to the "
                  "learning signal, all from earlier steps only, so it stays unbiased; normalise=1 divides the "
                  "centred signal by max(1, running std): then unbiased only up to that frozen scale"),
        Spec("arms", "antithetic", True, (_B,), 1, False,
             "Dimitriev & Zhou 2021, ARMS: Antithetic-REINFORCE-Multi-Sample gradient for binary variables",
             multi_sample=True,
             note="n_samples >= 2 draws, negatively correlated through a Dirichlet copula, share a leave-one-out "
                  "baseline rescaled by p(1-p)/(p - P(b_j = b_k = 1)); n_samples=2 is DisARM"),
        Spec("measure-valued", "measure-valued", True, (_G,), 1, False,
             "Mohamed, Rosca, Figurnov & Mnih 2020, Monte Carlo gradient estimation in machine learning (sec. 6)",
             uniforms=4, evals_per_coordinate=3,
             note="weak derivative per coordinate: loc from f at loc +- scale*W (one Weibull(sqrt 2, 2) draw W for "
                  "both), scale from f at loc + scale*M (double-sided Maxwell) against the draw itself: 1 + 3 "
                  "f-evaluations per coordinate"),
    ]
}
