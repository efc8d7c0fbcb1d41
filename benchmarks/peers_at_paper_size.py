"""The suite beside storchastic and Pyro at the literature's size, on one machine in one sitting (issue 24).

sbn-vae 784-200-200 (linear, the paper preset's sizes), depth 2, batch 50, one estimate per call, torch on the
CPU. Each arm is timed by bench.measure.timing.time_call (warm-up, then the median and IQR of blocks), and the
arms are interleaved over ROUNDS rounds, so a slow phase of the host falls on all of them alike; the figure is
the median over rounds, with the rounds' min and max beside it.

    .venv/bin/python benchmarks/peers_at_paper_size.py            # needs storchastic and pyro-ppl installed

The peers run as the audit runs them (bench/audit/<library>.py: the library samples the problem's program and
returns the gradient as NumPy arrays); the suite's estimators run as its speed suite times them (the driver's
`timed` call: one estimate, its uniforms drawn inside the call).
"""

from __future__ import annotations

import statistics
import sys

ROUNDS = 3
# "deterministic" is the speed suite's floor: the same model with every node at its mean, no sampling, no estimator
ARMS = ("deterministic", "reinforce", "storchastic/score-function", "pyro/trace-graph-elbo", "disarm",
        "storchastic/disarm")


def main() -> int:
    import torch

    from bench import audit
    from bench.measure import timing
    from bench.plan import grid
    from bench.problems import PROBLEMS
    from bench.suites.common import cell_objective

    torch.set_num_threads(1)
    found, notes = audit.adapters()
    wanted = {a.name: a for a in found if a.name in ARMS}
    missing = [a for a in ARMS if "/" in a and a not in wanted]
    if missing:
        print(f"not installed: {', '.join(missing)} ({'; '.join(notes)})", file=sys.stderr)
        return 2
    for adapter in wanted.values():
        audit.register(adapter)
    pp = {**PROBLEMS["sbn-vae"].defaults, **PROBLEMS["sbn-vae"].sizes["paper"][""]}
    calls = {}
    for name in ARMS:
        suite = "audit" if "/" in name else "gradients"
        floor = name == "deterministic"  # no grid lists the floor: the speed suite swaps it into a cell
        (cell,) = grid.cells(suite, problems={"sbn-vae": pp}, estimators=[("reinforce" if floor else name, {})],
                             backends=["torch"], device="cpu", depths=(2,), batch_sizes=(50,), n_samples=(1,),
                             seed=0, n_estimates=10)
        driver, obj = cell_objective(cell, name if floor else None)
        if suite == "audit":
            calls[name] = (lambda call: lambda i: call(i, 1))(obj)
        else:  # the speed suite's call: one estimate, its uniforms drawn inside (bench.suites.speed.timed)
            _, run = driver.timed(obj, obj.state, 1)
            calls[name] = (lambda run: lambda i: run())(run)
    seconds: dict[str, list[float]] = {name: [] for name in ARMS}
    for r in range(ROUNDS):
        for name in ARMS:
            call = calls[name]
            median, _, _ = timing.time_call(lambda call=call: call(0))
            seconds[name].append(median)
            print(f"round {r + 1} {name:30s} {median * 1e3:8.2f} ms", flush=True)
    print("\nper estimate (ms): median over rounds [min, max]")
    for name in ARMS:
        s = seconds[name]
        print(f"{name:30s} {statistics.median(s) * 1e3:8.2f} [{min(s) * 1e3:.2f}, {max(s) * 1e3:.2f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
