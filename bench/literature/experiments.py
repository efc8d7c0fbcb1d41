"""The seed experiments the training suite reproduces, declared as data (asv-style): each is a set of runs
(estimator, learning rate, options; a run may change the problem's parameters for itself, as a baseline does)
on one problem, the seed's conclusion, and the comparison that tests it (`bench/literature/findings.py`). Budgets come
from the preset: seed 002 trained 20 epochs of MNIST; the embedded digits data has 1297 training images, 25
steps of 50 an epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Run:
    label: str
    estimator: str
    lr: float
    options: dict[str, Any] = field(default_factory=dict)  # slope_anneal, eval, train_subset, estimator options
    depth: int = 1
    problem_params: dict[str, Any] = field(default_factory=dict)  # over the experiment's, for this run alone


@dataclass(frozen=True)
class Experiment:
    id: str
    problem: str
    problem_params: dict[str, Any]
    optimizer: str
    claim: str
    runs: tuple[Run, ...]
    metric: str = "accuracy"  # held-out metric the finding compares (higher is better)
    source: str = ""  # whose claim: a paper's; empty for the seeds (named by the id's prefix)
    also: tuple[str, ...] = ()  # further held-out metrics the finding reads (bench/literature/findings.py)


ANNEALED = {"slope_anneal": 1.1}
# the DisARM paper's estimators on its benchmark; its Adam learning rate is 1e-4 over 10^6 steps, ours 3e-4 over
# the preset's budget (hundreds of steps), so the comparison is early in training
DISARM_RUNS = (("DisARM", "disarm"), ("ARM", "arm"), ("RLOO (2 samples)", "rloo"), ("RELAX", "relax"),
               ("REINFORCE-EMA", "reinforce-ema"))
DISARM_LR = 3e-4
LRS = (0.1, 0.3, 1.0)
# Seed 001's recurrent half (Skip RNN): truncated BPTT over windows of 4 of the 8 rows; 0.01 per update gives the
# budget the paper's MNIST runs had (1e-4 per step x 784 steps, about 0.08 nats when every step updates). The
# paper's straight-through passes the gradient through the gate's sigmoid: this catalog's st-sigmoid. The
# baseline opens every gate (sigmoid(40) is 1 in float32), so its estimator never sees a closed gate.
SKIP_RNN = {"width": 32, "window": 4, "penalty": 0.01, "gate_bias": 1.0}
ALWAYS_UPDATE = {"gate_bias": 40.0, "penalty": 0.0}

EXPERIMENTS: dict[str, Experiment] = {
    e.id: e
    for e in [
        Experiment("002-1", "bsn", {"width": 100}, "sgd",
                   "variance-adjusted REINFORCE learns a bit faster than plain REINFORCE (not significantly)",
                   (Run("variance-adjusted", "reinforce-ema", 0.05), Run("not variance-adjusted", "reinforce", 0.05))),
        Experiment("002-2", "bsn", {"width": 100}, "sgd",
                   "sigmoid-adjusted straight-through beats pass-through at learning rates 0.1, 0.3 and 1.0",
                   tuple(Run(f"{kind} lr={lr}", est, lr) for lr in LRS
                         for kind, est in (("pass-through", "st"), ("sigmoid-adjusted", "st-sigmoid")))),
        Experiment("002-3", "bsn", {"width": 100}, "sgd",
                   "slope-annealed straight-through beats sigmoid-adjusted at learning rates 0.1, 0.3 and 1.0",
                   tuple(Run(f"{kind} lr={lr}", "st-sigmoid", lr, opts) for lr in LRS
                         for kind, opts in (("sigmoid-adjusted", {}), ("slope-annealed", ANNEALED)))),
        Experiment("002-5", "bsn", {"width": 100}, "sgd",
                   "deterministic training learns fastest; stochastic and deterministic inference after stochastic "
                   "training end up comparable",
                   (Run("stochastic train, stochastic inference", "st-sigmoid", 0.3, ANNEALED),
                    Run("stochastic train, deterministic inference", "st-sigmoid", 0.3,
                        {**ANNEALED, "eval": "deterministic"}),
                    Run("deterministic train and inference", "deterministic", 0.3))),
        Experiment("002-8", "bsn", {"width": 200}, "sgd",
                   "on a small training set, a binary stochastic net beats the deterministic sigmoid net "
                   "(stochastic neurons regularize)",
                   (Run("deterministic sigmoid net", "deterministic", 0.03, {"train_subset": 300}),
                    Run("binary stochastic net", "st-sigmoid", 0.3,
                        {**ANNEALED, "eval": "deterministic", "train_subset": 300}))),
        Experiment("002-depth", "bsn", {"width": 100}, "sgd",
                   "slope-annealed ST holds up as depth grows; REINFORCE fails with depth and recovers with a "
                   "25x lower learning rate",
                   tuple(Run(f"{label} depth={d}", est, lr, opts, depth=d) for d in (1, 3)
                         for label, est, lr, opts in (("slope-annealed ST", "st-sigmoid", 0.3, ANNEALED),
                                                      ("REINFORCE", "reinforce-ema", 0.3, {}),
                                                      ("REINFORCE lr/25", "reinforce-ema", 0.3 / 25, {})))),
        *[Experiment(f"disarm-{variant}", "sbn-vae", {"width": 200, "variant": variant, "hidden": 200}, "adam",
                     "the DisARM paper's benchmark (Dong et al. 2020, sigmoid belief net VAE with 200-unit layers, "
                     f"{variant}): DisARM reaches a better held-out ELBO than ARM, RLOO with 2 samples and "
                     "REINFORCE-EMA (RELAX reported beside them)",
                     tuple(Run(label, est, DISARM_LR) for label, est in DISARM_RUNS), metric="elbo",
                     source="Dong et al. 2020 (DisARM)")
          for variant in ("linear", "nonlinear")],
        Experiment("000-vae", "gaussian-vae", {}, "adam",
                   "the reparameterization gradient trains the Gaussian VAE better than the score function",
                   (Run("reparam", "reparam", 0.003), Run("score function (REINFORCE)", "reinforce", 0.003)),
                   metric="elbo"),
        Experiment("001-skip-rnn", "skip-rnn", SKIP_RNN, "adam",
                   "a Skip RNN trained with straight-through keeps the accuracy of the RNN that updates at every "
                   "step while making fewer updates (Campos et al. 2018)",
                   (Run("always update", "disarm", 0.01, problem_params=ALWAYS_UPDATE),
                    Run("straight-through (sigmoid-adjusted)", "st-sigmoid", 0.01),
                    Run("pass-through ST", "st", 0.01), Run("DisARM", "disarm", 0.01),
                    Run("REINFORCE-EMA", "reinforce-ema", 0.01)),
                   also=("open_rate",)),
    ]
}
