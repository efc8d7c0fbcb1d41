"""Benchmark problems: each gives a backend's surrogate for a cell, the true gradient, and parameter groups.

toy-bernoulli     b ~ Bernoulli(sigmoid(theta)), f(b) = (b - t)^2; theta = 0, t = 0.45 (REBAR/RELAX toy)
toy-gaussian      x ~ N(mu, sigma^2), f(x) = x^2 or cos(omega x); truths in closed form
chain             depth x width binary stochastic layers (estimators/*/chain.py)
bsn               seed 002's classifier of binary stochastic neurons (bsn.py)
sbn-vae           sigmoid belief net VAE, linear or nonlinear (discrete_vae.py)
categorical-vae   VAE with categorical latents (discrete_vae.py)
gaussian-vae      seed 000's VAE, Gaussian latent, analytic KL (gaussian_vae.py)
bnn               Bayesian neural net, mean-field Gaussian weights (bnn.py)
stochastic-depth  seed 001's stochastic ResNet with learnable survival (stochastic_depth.py)
skip-rnn          seed 001's recurrent half: an RNN over image rows with a stochastic update gate per step (skip_rnn.py)

Truths (bench/truths.py): closed forms for the toys; exact enumeration of every joint configuration when there
are at most 2^16 of them; otherwise a cached reference estimate whose covariance is carried into every metric.
Model problems estimate the gradient of the mean loss over a fixed batch of `batch_size` training examples,
at initialisation (point "init") or after a fixed number of training steps (point "trained").
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from bench.problems import data as datasets
from bench.problems.model import AbstractModel, n_configurations
from estimators.chain import init_params
from estimators.registry import driver_of, package
from estimators.spec import SPECS, Range

MAX_EXACT_UNITS = 16
TRAINING_REFERENCE = {"bernoulli": "disarm", "categorical": "rloo", "gaussian": "reparam"}  # unbiased, low variance
TRAINED_STEPS = 200  # the "trained" point: Adam steps with the reference estimator
IMAGE = {"data": "digits", "data_dir": ""}
WIDTH = Range(1, integer=True)
DATA = {"data": datasets.DATASETS}
VAE = {"variant": ("linear", "nonlinear"), "objective": ("elbo", "iwae"), **DATA}
# the VAEs' multi-sample bound: objective=iwae:k=K (Burda, Grosse & Salakhutdinov 2016)
IWAE = {"objective": "elbo", "k": 1}
# estimators whose gradient flows through the loss's value, so differentiating the bound through them is right;
# a score-function estimator's per-sample signal would not be (VIMCO is the one built for the bound)
VALUE_GRADIENT = ("pathwise", "straight-through", "relaxation", "deterministic")


def iwae_k(params: dict[str, Any]) -> int:
    """K of the importance-weighted bound a problem variant asks for (1: the ELBO)."""
    return int(params.get("k", 1)) if params.get("objective") == "iwae" else 1


@dataclass(frozen=True)
class Problem:
    name: str
    dist: str
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)
    has_depth: bool = False
    provides: tuple[str, ...] = ()  # model structure some estimators require (Spec.requires)
    # torch skips work the floor does (a closed gate's step, a dropped block): a time below the floor's is real
    skips: bool = False
    # estimators the gradients and training suites leave out here; the speed suite still times "deterministic"
    # on every problem as its floor (a VAE whose latents are replaced by their means is an autoencoder, not
    # the model under study, but it costs what the model's pass costs without sampling)
    excludes: tuple[str, ...] = ()
    model: Callable[..., AbstractModel] | None = None
    ranges: dict[str, Range] = field(default_factory=dict)  # numeric parameters' domains
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)  # text parameters' values
    # optional parameters with their defaults: part of a cell's parameters only when given, so adding one
    # leaves every existing cell (and its result file) as it was
    optional: dict[str, Any] = field(default_factory=dict)

    def check(self, params: dict[str, Any]) -> str:
        """'' when every parameter is inside its domain, else one line naming the first that is not."""
        for key, value in params.items():
            problem = self.ranges[key].check(value) if key in self.ranges else ""
            if key in self.choices and value not in self.choices[key]:
                problem = f"must be one of {', '.join(self.choices[key])}"
            if problem:
                return f"{self.name}:{key}={value} {problem}"
        return ""

    def supports(self, estimator: str, params: dict[str, Any] | None = None) -> bool:
        """Whether the estimator applies here; with `params`, to this variant of the problem."""
        spec, params = SPECS[estimator], params or {}
        provides = self.provides + (("iwae-objective",) if iwae_k(params) > 1 else ())
        if iwae_k(params) > 1 and not (spec.requires == "iwae-objective" or spec.family in VALUE_GRADIENT):
            return False
        return (self.dist in spec.dists and estimator not in self.excludes
                and (not spec.requires or spec.requires in provides))

    @property
    def uses_data(self) -> bool:
        return "data" in self.defaults


def _bsn(pp, depth, batch_size, estimator, n_pixels):
    from bench.problems.bsn import BSN

    return BSN(n_pixels, int(pp["width"]), depth)


def _vae(dist):
    def make(pp, depth, batch_size, estimator, n_pixels):
        from bench.problems.discrete_vae import DiscreteVAE

        width = int(pp["width"] if dist == "bernoulli" else pp["vars"])
        return DiscreteVAE(dist, n_pixels, width, depth, cats=int(pp.get("cats", 2)),
                           nonlinear=pp["variant"] == "nonlinear", hidden=int(pp["hidden"]), iwae_k=iwae_k(pp))

    return make


def _gaussian_vae(pp, depth, batch_size, estimator, n_pixels):
    from bench.problems.gaussian_vae import GaussianVAE

    return GaussianVAE(n_pixels, latent=int(pp["latent"]), hidden=int(pp["hidden"]), depth=depth)


def _bnn(pp, depth, batch_size, estimator, n_pixels):
    from bench.problems.bnn import BNN

    return BNN(n_pixels, hidden=int(pp["hidden"]), depth=depth, n_train=int(pp.get("n_train", 1297)),
               batch_size=batch_size, local=estimator == "local-reparam")


def _stochastic_depth(pp, depth, batch_size, estimator, n_pixels):
    from bench.problems.stochastic_depth import StochasticDepth

    return StochasticDepth(n_pixels, int(pp["width"]), depth)


def _skip_rnn(pp, depth, batch_size, estimator, n_pixels):
    from bench.problems.skip_rnn import SkipRNN

    steps = int(pp["steps"]) or int(round(np.sqrt(n_pixels)))  # 0: one step per image row
    return SkipRNN(n_pixels, int(pp["width"]), depth, steps, penalty=float(pp["penalty"]),
                   gate_bias=float(pp["gate_bias"]), window=int(pp["window"]))


PROBLEMS = {
    p.name: p
    for p in [
        Problem("toy-bernoulli", "bernoulli",
                "units independent b_i ~ Bernoulli(sigmoid(theta_i)), f(b) = sum_i (b_i - t)^2; theta_i spread "
                "evenly over theta +- spread", {"theta": 0.0, "t": 0.45, "units": 1, "spread": 0.0},
                ranges={"units": WIDTH, "spread": Range(0)}),
        Problem("toy-gaussian", "gaussian", "x ~ N(mu, sigma^2), f(x) = x^2 (f=square) or cos(omega x) (f=cos)",
                {"mu": 0.5, "sigma": 1.0, "f": "square", "omega": 2.0}, ranges={"sigma": Range(0, lo_open=True)},
                choices={"f": ("square", "cos")}),
        Problem("chain", "bernoulli", "depth x width binary stochastic layers, softplus loss", {"width": 3},
                has_depth=True, ranges={"width": WIDTH}),
        Problem("bsn", "bernoulli", "seed 002 classifier: depth layers of binary stochastic neurons, softmax",
                {"width": 100, **IMAGE}, has_depth=True, model=_bsn, ranges={"width": WIDTH}, choices=DATA),
        Problem("sbn-vae", "bernoulli", "sigmoid belief net VAE, depth stochastic layers, -ELBO",
                {"width": 200, "variant": "linear", "hidden": 100, **IMAGE}, has_depth=True,
                excludes=("deterministic",), model=_vae("bernoulli"),
                ranges={"width": WIDTH, "hidden": WIDTH, "k": WIDTH}, choices=VAE, optional=IWAE),
        Problem("categorical-vae", "categorical", "VAE with vars categorical latents of cats classes, -ELBO",
                {"vars": 20, "cats": 10, "variant": "linear", "hidden": 100, **IMAGE}, has_depth=True,
                excludes=("deterministic",), model=_vae("categorical"),
                ranges={"vars": WIDTH, "cats": Range(2, integer=True), "hidden": WIDTH, "k": WIDTH}, choices=VAE,
                optional=IWAE),
        Problem("gaussian-vae", "gaussian", "seed 000 VAE: Gaussian latent, analytic KL; depth tanh layers",
                {"latent": 8, "hidden": 64, **IMAGE}, has_depth=True, excludes=("deterministic",),
                model=_gaussian_vae, ranges={"latent": WIDTH, "hidden": WIDTH}, choices=DATA),
        # measure-valued perturbs one weight at a time: 3 forward passes of the rest of the net per weight, 4 320
        # per estimate at the default size and depth 2 (1 440 weights), far past what a gradients cell can afford
        Problem("bnn", "gaussian", "Bayesian neural net, mean-field Gaussian weights, depth layers, -ELBO",
                {"hidden": 16, **IMAGE}, has_depth=True, provides=("linear-gaussian-weights",),
                excludes=("measure-valued",), model=_bnn, ranges={"hidden": WIDTH}, choices=DATA),
        Problem("stochastic-depth", "bernoulli", "seed 001 stochastic ResNet: depth blocks kept w.p. sigmoid(theta)",
                {"width": 32, **IMAGE}, has_depth=True, model=_stochastic_depth, ranges={"width": WIDTH},
                choices=DATA, skips=True),
        Problem("skip-rnn", "bernoulli", "Skip RNN over image rows (steps, 0 = one per row): a Bernoulli update "
                "gate per step and layer, penalty per update, gate_bias shifts the open rate, truncated BPTT "
                "window (0 = full)", {"width": 32, "steps": 0, "penalty": 0.01, "gate_bias": 1.0, "window": 0, **IMAGE},
                has_depth=True, model=_skip_rnn, skips=True,
                ranges={"width": WIDTH, "steps": Range(0, integer=True), "penalty": Range(0),
                        "window": Range(0, integer=True)}, choices=DATA),
    ]
}
POINTS = ("init", "trained")


def parse_value(default: Any, text: str) -> Any:
    return type(default)(text) if not isinstance(default, str) else text


def _toy_f(problem: str, pp: dict[str, Any], backend: str) -> Callable:
    mod = importlib.import_module("torch" if backend.startswith("torch") else "jax.numpy")
    if problem == "toy-bernoulli":
        return lambda b: ((b - pp["t"]) ** 2).sum(-1)
    if pp["f"] == "cos":
        return lambda x: mod.cos(pp["omega"] * x).sum(-1)
    return lambda x: (x**2).sum(-1)


def dataset(pp: dict[str, Any]) -> datasets.Dataset:
    return datasets.load(pp["data"], pp["data_dir"])


def model_of(problem: str, pp: dict[str, Any], depth: int, batch_size: int, estimator: str = "") -> AbstractModel:
    make = PROBLEMS[problem].model
    return make(pp, depth, batch_size, estimator, dataset(pp).n_pixels)


def batch(problem: str, pp: dict[str, Any], x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """A model's data arrays: binarized images for the VAEs, images and one-hot labels for classifiers."""
    if problem.endswith("vae"):
        return {"x": datasets.binarize(x)}
    return {"x": x, "y": datasets.one_hot(y)}


def fixed_batch(problem: str, pp: dict[str, Any], batch_size: int, seed: int) -> dict[str, np.ndarray]:
    """The training examples a gradients cell differentiates the mean loss over (chosen by the seed)."""
    d = dataset(pp)
    idx = np.random.default_rng(seed + 1).choice(len(d.x_train), batch_size, replace=False)
    return batch(problem, pp, d.x_train[idx], d.y_train[idx])


def enumerable(problem: str, pp: dict[str, Any], depth: int) -> bool:
    if problem == "chain":
        return depth * int(pp["width"]) <= MAX_EXACT_UNITS
    if PROBLEMS[problem].model is None:
        return problem == "toy-bernoulli" and int(pp["units"]) <= MAX_EXACT_UNITS
    model = model_of(problem, pp, depth, 1)
    return 0 < n_configurations(model) ** model.iwae_k <= 2**16


def params_of(problem: str, pp: dict[str, Any], depth: int, seed: int, point: str = "init",
              batch_size: int = 1) -> dict[str, np.ndarray]:
    if problem == "toy-bernoulli":
        units = int(pp["units"])
        return {"logits": (pp["theta"] + pp["spread"] * np.linspace(-1, 1, units) * (units > 1)).astype(np.float32)}
    if problem == "toy-gaussian":
        return {"loc": np.array([pp["mu"]], np.float32), "scale": np.array([pp["sigma"]], np.float32)}
    if problem == "chain":
        return init_params(depth, int(pp["width"]), seed)
    if point == "trained":
        return {k: v.copy() for k, v in _trained(problem, tuple(sorted(pp.items())), depth, seed, batch_size).items()}
    return model_of(problem, pp, depth, batch_size).init_params(seed)


@lru_cache(maxsize=8)
def _trained(problem: str, items: tuple, depth: int, seed: int, batch_size: int) -> dict[str, np.ndarray]:
    """Parameters after TRAINED_STEPS Adam steps with the reference estimator, always computed by the same
    backend (torch when installed), so torch and JAX cells measure gradients at the same point."""
    from bench import training
    from estimators import available_backends

    pp = dict(items)
    name = "vimco" if iwae_k(pp) > 1 else TRAINING_REFERENCE[PROBLEMS[problem].dist]
    model = model_of(problem, pp, depth, batch_size, name)
    backend = "torch" if "torch" in available_backends() else "jax"
    run = training.train(problem, pp, model, name, backend=backend, device="cpu", seed=seed, lr=0.01,
                         optimizer="adam", steps=TRAINED_STEPS, batch_size=32, n_samples=2 if name == "rloo" else 1,
                         eval_every=0, options={})
    return run.params


def groups(problem: str, params: dict[str, np.ndarray], pp: dict[str, Any] | None = None,
           depth: int = 1) -> dict[str, list[str]]:
    """Parameter groups reported separately (per layer for deep models)."""
    if PROBLEMS[problem].model is not None:
        return model_of(problem, pp, depth, 1).groups(params)
    if problem != "chain":
        return {k: [k] for k in params}
    depth = sum(k.startswith("w") for k in params) + 1
    out = {"layer0": ["logits"]}
    out.update({f"layer{i}": [f"w{i}", f"b{i}"] for i in range(1, depth)})
    out["readout"] = ["v"]
    return out


def build(problem: str, pp: dict[str, Any], backend: str, estimator: str, *, depth: int, batch_size: int,
          n_samples: int, seed: int, device: str, options: dict[str, Any], point: str = "init",
          noise_seed: int | None = None):
    """(driver module, surrogate, parameters, state) for one cell; `seed` fixes parameters and data,
    `noise_seed` (default: seed) the estimator's draws."""
    spec = SPECS[estimator]
    driver = driver_of(backend)
    params = params_of(problem, pp, depth, seed, point, batch_size)
    opts = {**spec.options, **options}
    noise = seed if noise_seed is None else noise_seed
    if PROBLEMS[problem].model is not None:
        from bench.problems.model import build as build_model

        model = model_of(problem, pp, depth, batch_size, estimator)
        built = build_model(model, estimator, params, fixed_batch(problem, pp, batch_size, seed), backend=backend,
                            device=device, n_samples=n_samples, seed=noise, options=opts)
    elif problem == "chain":
        chain = importlib.import_module(f"estimators.{package(backend)}.chain")
        built = chain.build(estimator, params, n_samples=n_samples, seed=noise, device=device, batch_size=batch_size,
                            **opts)
    else:
        built = driver.build_single_node(spec, _toy_f(problem, pp, backend), params, dist=PROBLEMS[problem].dist,
                                         n_samples=n_samples, seed=noise, device=device, batch_size=batch_size, **opts)
    return (driver, *built)
