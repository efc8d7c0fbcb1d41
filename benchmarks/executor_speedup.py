"""Wall-clock of one 16-cell CPU sweep with 1 and 2 workers, per executor; values must agree across runs.

    .venv/bin/python benchmarks/executor_speedup.py [--suite gradients|speed] [--executors process,ray]
        [--n-estimates 100000] [--threads 1|default] [--repeats 2]

The sweep: chain, depths 1-4, reinforce and disarm, torch and jax (gradients: `--n-estimates` each; speed:
batch 64). Each run is the whole CLI (`python -m bench run ...`) in a fresh process with a fresh results
folder, so start-up (imports, Ray's local cluster) counts. `--threads 1` (the default) sets OMP_NUM_THREADS=1
for every run, so each cell gets one intra-op thread with 1 worker and with 2, and the speed-up is
concurrency alone; `--threads default` keeps the executors' rule (one worker: the frameworks' own thread
counts; N workers: the CPUs split evenly among them). Every run's values must equal the first run's, save the
readings of the process rather than of the estimator (bench.suites.gradients.PROCESS_METRICS: peak memory, the
memory budget and rows per chunk, which follow from how many workers share the machine).

On a shared machine other processes steal CPU from a run and make it slow: during each run the CPU time of
every process outside it is sampled from /proc (Linux), and the run is repeated when that exceeds
--max-foreign of the machine's capacity (each run also waits for a quiet moment before it starts). The
figure is the fastest clean run. Not part of `make test`; the figures are in README.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.suites.gradients import PROCESS_METRICS  # noqa: E402

GRID = ["--problems", "chain", "--depths", "1,2,3,4", "--estimators", "reinforce,disarm", "--backend", "torch,jax",
        "--quiet"]
TICKS = os.sysconf("SC_CLK_TCK")
MAX_ATTEMPTS = 6
SAMPLE_S = 0.5
QUIET_WINDOW_S = 3.0
QUIET_TIMEOUT_S = 600.0


def _cpu_by_pid(marker: str) -> dict[int, float]:
    """CPU seconds so far of every process on the machine that does not carry `marker` in its environment."""
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():  # the sampler itself: ~1% of a CPU
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                if marker.encode() in f.read():
                    continue
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            out[int(entry.name)] = (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime
        except (OSError, ValueError, IndexError):
            continue  # gone, or a kernel thread
    return out


class ForeignCPU(threading.Thread):
    """Samples other processes' CPU time while a run goes on (the run's processes, Ray's daemons and
    workers included, inherit the marker; anything else on the machine is foreign)."""

    def __init__(self, marker: str) -> None:
        super().__init__(daemon=True)
        self.marker, self.seconds, self.done = marker, 0.0, threading.Event()
        self.last = _cpu_by_pid(marker)

    def run(self) -> None:
        while not self.done.wait(SAMPLE_S):
            self._sample()

    def _sample(self) -> None:
        now = _cpu_by_pid(self.marker)
        self.seconds += sum(max(0.0, t - self.last.get(pid, 0.0)) for pid, t in now.items())
        self.last = now

    def stop(self) -> float:
        self.done.set()
        self.join()
        self._sample()
        return self.seconds


def wait_until_quiet(max_foreign: float, timeout_s: float = QUIET_TIMEOUT_S) -> None:
    """Waits (up to timeout_s) for a few seconds in which other processes use less than max_foreign."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        sampler = ForeignCPU(f"BENCH_SPEEDUP_NOBODY={uuid.uuid4().hex}")
        sampler.start()
        time.sleep(QUIET_WINDOW_S)
        if sampler.stop() / (QUIET_WINDOW_S * len(os.sched_getaffinity(0))) < max_foreign:
            return


def timed_run(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, fraction of the machine's CPU capacity used by other processes meanwhile)."""
    marker = f"BENCH_SPEEDUP_RUN={uuid.uuid4().hex}"
    key, _, value = marker.partition("=")
    foreign = ForeignCPU(marker)
    foreign.start()
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, env={**env, key: value},
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    seconds = foreign.stop()
    if proc.returncode != 0:
        sys.exit(f"run failed: {' '.join(args)}\n{proc.stderr}")
    return wall, seconds / (wall * len(os.sched_getaffinity(0)))


def results(out: Path, suite: str) -> pd.Series:
    df = pd.read_parquet(out)
    if not (df.status == "ok").all():
        sys.exit(f"failed cells:\n{df[df.status != 'ok'][['estimator', 'backend', 'depth', 'message']]}")
    if suite == "speed":  # timings differ run to run; the cells must not
        return df.groupby("cell_id").size().sort_index()
    df = df[~df.metric.isin(PROCESS_METRICS)]  # a worker's budget is its share of the machine's memory
    return df.set_index(["cell_id", "metric", "param_group"]).value.sort_index()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", choices=["gradients", "speed"], default="gradients")
    p.add_argument("--executors", default="process,ray")
    p.add_argument("--n-estimates", type=int, default=100_000)
    p.add_argument("--threads", choices=["1", "default"], default="1")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--max-foreign", type=float, default=0.05)
    args = p.parse_args()
    env = dict(os.environ)
    if args.threads == "1":
        env["OMP_NUM_THREADS"] = "1"
    else:
        env.pop("OMP_NUM_THREADS", None)
    sweep = ["run", args.suite, *GRID, *(["--batch-sizes", "64"] if args.suite == "speed" else
                                         ["--n-estimates", str(args.n_estimates)])]
    print(f"{len(os.sched_getaffinity(0))} CPUs; {args.suite}, 16 cells"
          + (f", n_estimates={args.n_estimates}" if args.suite == "gradients" else ", batch 64")
          + f"; threads={args.threads}", flush=True)
    reference = None
    for executor in args.executors.split(","):
        walls: dict[int, float] = {}
        for workers in (1, 2):
            clean: list[float] = []
            noisy: list[str] = []
            for _ in range(MAX_ATTEMPTS):
                wait_until_quiet(args.max_foreign)
                with tempfile.TemporaryDirectory() as tmp:
                    wall, foreign = timed_run([*sweep, "--executor", executor, "--workers", str(workers),
                                               "--out", tmp], env)
                    got = results(Path(tmp), args.suite)
                reference = got if reference is None else reference
                # same cells and seeds: the same numbers whatever ran them, at one thread per cell
                if not got.index.equals(reference.index) or (args.suite == "gradients" and not
                                                              (got == reference).all()):
                    sys.exit(f"{executor} with {workers} workers: results differ from the first run")
                if foreign > args.max_foreign:
                    noisy.append(f"{wall:.1f} s at {foreign:.0%} foreign CPU")
                    continue
                clean.append(wall)
                if len(clean) == args.repeats:
                    break
            if not clean:
                sys.exit(f"{executor} with {workers} workers: no clean run ({'; '.join(noisy)})")
            walls[workers] = min(clean)
            print(f"  {executor:8s} workers={workers}: {walls[workers]:6.1f} s (clean runs: "
                  + ", ".join(f"{w:.1f}" for w in clean)
                  + (f"; discarded: {'; '.join(noisy)}" if noisy else "") + ")", flush=True)
        print(f"  {executor:8s} speed-up: {walls[1] / walls[2]:.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
