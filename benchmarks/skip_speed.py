"""What define-by-run buys on skip-rnn: one estimate's time with few gates open against every gate open.

    .venv/bin/python benchmarks/skip_speed.py [--backends torch,jax] [--batches 64,1024] [--width 128]
                                              [--data digits28] [--gate-bias -2] [--target-s 1]

skip-rnn (depth 1, 28 steps of 28 pixels on the digits upsampled to 28x28, or 8 of 8 with --data digits) at
gate_bias -2 (about 12% of the gates open at initialisation; the rate is measured and printed) against
gate_bias 40 (every gate open), same weights otherwise. The two calls are timed interleaved in one process
by bench.measure.protocol (warm-ups, ABBA rounds, medians and IQRs); the speed-up is 1 / the median per-round ratio.
REINFORCE feeds hard gates without a gradient path, so torch runs the cell on the open examples alone;
straight-through needs every step's cell (its gradient is (cell - h) dL/dh), and JAX traces one graph and
masks, so those two should show no speed-up. torch runs on one intra-op thread (--threads), so a loaded
machine disturbs it less; each row carries the foreign load seen. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402  (before jax, as everywhere in this project)

import estimators  # noqa: E402
from bench.measure import protocol  # noqa: E402
from bench.plan.cell import Cell  # noqa: E402
from bench.problems import PROBLEMS  # noqa: E402
from bench.problems.engine import forward  # noqa: E402
from bench.suites.speed import timed  # noqa: E402

OPEN_BIAS = 40.0  # sigmoid(40) is 1 in float32: every gate open
ESTIMATORS = ("reinforce", "st")


def params(width: int, data: str, gate_bias: float) -> dict:
    return {**PROBLEMS["skip-rnn"].defaults, "width": width, "data": data, "gate_bias": gate_bias}


def cell(pp: dict, estimator: str, backend: str, batch: int) -> Cell:
    return Cell("speed", "skip-rnn", tuple(sorted(pp.items())), estimator, backend, "cpu", 1, batch, 1, 0, 0)


def open_rate(pp: dict, batch: int) -> float:
    """The share of gates open in one stochastic pass over the cell's batch, at the cell's parameters."""
    problem, o = PROBLEMS["skip-rnn"], estimators.ops("torch")
    model = problem.model(pp, 1, batch)
    data = {k: o.asarray(v) for k, v in problem.fixed_batch(pp, batch, 0).items()}
    rng = np.random.default_rng(0)
    u = [o.asarray(rng.uniform(size=model.node_shape(m, batch)).astype(np.float32))
         for m in range(model.n_stochastic)]
    with torch.no_grad():
        out = forward(model, o, {k: o.asarray(v) for k, v in model.init_params(0).items()}, data, u, "stochastic")
    return float(out["open_rate"].mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backends", default="torch,jax")
    ap.add_argument("--batches", default="64,1024")
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--data", default="digits28")
    ap.add_argument("--gate-bias", type=float, default=-2.0)
    ap.add_argument("--target-s", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    settings = protocol.Settings(min_ratio=0.0, target_s=args.target_s)  # a ratio below 1 is the point here
    sparse, full = (params(args.width, args.data, b) for b in (args.gate_bias, OPEN_BIAS))
    print(f"skip-rnn width {args.width}, data {args.data}, depth 1; gate_bias {args.gate_bias:g} against "
          f"{OPEN_BIAS:g} (every gate open); torch threads {torch.get_num_threads()}")
    print("| backend | estimator | batch | open rate | time, few open (ms) | time, all open (ms) | speed-up "
          "(IQR of ratio) | stable | foreign load |")
    print("|---|---|---|---|---|---|---|---|---|")
    for batch in (int(b) for b in args.batches.split(",")):
        rate = open_rate(sparse, batch)
        for backend in args.backends.split(","):
            for name in ESTIMATORS:
                _, few, _ = timed(cell(sparse, name, backend, batch))
                _, every, _ = timed(cell(full, name, backend, batch))
                c = protocol.compare(few, every, settings)
                print(f"| {backend} | {name} | {batch} | {rate:.0%} | {c.time.median * 1e3:.2f} | "
                      f"{c.floor.median * 1e3:.2f} | {1 / c.ratio.median:.2f}x ({c.ratio.iqr:.2f}) | "
                      f"{'yes' if c.stable else 'no'} | {c.load:.2f} |", flush=True)


if __name__ == "__main__":
    main()
