"""Benchmark problems: each module of this package declares one `Problem`, and that is all it takes to add one.

A Problem describes itself: its distribution, parameters with their domains, the model it builds (a
`bench.problems.engine.Model`, written once against the op set), its data layout, its sizes per preset, its speed
variants, its held-out metrics and labels, and a closed-form truth where it has one. Nothing outside a
problem's module asks for it by name. Problems are discovered (pkgutil), then plug-ins' join (bench.problems.plugins).

Truths (bench.stats.truths): closed forms; exact enumeration of every joint configuration when there are at
most 2^16 of them; otherwise a cached reference estimate whose covariance is carried into every metric.
Model problems estimate the gradient of the mean loss over a fixed batch of `batch_size` training examples.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

import numpy as np

from bench.problems import data as datasets
from bench.problems.engine import Model, enumerable
from estimators import catalog
from estimators.spec import Range

WIDTH = Range(1, 4096, integer=True)  # layer widths: one estimate's parameters stay within a machine's memory
IMAGE = {"data": "digits", "data_dir": ""}  # the defaults of every problem that reads images
DATA = {"data": datasets.DATASETS}
# estimators whose gradient flows through the loss's value, so differentiating the importance-weighted bound
# through them is right; a score-function estimator's per-sample signal would not be (VIMCO is built for it)
VALUE_GRADIENT = ("pathwise", "straight-through", "relaxation", "deterministic")
# unbiased, low-variance estimators: the training reference (the trained gradient point) and reference truths
REFERENCE = {"bernoulli": "disarm", "categorical": "rloo", "gaussian": "reparam"}
Layout = Literal["none", "images", "binary-images"]


@dataclass(frozen=True)
class Problem:
    """One benchmark problem, declared in its own module as PROBLEM."""

    name: str
    dist: str
    description: str
    make: Callable[[dict[str, Any], int, int, str, int], Model]  # (params, depth, batch, estimator, pixels)
    defaults: dict[str, Any] = field(default_factory=dict)
    ranges: dict[str, Range] = field(default_factory=dict)  # numeric parameters' domains
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)  # text parameters' values
    # optional parameters with their defaults: part of a cell's parameters only when given, so adding one leaves
    # every existing cell (and its result file) as it was
    optional: dict[str, Any] = field(default_factory=dict)
    has_depth: bool = False
    provides: tuple[str, ...] = ()  # model structure some estimators require (Spec.requires)
    # torch skips work the floor does (a closed gate's step, a dropped block): a time below the floor's is real
    skips: bool = False
    # estimators the gradients and training suites leave out here; the speed suite still times "deterministic"
    # on every problem as its floor
    excludes: tuple[str, ...] = ()
    data: Layout = "images"  # none; images and one-hot labels (classifiers); binarized images (VAEs)
    # per preset, the variants it runs: {preset: {label: parameters over the defaults}}, label "" the plain one
    sizes: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    depths: dict[str, tuple[int, ...]] = field(default_factory=dict)  # per preset, where not the preset's own
    speed_variants: dict[str, dict[str, Any]] = field(default_factory=dict)  # extra variants the speed suite times
    metrics: dict[str, str] = field(default_factory=dict)  # held-out metrics beside the loss: name -> label
    closed_form: Callable[[dict[str, Any], dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None
    module: str = ""  # set by discovery: its source, for its version

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
        spec, params = catalog.spec(estimator), params or {}
        provides = self.provides + (("iwae-objective",) if iwae_k(params) > 1 else ())
        if iwae_k(params) > 1 and not (spec.requires == "iwae-objective" or spec.family in VALUE_GRADIENT):
            return False
        return (self.dist in spec.dists and estimator not in self.excludes
                and (not spec.requires or spec.requires in provides))

    @property
    def uses_data(self) -> bool:
        return self.data != "none"

    def model(self, params: dict[str, Any], depth: int = 1, batch_size: int = 1, estimator: str = "") -> Model:
        n_pixels = dataset(params).n_pixels if self.uses_data else 0
        return self.make(params, depth, batch_size, estimator, n_pixels)

    def batch(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """A model's data arrays from images and labels, in this problem's layout."""
        if self.data == "binary-images":
            return {"x": datasets.binarize(x)}
        if self.data == "images":
            return {"x": x, "y": datasets.one_hot(y)}
        return {}

    def fixed_batch(self, params: dict[str, Any], batch_size: int, seed: int) -> dict[str, np.ndarray]:
        """The training examples a gradients cell differentiates the mean loss over (chosen by the seed)."""
        if not self.uses_data:
            return {}
        d = dataset(params)
        if batch_size > len(d.x_train):
            raise ValueError(f"batch size {batch_size} is larger than the {d.name} data set's {len(d.x_train)} "
                             f"training examples")
        idx = np.random.default_rng(seed + 1).choice(len(d.x_train), batch_size, replace=False)
        return self.batch(d.x_train[idx], d.y_train[idx])

    def enumerable(self, params: dict[str, Any], depth: int) -> bool:
        return enumerable(self.model(params, depth))

    def groups(self, params: dict[str, Any], depth: int, arrays: dict[str, np.ndarray]) -> dict[str, list[str]]:
        """Parameter groups reported separately (per layer for deep models)."""
        return self.model(params, depth).groups(arrays)


def iwae_k(params: dict[str, Any]) -> int:
    """K of the importance-weighted bound a problem variant asks for (1: the ELBO)."""
    return int(params.get("k", 1)) if params.get("objective") == "iwae" else 1


def dataset(params: dict[str, Any]) -> datasets.Dataset:
    return datasets.load(params["data"], params["data_dir"])


INFRASTRUCTURE = frozenset({"data", "engine", "layers", "plugins"})  # this package's modules that declare no problem


@cache
def _builtin() -> dict[str, Problem]:
    found = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name in INFRASTRUCTURE:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        problem = getattr(module, "PROBLEM", None)
        if isinstance(problem, Problem):
            found[problem.name] = Problem(**{**problem.__dict__, "module": module.__name__})
    return found


# the discovered problems (those without data first), then plug-ins' (bench.problems.plugins), by name
PROBLEMS: dict[str, Problem] = dict(sorted(_builtin().items(), key=lambda kv: (kv[1].uses_data, kv[0])))


def parse_value(default: Any, text: str) -> Any:
    return type(default)(text) if not isinstance(default, str) else text


def init_params(problem: str, params: dict[str, Any], depth: int, seed: int, batch_size: int = 1
                ) -> dict[str, np.ndarray]:
    """The parameters of the problem's model at initialisation (bench.suites.points has the trained point)."""
    return PROBLEMS[problem].model(params, depth, batch_size).init_params(seed)
