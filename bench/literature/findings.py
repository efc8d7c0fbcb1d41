"""The seeds' conclusions against the suite's: for every experiment in `bench/literature/experiments.py`, the held-out
metric of each run (mean over seeds and backends), and whether the suite finds the same direction.

`compare(df)` takes the training rows of a results frame and returns one row per experiment with
columns seed, experiment, seed_conclusion, suite_finding, agrees ("yes", "no", or "n/a" when runs are missing).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd

from bench.literature.experiments import EXPERIMENTS, Experiment, Run

COLUMNS = ["seed", "experiment", "seed_conclusion", "suite_finding", "agrees"]
Curves = dict[str, pd.Series]  # run label -> metric against step (mean over seeds and backends)


def _matches(rows: pd.DataFrame, run: Run, params: dict | None = None) -> pd.Series:
    """The rows of one run: its estimator, learning rate, depth and options, and the problem parameters it
    trained with (`params`: the experiment's, with the run's own over them)."""
    def has_options(text: str) -> bool:
        opts = json.loads(text or "{}")
        return all(opts.get(k) == v for k, v in run.options.items()) and (
            "eval" in run.options or "eval" not in opts)

    def has_params(text: str) -> bool:
        pp = json.loads(text or "{}")
        return all(pp.get(k) == v for k, v in (params or {}).items())

    return ((rows.estimator == run.estimator) & np.isclose(rows.lr, run.lr) & (rows.depth == run.depth)
            & rows.options.map(has_options).astype(bool) & rows.problem_params.map(has_params).astype(bool))


def curves(df: pd.DataFrame, e: Experiment, metric: str = "") -> Curves:
    """Each run's curve of the experiment's metric (or `metric`, one it also reads)."""
    rows = df[(df.suite == "training") & (df.experiment == e.id) & (df.metric == (metric or e.metric))
              & (df.status == "ok")]
    out = {}
    for run in e.runs:
        part = rows[_matches(rows, run, {**e.problem_params, **run.problem_params})]
        if not part.empty:
            out[run.label] = part.groupby("step").value.mean().sort_index()
    return out


def _final(c: Curves, label: str) -> float:
    return float(c[label].iloc[-1])


def _auc(c: Curves, label: str) -> float:
    return float(c[label].mean())


def _pairs(c: Curves, better: str, worse: str, lrs: tuple[float, ...]) -> tuple[str, bool]:
    wins = [(lr, _final(c, f"{better} lr={lr}"), _final(c, f"{worse} lr={lr}")) for lr in lrs]
    text = "; ".join(f"lr {lr}: {a:.3f} vs {b:.3f}" for lr, a, b in wins)
    n = sum(a > b for _, a, b in wins)
    return f"{better} ahead at {n} of {len(wins)} learning rates ({text})", n == len(wins)


def _f1(c: Curves) -> tuple[str, bool]:
    a, b = _auc(c, "variance-adjusted"), _auc(c, "not variance-adjusted")
    return (f"mean accuracy over training {a:.3f} (adjusted) vs {b:.3f}; final {_final(c, 'variance-adjusted'):.3f}"
            f" vs {_final(c, 'not variance-adjusted'):.3f}"), a >= b


def _f5(c: Curves) -> tuple[str, bool]:
    labels = list(c)
    early = {k: float(v.iloc[1]) if len(v) > 1 else float("nan") for k, v in c.items()}
    fastest = max(early, key=early.get)
    ss, sd = _final(c, labels[0]), _final(c, labels[1])
    return (f"first evaluation: fastest is '{fastest}' ({early[fastest]:.3f}); final stochastic {ss:.3f} vs "
            f"deterministic inference {sd:.3f}"), fastest == labels[2] and abs(ss - sd) <= 0.03


def _f8(c: Curves) -> tuple[str, bool]:
    det, bsn = _final(c, "deterministic sigmoid net"), _final(c, "binary stochastic net")
    return f"held-out accuracy: binary stochastic {bsn:.3f} vs deterministic {det:.3f}", bsn > det


def _fdepth(c: Curves) -> tuple[str, bool]:
    st1, st3 = _final(c, "slope-annealed ST depth=1"), _final(c, "slope-annealed ST depth=3")
    r1, r3 = _final(c, "REINFORCE depth=1"), _final(c, "REINFORCE depth=3")
    low3 = _final(c, "REINFORCE lr/25 depth=3")
    text = (f"ST {st1:.3f} -> {st3:.3f} (depth 1 -> 3); REINFORCE {r1:.3f} -> {r3:.3f}; "
            f"REINFORCE lr/25 at depth 3 {low3:.3f}")
    return text, st3 >= st1 - 0.05 and r3 < r1 and low3 > r3


def _fvae(c: Curves) -> tuple[str, bool]:
    a, b = _final(c, "reparam"), _final(c, "score function (REINFORCE)")
    return f"held-out ELBO: reparam {a:.2f} vs score function {b:.2f} nats", a > b


def _late(c: Curves, label: str) -> float:
    """The mean of the last two evaluations: one evaluation on 500 held-out images moves by about 0.01-0.02."""
    return float(c[label].iloc[-2:].mean())


SKIP_KEEPS, SKIP_FEWER = 0.02, 0.9  # accuracy within 0.02 of always updating, at most 90% of the updates


def _fskip(c: Curves) -> tuple[str, bool]:
    """Campos et al.'s claim, for their estimator (sigmoid-adjusted ST): it keeps the always-updating RNN's
    held-out accuracy (within SKIP_KEEPS) and skips at least a tenth of the updates; the other estimators
    are reported beside it. `c` holds accuracy curves under the run labels and open-rate curves under
    'label | open_rate'."""
    base = _late(c, "always update")
    gated = [label for label in c if " | " not in label and label != "always update"]
    parts = [f"{label} {_late(c, label):.3f} at {_late(c, f'{label} | open_rate'):.0%} updates" for label in gated]
    paper = "straight-through (sigmoid-adjusted)"
    acc, rate = _late(c, paper), _late(c, f"{paper} | open_rate")
    text = f"held-out accuracy (mean of the last two evaluations): always update {base:.3f}; " + "; ".join(parts)
    return text, acc >= base - SKIP_KEEPS and rate <= SKIP_FEWER


DISARM_MARGIN = 0.05  # nats: held-out ELBO on 500 images moves by a few hundredths between evaluations


def _fdisarm(c: Curves) -> tuple[str, bool]:
    """The DisARM paper's ordering: DisARM ahead of ARM, RLOO (2 samples) and REINFORCE-EMA by more than
    DISARM_MARGIN each (mean of the last two evaluations); RELAX is reported beside it."""
    late = {label: _late(c, label) for label in c}
    text = "held-out ELBO (mean of the last two evaluations): " + ", ".join(
        f"{label} {v:.2f}" for label, v in sorted(late.items(), key=lambda x: -x[1]))
    others = [label for label in late if label not in ("DisARM", "RELAX")]
    return text, all(late["DisARM"] > late[label] + DISARM_MARGIN for label in others)


RULES: dict[str, Callable[[Curves], tuple[str, bool]]] = {
    "002-1": _f1,
    "002-2": lambda c: _pairs(c, "sigmoid-adjusted", "pass-through", (0.1, 0.3, 1.0)),
    "002-3": lambda c: _pairs(c, "slope-annealed", "sigmoid-adjusted", (0.1, 0.3, 1.0)),
    "002-5": _f5,
    "002-8": _f8,
    "002-depth": _fdepth,
    "000-vae": _fvae,
    "disarm-linear": _fdisarm,
    "disarm-nonlinear": _fdisarm,
    "001-skip-rnn": _fskip,
}


def compare(df: pd.DataFrame) -> pd.DataFrame:
    out = []
    for exp_id, e in EXPERIMENTS.items():
        c = curves(df, e) if {"experiment", "lr", "options"} <= set(df.columns) else {}
        found = len(c)
        for metric in e.also if found == len(e.runs) else ():
            extra = curves(df, e, metric)
            found = min(found, len(extra))
            c |= {f"{label} | {metric}": v for label, v in extra.items()}
        if found < len(e.runs):
            finding, agrees = f"not run ({found} of {len(e.runs)} runs in the results)", "n/a"
        else:
            finding, same = RULES[exp_id](c)
            agrees = "yes" if same else "no"
        out.append({"seed": e.source or exp_id.split("-")[0], "experiment": exp_id, "seed_conclusion": e.claim,
                    "suite_finding": finding, "agrees": agrees})
    return pd.DataFrame(out, columns=COLUMNS)
