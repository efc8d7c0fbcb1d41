"""Code versions: a short hash of the source that determines a result, stored with every row.

`--resume` reruns a cell whose stored versions differ from the code's, and the report names any estimator or
problem whose results mix versions. A version hashes source files, not git commits, so an unrelated commit
changes nothing and an uncommitted edit changes what it touches.

  estimator  its backend module, the backend's shared modules (driver, common, dist, registry) and its spec
  problem    the problem's module(s), the model engine, the op namespace and the data loader
  suite      the suite's measuring code (statistics, truths, budget; the timing protocol; training)

A plug-in's estimator or problem carries its package's `name==version+hash of its source` instead
(estimators.plugins), the engine's hash added for a problem.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BACKEND_SHARED = ("driver", "common", "dist")
ENGINE = ("bench/problems/model.py", "bench/problems/ops.py", "bench/problems/data.py", "bench/problems/__init__.py")
PROBLEM_FILES = {
    "toy-bernoulli": (), "toy-gaussian": (), "chain": ("estimators/chain.py", "estimators/{backend}/chain.py"),
    "bsn": ("bench/problems/bsn.py",), "sbn-vae": ("bench/problems/discrete_vae.py",),
    "categorical-vae": ("bench/problems/discrete_vae.py",), "gaussian-vae": ("bench/problems/gaussian_vae.py",),
    "bnn": ("bench/problems/bnn.py",), "stochastic-depth": ("bench/problems/stochastic_depth.py",),
    "skip-rnn": ("bench/problems/skip_rnn.py",),
}
SUITE_FILES = {
    "gradients": ("bench/suites/gradients.py", "bench/moments.py", "bench/metrics.py", "bench/truths.py",
                  "bench/stream.py", "bench/budget.py"),
    "speed": ("bench/suites/speed.py", "bench/protocol.py", "bench/timing.py", "bench/memory.py"),
    "training": ("bench/suites/training.py", "bench/training.py"),
    "audit": ("bench/audit/cell.py", "bench/moments.py", "bench/metrics.py", "bench/truths.py", "bench/stream.py",
              "bench/budget.py", "bench/programs.py", "estimators/blackbox.py"),
}


def _hash(paths: list[str], extra: str = "") -> str:
    h = hashlib.sha1(extra.encode())
    for rel in sorted(set(paths)):
        path = ROOT / rel
        h.update(rel.encode())
        h.update(path.read_bytes() if path.exists() else b"<missing>")
    return h.hexdigest()[:12]


def _backend_package(backend: str) -> str:
    return "torch" if backend.startswith("torch") else backend


@cache
def estimator_version(name: str, backend: str) -> str:
    from estimators.plugins import ESTIMATORS
    from estimators.spec import SPECS

    if name in ESTIMATORS:
        return ESTIMATORS[name].version

    pkg = _backend_package(backend)
    files = [f"estimators/{pkg}/{name.replace('-', '_')}.py", "estimators/registry.py", "estimators/spec.py"]
    files += [f"estimators/{pkg}/{m}.py" for m in BACKEND_SHARED]
    if backend == "torch-compile":  # its driver wraps the torch one (eager torch's versions stay as they were)
        files.append("estimators/torch/compiled.py")
    return _hash(files, repr(SPECS.get(name)))


@cache
def problem_version(problem: str, backend: str) -> str:
    from bench.plugins import LOADED

    if problem in LOADED:
        return f"{LOADED[problem].version}/{_hash(list(ENGINE))}"
    pkg = _backend_package(backend)
    files = [f.format(backend=pkg) for f in PROBLEM_FILES.get(problem, ())] + list(ENGINE)
    return _hash(files)


@cache
def suite_version(suite: str) -> str:
    return _hash(list(SUITE_FILES.get(suite, ())) + ["bench/run.py"])


def versions(suite: str, problem: str, estimator: str, backend: str) -> dict[str, str]:
    return {"estimator_version": estimator_version(estimator, backend),
            "problem_version": problem_version(problem, backend), "suite_version": suite_version(suite)}



def changed(stored: dict[str, str | None], suite: str, problem: str, estimator: str, backend: str,
            compare: tuple[str, ...] = ("estimator", "problem", "suite")) -> list[str]:
    """Which of `compare` (estimator, problem, suite) has code other than the stored versions say."""
    want = versions(suite, problem, estimator, backend)
    return [k for k in compare if stored.get(f"{k}_version") != want[f"{k}_version"]]
