"""A suite's grid, expanded into Cells: every applicable (problem variant, estimator, backend, depth, batch,
draws) combination once, each with a stable id. The presets (bench.plan.presets) and the problems' own sizes
say what the grid holds; the CLI may narrow it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bench.literature.claims import CLAIMS
from bench.literature.experiments import EXPERIMENTS
from bench.plan.cell import Cell, Training
from bench.plan.presets import Preset
from bench.problems import PROBLEMS, plugins
from estimators import catalog

SUITES = ("gradients", "speed", "training", "trajectory")
EVAL_EVERY = 25  # steps: one epoch of the digits data at batch 50
TRAINING_BATCH = 50  # seed 002's minibatch


def problem_name(key: str) -> str:
    """Grid keys may name a variant, 'sbn-vae:nonlinear'; the problem is the part before the colon."""
    return key.split(":")[0]


def variants(preset: Preset, speed: bool = False) -> dict[str, dict[str, Any]]:
    """The preset's problem variants, {key: parameters}: each problem's sizes at this preset (its defaults where
    it declares none), and in the speed suite its declared speed variants too."""
    names = preset.speed_problems if speed and preset.speed_problems else preset.problems or tuple(PROBLEMS)
    out = {}
    for name in names:
        problem = PROBLEMS[name]
        for label, params in problem.sizes.get(preset.sizes or preset.name, {"": {}}).items():
            out[f"{name}:{label}" if label else name] = {**problem.defaults, **params}
        if speed and preset.speed_variants:
            for label, params in problem.speed_variants.items():
                out[f"{name}:{label}"] = {**problem.defaults, **params}
    return out


def problem_depths(preset: Preset, keys: list[str], speed: bool = False) -> dict[str, tuple[int, ...]]:
    """Each variant's depths: its problem's at this preset where it declares them, else the preset's."""
    default = preset.speed_depths if speed else preset.depths
    sizes = preset.sizes or preset.name
    return {k: (PROBLEMS[problem_name(k)].depths.get(sizes, default) if not speed else default) for k in keys}


def cells(suite: str, *, problems: dict[str, dict[str, Any]], estimators: list[tuple[str, dict[str, Any]]],
          backends: list[str], device: str, depths: tuple[int, ...], batch_sizes: tuple[int, ...],
          n_samples: tuple[int, ...], seed: int, n_estimates: int, points: tuple[str, ...] = ("init",),
          problem_depths: dict[str, tuple[int, ...]] | None = None) -> list[Cell]:
    """Every applicable cell of the grid, each once. Estimators come with their options (variants of one
    estimator are distinct cells). Problems without depth have depth 1; an estimator that needs more draws
    (Spec.min_samples) gets them; exact only where the joint configurations can be enumerated; the trained
    point only for problems with data to train on."""
    out: dict[str, Cell] = {}
    for key, pp in problems.items():
        problem = PROBLEMS[problem_name(key)]
        for name, estimator_options in estimators:
            if not problem.supports(name, pp) or (suite == "speed" and name == "exact"):
                continue
            spec = catalog.spec(name)
            for backend in [b for b in backends if plugins.runs(name, suite, problem.name, pp, b)]:
                own = (problem_depths or {}).get(key, depths)
                for depth in own if problem.has_depth else (1,):
                    if name == "exact" and not problem.enumerable(pp, depth):
                        continue
                    for point in points if problem.uses_data and suite == "gradients" else ("init",):
                        for batch in batch_sizes:
                            for n in n_samples:
                                c = Cell(suite, problem.name, tuple(sorted(pp.items())), name, backend, device,
                                         depth, batch, max(n, spec.min_samples), seed, n_estimates,
                                         tuple(sorted(estimator_options.items())), point=point)
                                out.setdefault(c.id, c)
    return list(out.values())


def claim_cells(ids: list[str], *, backends: list[str], device: str, seed: int, n_estimates: int,
                data: dict[str, Any]) -> list[Cell]:
    """The gradients cells of the papers' claims (bench/literature/claims.py), each tagged with its claim's id."""
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
                            tuple(sorted(arm.options.items())), experiment=c.id)
                out.setdefault(cell.id, cell)
    return list(out.values())


def training_cells(preset: Preset, *, backends: list[str], device: str, data: dict[str, Any],
                   problems: list[str] | None = None, estimators: list[str] | None = None,
                   seeds: list[int] | None = None) -> list[Cell]:
    """The seed experiments, then the (problem, estimator, learning rate) grid, over seeds and backends."""
    out: dict[str, Cell] = {}

    def add(problem: str, pp: dict[str, Any], name: str, training: Training, options: dict[str, Any], depth: int,
            batch: int, experiment: str) -> None:
        if problems and problem not in problems or estimators and name not in estimators:
            return
        full = {**PROBLEMS[problem].defaults, **pp, **{k: v for k, v in data.items() if PROBLEMS[problem].uses_data}}
        if not PROBLEMS[problem].supports(name, full):
            return
        for seed in seeds or preset.training_seeds:
            for backend in [b for b in backends if plugins.runs(name, "training", problem, full, b)]:
                c = Cell("training", problem, tuple(sorted(full.items())), name, backend, device, depth, batch,
                         catalog.spec(name).min_samples, seed, 0, tuple(sorted(options.items())),
                         training=training, experiment=experiment)
                out.setdefault(c.id, c)

    budget = {"steps": preset.training_steps, "eval_every": EVAL_EVERY}
    for exp_id in preset.experiments:
        e = EXPERIMENTS[exp_id]
        for run in e.runs:
            estimator_options = {k: v for k, v in run.options.items() if k in catalog.spec(run.estimator).options}
            knobs = {k: v for k, v in run.options.items() if k not in estimator_options}
            add(e.problem, {**e.problem_params, **run.problem_params}, run.estimator,
                Training(run.lr, e.optimizer, **budget, **knobs), estimator_options, run.depth, TRAINING_BATCH, e.id)
    grid = preset.training_grid
    if grid is not None:
        for problem in grid.problems:
            small = PROBLEMS[problem].sizes.get("full", {"": {}})[""]
            for name in catalog.names():
                if catalog.spec(name).family != "exact":
                    for lr in grid.lrs:
                        add(problem, small, name, Training(lr, grid.optimizer, **budget), {}, grid.depth,
                            grid.batch_size, "")
    return list(out.values())


def trajectory_cells(preset: Preset, *, backends: list[str], device: str, seed: int, n_estimates: int,
                     data: dict[str, Any], problems: list[str] | None = None,
                     estimators: list[tuple[str, dict[str, Any]]] | None = None, driver: str | None = None,
                     checkpoints: tuple[int, ...] | None = None,
                     overrides: dict[str, list[dict[str, Any]]] | None = None) -> list[Cell]:
    """The trajectory suite's cells: each problem variant of the preset's trajectory, every estimator that
    applies, every backend, every checkpoint (the step of the driver's run the parameters are taken at).
    `overrides`: per problem, the parameters asked for (sbn-vae:variant=linear), each set applied over every
    variant (variants it makes equal collapse into one)."""
    t = preset.trajectory
    if t is None:
        return []
    out: dict[str, Cell] = {}
    chosen = estimators or [(n, {}) for n in t.estimators]
    at_preset = variants(replace(preset, problems=tuple(problems or t.problems)))
    asked = [(key, {**pp, **o}) for key, pp in at_preset.items()
             for o in (overrides or {}).get(problem_name(key), [{}])]
    for key, pp in asked:
        problem = PROBLEMS[problem_name(key)]
        pp = {**pp, **{k: v for k, v in data.items() if problem.uses_data and k in pp}}
        if not problem.uses_data or not problem.supports(driver or t.driver, pp):  # a trajectory trains on data
            continue
        for name, options in chosen:
            if not problem.supports(name, pp) or catalog.spec(name).family == "exact":
                continue
            for backend in [b for b in backends if plugins.runs(name, "gradients", problem.name, pp, b)]:
                for step in checkpoints or t.checkpoints:
                    c = Cell("trajectory", problem.name, tuple(sorted(pp.items())), name, backend, device, t.depth,
                             t.batch_size, catalog.spec(name).min_samples, seed, n_estimates,
                             tuple(sorted(options.items())), point="trajectory",
                             training=Training(t.lr, t.optimizer, steps=step, eval_every=0, driver=driver or t.driver))
                    out.setdefault(c.id, c)
    return sorted(out.values(), key=lambda c: -c.training.steps)  # the longest first: its run serves the others
