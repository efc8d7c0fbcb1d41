"""Sweeps declared as data: presets name the grid, `cells` expands it into frozen Cells with stable ids."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from bench import plugins
from bench.claims import CLAIMS
from bench.experiments import EXPERIMENTS
from bench.problems import PROBLEMS, enumerable
from estimators.spec import SPECS

SUITES = ("gradients", "speed", "training")


@dataclass(frozen=True)
class Cell:
    suite: str
    problem: str
    problem_params: tuple[tuple[str, Any], ...]
    estimator: str
    backend: str
    device: str
    depth: int
    batch_size: int
    n_samples: int
    seed: int
    n_estimates: int
    lr: float = 0.0  # training suite only
    options: tuple[tuple[str, Any], ...] = ()  # estimator options, gradient point, training options
    experiment: str = ""  # training cells that reproduce a seed experiment, gradients cells of a paper's claim
    # how to run it, not what it measures (memory budget, truth precision, cache folder): not in the id
    settings: tuple[tuple[str, Any], ...] = field(default=(), compare=False)

    @property
    def opts(self) -> dict[str, Any]:
        return dict(self.options)

    def setting(self, name: str, default: Any = None) -> Any:
        return dict(self.settings).get(name, default)

    @property
    def id(self) -> str:
        """Stable across runs and machines: names the cell's Parquet file, which `--resume` looks for."""
        fields = {k: v for k, v in asdict(self).items() if k != "settings"}
        return hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.problem_params)


SMALL = {"bsn": {"width": 3}, "sbn-vae": {"width": 3}, "categorical-vae": {"vars": 2, "cats": 3},
         "stochastic-depth": {"width": 16},  # enumerable at depths 1-2: exact truths
         "skip-rnn": {"width": 16}}  # 8 gates a layer: 2^8 configurations at depth 1, a reference truth at depth 3
# (skip-rnn at depth 2 has 2^16 configurations: enumerable, but the nested exact estimator would carry 16 axes of 2)
# the speed suite's skip-rnn at two more open rates (sigmoid(-2) = 12% at initialisation, and every gate open):
# torch skips a closed gate's step, JAX masks it, so their times part as the open rate falls
SPEED_VARIANTS = {"skip-rnn:sparse": {"width": 16, "gate_bias": -2.0},
                  "skip-rnn:open": {"width": 16, "gate_bias": 40.0}}
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        # skip-rnn reads 4 steps of 2 rows in the quick preset (16 gate configurations): its 8-gate cells were the
        # slowest of the quick gradients grid; the full preset reads 8
        "problems": {"toy-bernoulli": {}, "toy-gaussian": {}, "chain": {}, **SMALL,
                     "skip-rnn": {**SMALL["skip-rnn"], "steps": 4}, "gaussian-vae": {}, "bnn": {}},
        "estimators": list(SPECS),
        # the quick preset trains control variates briefly (recorded in each cell's options): 2 states of 25 Adam
        # steps instead of 4 of 100, which dominated its run time; the full preset keeps the defaults
        "estimator_options": {"rebar": {"warmup": 25, "states": 2}, "relax": {"warmup": 25, "states": 2}},
        "speed_estimators": ["reinforce", "disarm", "st", "reparam", "local-reparam"],
        "speed_problems": ["toy-bernoulli", "chain", "bsn", "stochastic-depth", "skip-rnn", "bnn"],
        "speed_variants": SPEED_VARIANTS,
        "speed_depths": [2],
        "depths": [2],  # quick: the model problems at depth 2 (nested layers, exact truths); full: depths 1-4
        "problem_depths": {"skip-rnn": [1]},
        "batch_sizes": [4],
        "speed_batch_sizes": [4],  # the gradients batch: variance x time joins cell by cell
        "n_samples": [1],
        "n_estimates": 2_000,
        "truth_rel_se": 0.05,
        "truth_max_estimates": 20_000,
        "points": ["init"],
        # the DisARM paper's benchmark trains 200-unit VAEs with RELAX among others: minutes per run on a CPU, so it
        # belongs to the full preset (`bench run training --experiments disarm-linear` runs it at any preset)
        "experiments": [e for e in EXPERIMENTS if not e.startswith("disarm-")],
        "claims": list(CLAIMS),
        "training_steps": 100,
        "training_seeds": [0],
        "training_grid": {},
    },
    "full": {
        "problems": {"toy-bernoulli": {}, "toy-gaussian": {}, "chain": {}, **SMALL,
                     "sbn-vae:nonlinear": {"width": 3, "variant": "nonlinear", "hidden": 32},
                     "gaussian-vae": {}, "bnn": {}},
        "estimators": list(SPECS),
        "speed_estimators": list(SPECS),
        "speed_problems": None,  # every problem of the preset
        "speed_variants": SPEED_VARIANTS,
        "speed_depths": [1, 2, 4],
        "depths": [1, 2, 3, 4],
        "problem_depths": {"skip-rnn": [1, 3]},
        "batch_sizes": [1, 16, 64],
        "speed_batch_sizes": [1, 64, 1024],
        "n_samples": [1, 4],
        "n_estimates": 20_000,
        "truth_rel_se": 0.02,
        "truth_max_estimates": 200_000,
        "points": ["init", "trained"],
        "experiments": list(EXPERIMENTS),
        "claims": list(CLAIMS),
        "training_steps": 500,
        "training_seeds": [0, 1, 2],
        "training_grid": {"problems": ["sbn-vae", "categorical-vae", "gaussian-vae", "bnn", "stochastic-depth",
                                       "skip-rnn"],
                          "lrs": [0.001, 0.003, 0.01], "optimizer": "adam", "depth": 2, "batch_size": 32},
    },
}
# The literature's sizes, on 784 inputs (the bundled digits upsampled to 28x28, or MNIST with --data mnist):
# sbn-vae with 200-unit layers, linear and nonlinear (two tanh layers of 200), depths 1-4 (REBAR, RELAX, DisARM);
# categorical-vae 20 x 10 with a 256-unit tanh encoder and decoder (Jang et al.); bsn 100 wide, 1 and 2 layers
# (seed 002); gaussian-vae with 500 hidden units and 20 latents (Kingma & Welling); bnn 2 x 400 (Blundell et
# al.). Batch 50.
PAPER_DATA = {"data": "digits28"}
PRESETS["paper"] = {
    **PRESETS["quick"],
    "problems": {"sbn-vae": {"width": 200, "variant": "linear", **PAPER_DATA},
                 "sbn-vae:nonlinear": {"width": 200, "variant": "nonlinear", "hidden": 200, **PAPER_DATA},
                 "categorical-vae": {"vars": 20, "cats": 10, "variant": "nonlinear", "hidden": 256, **PAPER_DATA},
                 "bsn": {"width": 100, **PAPER_DATA},
                 "gaussian-vae": {"latent": 20, "hidden": 500, **PAPER_DATA},
                 "bnn": {"hidden": 400, **PAPER_DATA}},
    "depths": [1, 2, 3, 4],
    "problem_depths": {"categorical-vae": [1], "bsn": [1, 2], "gaussian-vae": [1], "bnn": [2]},
    "batch_sizes": [50],
    "speed_problems": ["sbn-vae", "categorical-vae", "bsn", "gaussian-vae", "bnn"],
    "speed_depths": [2],
    "speed_batch_sizes": [50],
    "n_estimates": 2_000,
    "truth_rel_se": 0.05,
    "truth_max_estimates": 100_000,
    "claims": [],  # the papers' claims run at their own small sizes, in the quick and full presets
    "estimator_options": {},  # control variates trained as their specs say
}
# CI's smoke run of the main job: every suite, the report and its plots, on a few small cells (about a minute)
PRESETS["smoke"] = {
    **PRESETS["quick"],
    "problems": {"toy-bernoulli": {}, "chain": {}, "sbn-vae": SMALL["sbn-vae"], "gaussian-vae": {}},
    "estimators": ["exact", "reinforce", "disarm", "st", "reparam"],
    "estimator_options": {},
    "speed_estimators": ["reinforce", "disarm", "st", "reparam"],
    "speed_problems": ["chain", "sbn-vae", "gaussian-vae"],
    "speed_variants": {},
    "n_estimates": 500,
    "claims": [],
    "experiments": ["000-vae"],
    "training_steps": 50,
}
TRAINING_BATCH = 50  # seed 002's minibatch
EVAL_EVERY = 25  # steps: one epoch of the digits data


def problem_name(key: str) -> str:
    """Preset keys may name a variant, 'sbn-vae:nonlinear'; the problem is the part before the colon."""
    return key.split(":")[0]


def cells(suite: str, *, problems: dict[str, dict[str, Any]], estimators: list[tuple[str, dict[str, Any]]],
          backends: list[str], device: str, depths: list[int], batch_sizes: list[int], n_samples: list[int],
          seed: int, n_estimates: int, points: tuple[str, ...] = ("init",),
          problem_depths: dict[str, list[int]] | None = None) -> list[Cell]:
    """Every applicable cell of the grid, each once. Estimators come with their options (variants of one
    estimator are distinct cells). Toy problems have depth 1; rloo takes n_samples >= 2; exact only where
    the joint configurations can be enumerated; the trained point only for model problems."""
    out: dict[str, Cell] = {}
    for key, pp in problems.items():
        problem = problem_name(key)
        for name, estimator_options in estimators:
            if not PROBLEMS[problem].supports(name, pp) or (suite == "speed" and name == "exact"):
                continue
            for backend in [b for b in backends if plugins.runs(name, suite, problem, pp, b)]:
                own = (problem_depths or {}).get(key, depths)
                for depth in own if PROBLEMS[problem].has_depth else [1]:
                    if name == "exact" and not enumerable(problem, pp, depth):
                        continue
                    for point in points if PROBLEMS[problem].model is not None and suite == "gradients" else ["init"]:
                        options = tuple(sorted({**estimator_options,
                                                **({"point": point} if point != "init" else {})}.items()))
                        for batch in batch_sizes:
                            for n in n_samples:
                                n = max(n, 2) if SPECS[name].multi_sample else n
                                c = Cell(suite, problem, tuple(sorted(pp.items())), name, backend, device, depth,
                                         batch, n, seed, n_estimates, options=options)
                                out.setdefault(c.id, c)
    return list(out.values())


def claim_cells(ids: list[str], *, backends: list[str], device: str, seed: int, n_estimates: int,
                data: dict[str, Any]) -> list[Cell]:
    """The gradients cells of the papers' claims (bench/claims.py), each tagged with its claim's id."""
    out: dict[str, Cell] = {}
    for claim_id in ids:
        c = CLAIMS[claim_id]
        problem = PROBLEMS[c.problem]
        pp = {**problem.defaults, **c.problem_params, **{k: v for k, v in data.items() if problem.uses_data}}
        for arm in c.arms:
            if not problem.supports(arm.estimator, pp):
                raise ValueError(f"claim {c.id}: {arm.estimator} does not apply to {c.problem}")
            for backend in backends:
                cell = Cell("gradients", c.problem, tuple(sorted(pp.items())), arm.estimator, backend, device,
                            c.depth, c.batch_size, arm.n_samples, seed, n_estimates,
                            options=tuple(sorted(arm.options.items())), experiment=c.id)
                out.setdefault(cell.id, cell)
    return list(out.values())


def training_cells(preset: dict[str, Any], *, backends: list[str], device: str, data: dict[str, Any],
                   problems: list[str] | None = None, estimators: list[str] | None = None,
                   seeds: list[int] | None = None) -> list[Cell]:
    """The seed experiments, then the (problem, estimator, learning rate) grid, over seeds and backends."""
    steps = preset["training_steps"]
    budget = (("eval_every", EVAL_EVERY), ("steps", steps))
    out: dict[str, Cell] = {}

    def add(problem: str, pp: dict[str, Any], name: str, lr: float, options: dict[str, Any], depth: int,
            batch: int, experiment: str) -> None:
        if problems and problem not in problems or estimators and name not in estimators:
            return
        full = {**PROBLEMS[problem].defaults, **pp, **{k: v for k, v in data.items() if PROBLEMS[problem].uses_data}}
        if not PROBLEMS[problem].supports(name, full):
            return
        for seed in seeds or preset["training_seeds"]:
            for backend in [b for b in backends if plugins.runs(name, "training", problem, full, b)]:
                opts = tuple(sorted({**options, **dict(budget)}.items()))
                c = Cell("training", problem, tuple(sorted(full.items())), name, backend, device, depth, batch,
                         2 if SPECS[name].multi_sample else 1, seed, 0, lr=lr, options=opts, experiment=experiment)
                out.setdefault(c.id, c)

    for exp_id in preset["experiments"]:
        e = EXPERIMENTS[exp_id]
        for run in e.runs:
            add(e.problem, {**e.problem_params, **run.problem_params}, run.estimator, run.lr,
                {"optimizer": e.optimizer, **run.options}, run.depth, TRAINING_BATCH, e.id)
    grid = preset["training_grid"]
    for problem in grid.get("problems", []):
        for name in SPECS:
            if SPECS[name].family in ("exact",):
                continue
            for lr in grid["lrs"]:
                add(problem, SMALL.get(problem, {}), name, lr, {"optimizer": grid["optimizer"]}, grid["depth"],
                    grid["batch_size"], "")
    return list(out.values())
