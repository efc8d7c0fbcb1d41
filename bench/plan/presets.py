"""The presets, declared as data: which problems, estimators and sizes a run covers, and how precisely.

Problem sizes come from each problem's own declaration (`Problem.sizes[preset]`, its variants at that preset;
the defaults where it declares none), and so do depths that differ from the preset's (`Problem.depths`).

    smoke  CI's run of the main job: every suite, the report and its plots, on a few small cells
    quick  the default (`make bench`): every problem at small sizes, every estimator, both backends
    full   depths 1-4, three batch sizes, 1 and 4 draws, 20 000 estimates, a trained gradient point, the papers'
           claims, every experiment, a learning-rate grid
    paper  the literature's sizes: 784 inputs (the digits upsampled to 28x28, or MNIST), 200-unit layers, batch 50
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bench.literature.claims import CLAIMS
from bench.literature.experiments import EXPERIMENTS


@dataclass(frozen=True)
class TrainingGrid:
    """A learning-rate grid over problems and every estimator that applies (the full preset's)."""

    problems: tuple[str, ...]
    lrs: tuple[float, ...]
    optimizer: str = "adam"
    depth: int = 2
    batch_size: int = 32


PAPERS_ESTIMATORS = ("rloo", "arm", "disarm", "arms", "double-cv", "rodeo", "ugc", "reinmax")  # the papers' figures'


@dataclass(frozen=True)
class Trajectory:
    """Variance along a training run (bench.suites.trajectory): `driver` trains each problem (its variants at the
    preset's sizes) with `optimizer` at `lr`; at every checkpoint each estimator is measured at the parameters."""

    problems: tuple[str, ...] = ("sbn-vae",)
    estimators: tuple[str, ...] = PAPERS_ESTIMATORS
    checkpoints: tuple[int, ...] = (0, 10, 100)
    driver: str = "disarm"
    optimizer: str = "adam"
    lr: float = 3e-4  # the DisARM paper's Adam step on its sbn-vae benchmark
    depth: int = 1
    batch_size: int = 50


@dataclass(frozen=True)
class Preset:
    name: str
    problems: tuple[str, ...] | None = None  # None: every problem
    sizes: str = ""  # the preset whose problem sizes (Problem.sizes) this one takes; "" = its own name
    estimators: tuple[str, ...] | None = None  # None: every estimator of the catalog
    estimator_options: dict[str, dict[str, float]] = field(default_factory=dict)  # per estimator, over its spec's
    depths: tuple[int, ...] = (2,)
    batch_sizes: tuple[int, ...] = (4,)
    n_samples: tuple[int, ...] = (1,)
    n_estimates: int = 2_000
    points: tuple[str, ...] = ("init",)
    truth_rel_se: float = 0.05  # reference truths stop when their standard error is this fraction of their norm
    truth_max_estimates: int = 20_000
    claims: tuple[str, ...] = ()
    # speed suite: the gradients grid's problems and estimators unless narrowed here
    speed_problems: tuple[str, ...] | None = None
    speed_estimators: tuple[str, ...] | None = None
    speed_depths: tuple[int, ...] = (2,)
    speed_batch_sizes: tuple[int, ...] = (4,)  # the gradients batch: variance x time joins cell by cell
    speed_variants: bool = True  # the problems' declared speed variants too
    # the timing protocol's precision: each published median's standard error at most this fraction of it, the
    # rounds going on for at most timing_max_s seconds, or 48 rounds of a slow call (bench.measure.protocol)
    timing_rel_se: float = 0.03
    timing_max_s: float = 4.0
    # training suite
    experiments: tuple[str, ...] = ()
    training_steps: int = 100
    training_seeds: tuple[int, ...] = (0,)
    training_grid: TrainingGrid | None = None
    trajectory: Trajectory | None = None  # the trajectory suite (none: it has no cell at this preset)


# The default run (`make bench`) in about ten minutes on 2 cores: one problem per kind of node and model (toy,
# deep binary chain, binary, categorical and Gaussian VAEs, the BNN) at small sizes, both backends, one estimator
# or two per family (the newest with their baselines), and the common ones timed on the four models to ±5%
# (speed cells run one at a time). The full preset runs every problem and the whole catalog.
QUICK_PROBLEMS = ("toy-bernoulli", "chain", "sbn-vae", "categorical-vae", "gaussian-vae", "bnn")
QUICK_ESTIMATORS = ("exact", "reinforce", "rloo", "disarm", "double-cv", "unordered-set", "st", "gumbel-softmax",
                    "reinmax", "reparam", "local-reparam")
QUICK = Preset(
    "quick", problems=QUICK_PROBLEMS, estimators=QUICK_ESTIMATORS, n_estimates=1_000, speed_variants=False,
    speed_problems=("sbn-vae", "categorical-vae", "gaussian-vae", "bnn"), timing_rel_se=0.05, timing_max_s=1.5,
    speed_estimators=("reinforce", "rloo", "disarm", "gumbel-softmax", "reparam"),
    # the DisARM paper's benchmark trains 200-unit VAEs: minutes per run on a CPU, so it belongs to the full
    # preset (`bench run training --experiments disarm-linear` runs it at any preset)
    experiments=tuple(e for e in EXPERIMENTS if not e.startswith("disarm-")),
    trajectory=Trajectory(estimators=("rloo", "disarm", "double-cv", "reinmax"), checkpoints=(0, 10, 100),
                          lr=3e-3, batch_size=16))
FULL = Preset(
    "full", depths=(1, 2, 3, 4), batch_sizes=(1, 16, 64), n_samples=(1, 4), n_estimates=20_000,
    points=("init", "trained"), truth_rel_se=0.02, truth_max_estimates=200_000, claims=tuple(CLAIMS),
    speed_depths=(1, 2, 4), speed_batch_sizes=(1, 64, 1024), experiments=tuple(EXPERIMENTS), training_steps=500,
    training_seeds=(0, 1, 2),
    training_grid=TrainingGrid(("sbn-vae", "categorical-vae", "gaussian-vae", "bnn", "stochastic-depth", "skip-rnn"),
                               (0.001, 0.003, 0.01)),
    trajectory=Trajectory(checkpoints=(0, 10, 100, 1000)))
PAPER = Preset(
    "paper", problems=("sbn-vae", "categorical-vae", "bsn", "gaussian-vae", "bnn"), depths=(1, 2, 3, 4),
    batch_sizes=(50,), speed_batch_sizes=(50,), truth_max_estimates=100_000, speed_variants=False,
    experiments=QUICK.experiments, trajectory=Trajectory(checkpoints=(0, 10, 100, 1000)))
SMOKE = Preset(
    "smoke", sizes="quick", problems=("toy-bernoulli", "chain", "sbn-vae", "gaussian-vae"),
    estimators=("exact", "reinforce", "disarm", "st", "reparam"), n_estimates=500,
    speed_estimators=("reinforce", "disarm", "st", "reparam"), speed_problems=("chain", "gaussian-vae"),
    speed_variants=False, timing_rel_se=0.05, timing_max_s=1.5, experiments=("000-vae",), training_steps=50,
    trajectory=Trajectory(estimators=("rloo", "disarm"), checkpoints=(0, 10), lr=3e-3, batch_size=4))
PRESETS: dict[str, Preset] = {p.name: p for p in (QUICK, FULL, PAPER, SMOKE)}


def with_changes(preset: Preset, **changes) -> Preset:
    return replace(preset, **changes)
