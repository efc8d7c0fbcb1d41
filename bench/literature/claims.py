"""The recent estimators' papers, each with one claim the gradients suite can check on its own problems,
declared as data (asv-style) like the seed experiments in `bench/literature/experiments.py`.

A claim is a set of arms (estimator, options, n_samples) on one problem at one size; `claim_cells` turns
it into gradients cells tagged with the claim's id, and `compare(df)` reads their rows back: the named
metric of the whole gradient (group "all"), mean over backends, with its standard error, and whether the
ordering the paper states holds beyond two standard errors of each difference. The training-suite claims
(the DisARM paper's benchmark) live with the seed experiments.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bench.literature.findings import COLUMNS


@dataclass(frozen=True)
class Arm:
    label: str
    estimator: str
    options: dict[str, Any] = field(default_factory=dict)
    n_samples: int = 1


@dataclass(frozen=True)
class Claim:
    id: str
    paper: str
    claim: str
    problem: str
    problem_params: dict[str, Any]
    arms: tuple[Arm, ...]
    metric: str = "variance"  # the one compared; lower is better
    depth: int = 1
    batch_size: int = 4
    # "order": each arm below the next one; "first": the first arm below every other one
    rule: str = "first"


CATEGORICAL = {"vars": 2, "cats": 3}  # 3^2 configurations: exact truths
SBN = {"width": 3}
CLAIMS: dict[str, Claim] = {c.id: c for c in [
    Claim("reinmax", "Liu et al. 2023 (ReinMax)",
          "ReinMax is less biased than straight-through Gumbel-softmax at the same cost (one evaluation)",
          "categorical-vae", CATEGORICAL, (Arm("reinmax", "reinmax"), Arm("st-gumbel", "st-gumbel")),
          metric="bias_sq"),
    Claim("gumbel-rao", "Paulus et al. 2021 (Gumbel-Rao)",
          "Rao-Blackwellising straight-through Gumbel-softmax lowers its variance, more as K grows",
          "categorical-vae", CATEGORICAL,
          (Arm("K=100", "gumbel-rao", {"k": 100}), Arm("K=10", "gumbel-rao", {"k": 10}),
           Arm("K=1", "gumbel-rao", {"k": 1})), rule="order"),
    Claim("arms", "Dimitriev & Zhou 2021 (ARMS)",
          "ARMS has lower variance than DisARM and RLOO at equal evaluations (4 per estimate)",
          "sbn-vae", SBN, (Arm("arms n=4", "arms", n_samples=4), Arm("disarm 2 pairs", "disarm", n_samples=2),
                           Arm("rloo n=4", "rloo", n_samples=4))),
    Claim("carms", "Dimitriev & Zhou 2021 (CARMS)",
          "CARMS has lower variance than RLOO at equal evaluations (4 per estimate)",
          "categorical-vae", CATEGORICAL,
          (Arm("carms n=4", "carms", n_samples=4), Arm("rloo n=4", "rloo", n_samples=4))),
    Claim("disarm-cat", "Dong, Mnih & Tucker 2021 (coupled estimators)",
          "DisARM by stick breaking (one antithetic pair) has lower variance than RLOO with 2 samples (2 evaluations "
          "each)",
          "categorical-vae", CATEGORICAL, (Arm("disarm-cat", "disarm-cat"), Arm("rloo n=2", "rloo", n_samples=2))),
    Claim("unordered-set", "Kool et al. 2020 (unordered set estimator)",
          "sampling without replacement with the built-in baseline has lower variance than RLOO at equal evaluations "
          "(4 per estimate)",
          "categorical-vae", CATEGORICAL,
          (Arm("unordered-set k=4", "unordered-set", n_samples=4), Arm("rloo n=4", "rloo", n_samples=4))),
    Claim("gapped-st", "Fan et al. 2022 (GST)",
          "the gapped straight-through estimator (GST-p) has lower variance than straight-through Gumbel-softmax at "
          "the same temperature (0.5) and cost (one evaluation)",
          "categorical-vae", CATEGORICAL,
          (Arm("gst-p", "gapped-st", {"tau": 0.5, "gap": -1.0}), Arm("st-gumbel", "st-gumbel", {"tau": 0.5}))),
    Claim("rodeo", "Shi et al. 2022 (RODEO)",
          "RODEO's Stein control variates give lower variance than RLOO and double control variates at the same "
          "number of draws (2; a RODEO draw also costs a mean-field pass and its gradient here)",
          "sbn-vae", SBN, (Arm("rodeo n=2", "rodeo", n_samples=2), Arm("double-cv n=2", "double-cv", n_samples=2),
                           Arm("rloo n=2", "rloo", n_samples=2))),
    Claim("indecater", "De Smet et al. 2023 (IndeCateR)",
          "IndeCateR has lower variance than RLOO at equal evaluations (K per variable: 6 per estimate)",
          "categorical-vae", CATEGORICAL, (Arm("indecater", "indecater"), Arm("rloo n=6", "rloo", n_samples=6))),
    Claim("nvil", "Mnih & Gregor 2014 (NVIL)",
          "a learned input-dependent baseline lowers REINFORCE's variance on the sigmoid belief net",
          "sbn-vae", SBN, (Arm("nvil", "nvil"), Arm("reinforce", "reinforce"))),
    Claim("muprop", "Gu et al. 2016 (MuProp)",
          "the Taylor control variate lowers REINFORCE's variance on the sigmoid belief net (2 evaluations)",
          "sbn-vae", SBN, (Arm("muprop", "muprop"), Arm("reinforce n=2", "reinforce", n_samples=2))),
    Claim("vimco", "Mnih & Rezende 2016 (VIMCO)",
          "leave-one-out baselines make the multi-sample bound's score-function gradient far less noisy",
          "sbn-vae", {**SBN, "objective": "iwae", "k": 4},
          (Arm("vimco", "vimco"), Arm("no baseline", "vimco", {"baseline": 0}))),
    Claim("measure-valued", "Mohamed et al. 2020 (sec. 6)",
          "the measure-valued gradient of a Gaussian has lower variance than the score function at equal "
          "evaluations (4 per coordinate)",
          "toy-gaussian", {}, (Arm("measure-valued", "measure-valued"), Arm("reinforce n=4", "reinforce",
                                                                            n_samples=4))),
]}


def claim_cells(ids: list[str], make_cell: Callable[..., Any]) -> list[Any]:
    """Cells for the named claims: `make_cell(problem, params, estimator, options, depth, batch, n_samples,
    experiment)` builds one (the CLI supplies backend, device, seed, estimates and settings)."""
    out = []
    for claim_id in ids:
        c = CLAIMS[claim_id]
        for arm in c.arms:
            out.append(make_cell(c.problem, c.problem_params, arm.estimator, arm.options, c.depth, c.batch_size,
                                 arm.n_samples, c.id))
    return out


def _arm_rows(rows: pd.DataFrame, c: Claim, arm: Arm) -> pd.DataFrame:
    def same_options(text: str) -> bool:
        return {k: v for k, v in json.loads(text or "{}").items() if k != "point"} == arm.options

    return rows[(rows.estimator == arm.estimator) & (rows.n_samples == arm.n_samples)
                & rows.options.map(same_options).astype(bool)]


def measure(rows: pd.DataFrame, c: Claim) -> dict[str, tuple[float, float]]:
    """{arm label: (metric, standard error)}, each the mean over the backends that ran it."""
    part = rows[(rows.experiment == c.id) & (rows.metric == c.metric) & (rows.param_group == "all")
                & (rows.status == "ok")]
    out = {}
    for arm in c.arms:
        a = _arm_rows(part, c, arm)
        if not a.empty:
            out[arm.label] = (float(a.value.mean()), float(np.sqrt((a.stderr**2).sum()) / len(a)))
    return out


def _below(a: tuple[float, float], b: tuple[float, float]) -> float:
    """z of b - a: how many standard errors a lies below b."""
    return (b[0] - a[0]) / max(np.hypot(a[1], b[1]), 1e-300)


def verdict(c: Claim, m: dict[str, tuple[float, float]]) -> tuple[str, bool]:
    labels = [a.label for a in c.arms]
    text = "; ".join(f"{label} {m[label][0]:.4g} ± {m[label][1]:.2g}" for label in labels)
    pairs = list(zip(labels, labels[1:])) if c.rule == "order" else [(labels[0], other) for other in labels[1:]]
    zs = [(a, b, _below(m[a], m[b])) for a, b in pairs]
    text += " (" + ", ".join(f"{a} below {b} at z = {z:.1f}" for a, b, z in zs) + ")"
    return f"{c.metric}: {text}", all(z > 2 for _, _, z in zs)


def compare(df: pd.DataFrame) -> pd.DataFrame:
    """One row per claim, in the findings table's columns (the paper stands where the seed does)."""
    rows = df[df.suite == "gradients"] if {"experiment", "options"} <= set(df.columns) else df.iloc[:0]
    out = []
    for c in CLAIMS.values():
        m = measure(rows, c) if not rows.empty else {}
        if len(m) < len(c.arms):
            finding, agrees = f"not run ({len(m)} of {len(c.arms)} arms in the results)", "n/a"
        else:
            finding, same = verdict(c, m)
            agrees = "yes" if same else "no"
        out.append({"seed": c.paper, "experiment": c.id, "seed_conclusion": c.claim, "suite_finding": finding,
                    "agrees": agrees})
    return pd.DataFrame(out, columns=COLUMNS)
