"""dice-mc's DiCE surrogate losses as model-level black boxes (estimators.blackbox), for `python -m bench audit`.

Targets dice-mc 0.1.1 (PyPI; `import dice_mc.torch as dice`, https://github.com/crowsonkb/dice-mc, Apache-2.0;
torch backend): DiCE, the infinitely differentiable Monte Carlo estimator of Foerster, Farquhar, Al-Shedivat,
Rocktaeschel, Xing & Whiteson 2018 (ICML). Its surrogate of a cost c that depends on stochastic nodes with log
probabilities log q_s is magic_box(sum_s log q_s) c, magic_box(t) = exp(t - sg(t)) (1 in value, gradient
grad t): differentiated once, the score-function (REINFORCE) estimator c sum_s grad log q_s + grad c.

How the program is driven. Every site is a stochastic node of dice-mc: a categorical site is sampled by
dice.sample_categorical(logits) (Gumbel-max; it returns (log q(a), a), the action a an index, given to the
program as a one-hot), a Bernoulli site as the 2-way categorical with logits (0, logit) (sample_categorical is
dice-mc's only sampler), a Gaussian site by torch.distributions.Normal(loc, scale).sample() with its log_prob
as the node (dice-mc takes any node's log-probabilities; the sample carries no path, so Gaussians get the
score function too). Each example's loss is its own cost node (as dice-mc's README advises for batches: "provide
a 1D tensor of losses, one per batch item, to cost_node()"), its log-probabilities summed over the site's
event by cost_node's left_sum_to_size; the row is the gradient of the mean over examples of:

    dice/dice             dice.cost_node(losses, logps)                      no baseline
    dice/ema-baseline     cost_node(losses, logps) + dice.EMABaseline(decay)(losses, logps): baseline b the
                          bias-corrected exponential moving average of the batch-mean cost of earlier passes
                          (one EMABaseline per call, updated after each pass; no baseline at the first)
    dice/batch-baseline   cost_node(losses, logps) + dice.batch_baseline_term(losses, logps): each example's
                          baseline is the mean of the other examples' losses (Kool et al. 2019's replacement
                          baseline over the batch; the batch's examples draw independently)

Each call seeds torch (torch.manual_seed(seed)) and draws its rows one program run each; `n_samples`
independent passes are averaged per row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bench.audit import Adapter
from estimators.plugins import BlackBoxEstimator
from estimators.spec import Spec

LIBRARY = "dice-mc"
MODULE = "dice_mc"
INSTALL = "pip install '.[audit]', or pip install dice-mc"

_B, _C, _G = "bernoulli", "categorical", "gaussian"
PAPER = ("Foerster, Farquhar, Al-Shedivat, Rocktaeschel, Xing & Whiteson 2018, DiCE: the infinitely differentiable "
         "Monte Carlo estimator (ICML); dice-mc 0.1.1, https://github.com/crowsonkb/dice-mc")
BASELINES = ("none", "ema", "batch")


def dice_rows(program: Callable, params: dict[str, np.ndarray], *, n_estimates: int, seed: int, device: str = "cpu",
              n_samples: int = 1, baseline: str = "none", decay: float = 0.99,
              **options: Any) -> dict[str, np.ndarray]:
    """n_estimates rows of d/dtheta mean_e loss_e from dice-mc's surrogate (module docstring)."""
    import dice_mc.torch as dice
    import torch

    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {', '.join(BASELINES)}, not {baseline!r}")
    torch.manual_seed(seed)  # dice-mc draws with torch.rand_like from the global generator
    theta = {k: torch.as_tensor(v, device=device).requires_grad_() for k, v in params.items()}
    ema = dice.EMABaseline(float(decay)).to(device) if baseline == "ema" else None  # one per call, over its rows

    def one_pass() -> Any:
        logps: list[Any] = []

        def sample(site: str, dist: str, node: dict[str, Any]) -> Any:
            if dist == _G:
                normal = torch.distributions.Normal(node["loc"], node["scale"])
                value = normal.sample()
                logps.append(normal.log_prob(value))
                return value
            logits = node["logits"]
            if dist == _B:
                logp, action = dice.sample_categorical(torch.stack([torch.zeros_like(logits), logits], -1))
                logps.append(logp)
                return action.to(logits.dtype)
            if dist == _C:
                logp, action = dice.sample_categorical(logits)
                logps.append(logp)
                return torch.nn.functional.one_hot(action, logits.shape[-1]).to(logits.dtype)
            raise ValueError(f"unknown distribution {dist!r} at site {site!r}")

        losses = program(sample, theta)
        surrogate = dice.cost_node(losses, logps)
        if baseline == "ema":
            surrogate = surrogate + ema(losses, logps)
        elif baseline == "batch":
            surrogate = surrogate + dice.batch_baseline_term(losses, logps)
        return surrogate.mean()  # the objective is the examples' mean

    rows = {k: np.zeros((n_estimates, *v.shape), np.float64) for k, v in params.items()}
    names = list(theta)
    for i in range(n_estimates):
        for _ in range(int(n_samples)):
            grads = torch.autograd.grad(one_pass(), [theta[k] for k in names], allow_unused=True)
            for k, g in zip(names, grads):
                if g is not None:  # a parameter the losses do not reach keeps its 0
                    rows[k][i] += g.detach().cpu().double().numpy() / n_samples
    return rows


def dice_plain(program: Callable, params: dict[str, np.ndarray], **kwargs: Any) -> dict[str, np.ndarray]:
    """dice.cost_node alone: the score function with each example's loss."""
    return dice_rows(program, params, **{**kwargs, "baseline": "none"})


def dice_ema(program: Callable, params: dict[str, np.ndarray], **kwargs: Any) -> dict[str, np.ndarray]:
    """dice.cost_node plus dice.EMABaseline over the rows of the call."""
    return dice_rows(program, params, **{**kwargs, "baseline": "ema"})


def dice_batch(program: Callable, params: dict[str, np.ndarray], **kwargs: Any) -> dict[str, np.ndarray]:
    """dice.cost_node plus dice.batch_baseline_term over the examples."""
    return dice_rows(program, params, **{**kwargs, "baseline": "batch"})


def _adapter(name: str, function: str, description: str, note: str, options: dict[str, float] | None = None,
             evals: int = 1) -> Adapter:
    spec = Spec(f"dice/{name}", "score-function", True, (_B, _C, _G), evals, False, PAPER, options=options or {},
                note=note)
    return Adapter(library=LIBRARY, module=MODULE, description=description,
                   estimator=BlackBoxEstimator(spec=spec, functions={"torch": f"bench.audit.dice:{function}"},
                                               level="model"))


ADAPTERS: list[Adapter] = [
    _adapter("dice", "dice_plain",
             "dice_mc.torch.cost_node(losses, logps) with sample_categorical nodes: magic_box(sum log q) cost, "
             "the score function with each example's loss, no baseline",
             "Bernoulli sites as 2-way categoricals (0, logit); Gaussian sites: torch Normal.sample() and log_prob, "
             "score function"),
    _adapter("ema-baseline", "dice_ema",
             "dice_mc.torch.cost_node plus EMABaseline(decay)(losses, logps): bias-corrected moving average of the "
             "batch-mean cost of earlier rows", "one EMABaseline per call of the black box, over its rows",
             options={"decay": 0.99}),
    _adapter("batch-baseline", "dice_batch",
             "dice_mc.torch.cost_node plus batch_baseline_term(losses, logps): each example's baseline the mean of "
             "the other examples' losses", "the batch is the program's examples (4 in the audit)"),
]
