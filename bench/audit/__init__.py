"""`python -m bench audit`: other libraries' estimators against exact truths, with the suite's own z-tests.

Each adapter (bench/audit/<library>.py) wraps one library's gradient estimator as a model-level black box
(estimators.blackbox): the library samples every site of the problem's program (bench.suites.blackbox) itself
and returns gradient rows. The audit registers the adapters of every library that
is installed (a library that is not is skipped with a note) and every installed black-box plug-in, runs them
on every problem with an exact truth as cells of suite "audit" (bench/audit/cell.py: the gradients suite's
statistics plus the tests' per-coordinate z-test), and tabulates them (bench/audit/table.py). Each cell that ran
also records `time_per_estimate` (timed_cell below): a black box's call for a chunk of rows timed by
bench.measure.timing.time_call, as the suite's own calls are timed, divided by the rows.

The libraries: pyro-ppl, numpyro, storchastic (AGPL, installed by the user), reinmax (the ReinMax authors'
package), tensorflow-probability (its JAX substrate: tfp.vi.monte_carlo_variational_loss), dice-mc (DiCE) and
funsor (Funsor.sample's DiCE factor and Integrate), one module each.

Verdicts, from the largest per-coordinate |z| against its Bonferroni bound (a false alarm about once in a
thousand cells of an unbiased implementation):
  unbiased, as claimed       claims unbiased, max |z| within the bound
  BIASED, claims unbiased    claims unbiased, max |z| beyond the bound: a finding
  biased, as documented      documented as biased (a relaxation, straight-through), beyond the bound
  no bias detected           documented as biased, within the bound at this precision
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from estimators import catalog, plugins
from estimators.plugins import BlackBoxEstimator, Plugin

ADAPTER_MODULES = ("pyro", "numpyro", "storchastic", "reinmax", "tfp", "dice", "funsor")  # bench/audit/<name>.py
LIBRARIES = ("pyro-ppl", "numpyro", "storchastic", "reinmax", "tensorflow-probability", "dice-mc", "funsor")
EXPERIMENT = "audit"
# every problem with an exact truth, at sizes where the enumeration is cheap; keys name variants as the CLI does
PROBLEMS: dict[str, dict[str, Any]] = {
    "toy-bernoulli": {"units": 3, "spread": 1.0, "theta": 0.5, "t": 0.1},  # t far from 1/2: a gradient 8x the
    # REBAR toy's, so a 10% scale error of a score function shows in a few thousand estimates, not 200 000
    "toy-gaussian": {"f": "cos"},
    "chain": {"width": 3},
    "bsn": {"width": 3},
    "sbn-vae": {"width": 3, "hidden": 8},
    "categorical-vae": {"vars": 2, "cats": 3, "hidden": 8},
}
DEPTHS = {"chain": 2, "bsn": 2, "sbn-vae": 2}  # depth 1 elsewhere
BATCH_SIZE = 4
# precision: a cell draws estimates until a scale error of DETECT (10%) of the gradient would show beyond the
# Bonferroni bound with power 1 - BETA, or until it has drawn MAX_ESTIMATES (bench/audit/cell.py)
MAX_ESTIMATES = 100_000


@dataclass(frozen=True)
class Adapter:
    """One library estimator: `estimator` (its spec's `unbiased` is what the library claims; `paper` cites
    where) runs as a black box; `library` is the pip name and `module` the import name it needs."""

    library: str
    module: str
    estimator: BlackBoxEstimator
    description: str

    @property
    def name(self) -> str:
        return self.estimator.spec.name


@dataclass(frozen=True)
class Site:
    """One random value a program asks for, as the ELBO adapters declare it: its distribution and event shape
    (the node's shape less the examples axis)."""

    dist: str
    event: tuple[int, ...]

    @property
    def event_ndim(self) -> int:
        """Dims `.to_event` folds in: all of the event but a one-hot's own last axis (the libraries' categorical
        distributions have it as their support)."""
        return len(self.event) - (self.dist == "categorical")


def adapters() -> tuple[list[Adapter], list[str]]:
    """(adapters whose library is installed, and installed black-box plug-ins; one note per library that is
    not installed)."""
    found, notes = [], []
    for name in ADAPTER_MODULES:
        try:
            module = importlib.import_module(f"bench.audit.{name}")
        except Exception as exc:  # noqa: BLE001 - a broken adapter is a note, the others still run
            notes.append(f"adapter bench/audit/{name}.py failed to import ({type(exc).__name__}: {exc}); skipped")
            continue
        if importlib.util.find_spec(module.MODULE) is None:
            notes.append(f"{module.LIBRARY} is not installed: its adapter ({name}) skipped"
                         + (f" ({module.INSTALL})" if getattr(module, "INSTALL", "") else ""))
            continue
        found += module.ADAPTERS
    found += [Adapter(p.package, p.declaration.functions[next(iter(p.declaration.functions))].split(".")[0],
                      p.declaration, "an installed black-box plug-in") for p in plugins.ESTIMATORS.values()
              if p.kind == "black-box" and p.package not in LIBRARIES]
    return found, notes


def library_version(adapter: Adapter) -> str:
    """library==version+hash of the adapter's source: the estimator_version of its results."""
    try:
        version = importlib.metadata.version(adapter.library)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    source = Path(importlib.import_module(adapter.estimator.functions[next(iter(adapter.estimator.functions))]
                                          .split(":")[0]).__file__).read_bytes()
    return f"{adapter.library}=={version}+{hashlib.sha1(source).hexdigest()[:12]}"


def register(adapter: Adapter) -> None:
    """Put an adapter into the catalog of this process, as a black-box plug-in of its library (an installed
    black-box plug-in is there already)."""
    if adapter.name in plugins.ESTIMATORS:
        return
    if adapter.name in catalog.names():
        raise ValueError(f"adapter {adapter.name!r} clashes with a built-in estimator")
    catalog.add_black_box(adapter.estimator.spec)
    plugins.ESTIMATORS[adapter.name] = Plugin(adapter.name, "black-box", adapter.library, library_version(adapter),
                                              adapter.estimator)


TIMED_CALL_S = 0.1  # the timed call computes about this many seconds' worth of rows (at least MIN_TIMED_ROWS)
MIN_TIMED_ROWS, MAX_TIMED_ROWS = 10, 1000
MIN_MEASUREMENTS = 4  # an IQR of fewer blocks says nothing: the standard error is then NaN (a slow box: one block)


def time_per_estimate(call: Any, start: int = 2**30) -> tuple[float, float, int, int]:
    """(median seconds per estimate, its standard error, measurements, rows per timed call) of a black box's
    `call(start, n)` (estimators.blackbox.Call): a call of MIN_TIMED_ROWS rows (a jitted box compiles), a
    probe of as many, then n rows, n sized so that one call takes about TIMED_CALL_S, timed by
    bench.measure.timing.time_call (torch.utils.benchmark's Timer after warm-up calls: the median and IQR of
    blocks). A call returns NumPy arrays, so the time includes the device's work and the rows' transfer. The
    standard error is the median's, from the IQR (1.2533 x IQR / 1.349 / sqrt(measurements); NaN with fewer than
    MIN_MEASUREMENTS blocks). `start` only
    seeds the rows, which are thrown away."""
    import time

    from bench.measure import timing

    call(start, MIN_TIMED_ROWS)  # a jitted box compiles (or finds its compiled function) here
    t0 = time.perf_counter()
    call(start, MIN_TIMED_ROWS)
    probe = max(time.perf_counter() - t0, 1e-9) / MIN_TIMED_ROWS
    n = int(min(MAX_TIMED_ROWS, max(MIN_TIMED_ROWS, round(TIMED_CALL_S / probe))))
    median, iqr, m = timing.time_call(lambda: call(start, n))
    se = 1.2533 * iqr / 1.349 / m**0.5 / n if m >= MIN_MEASUREMENTS else float("nan")
    return median / n, se, m, n


def timed_cell(cell: Any) -> list[dict[str, Any]]:
    """bench/audit/cell.py's audit_cell, then the black box's time per estimate (time_per_estimate) as the row
    `time_per_estimate` (unit s; message: rows per timed call, measurements, threads). A cell whose statistics
    failed is not timed."""
    import torch

    from bench.audit.cell import audit_cell
    from bench.suites.common import cell_objective, row

    out = audit_cell(cell)
    if any(r["status"] != "ok" for r in out):
        return out
    _, call = cell_objective(cell)
    seconds, se, m, n = time_per_estimate(call)
    return out + [row(cell, "time_per_estimate", seconds, se, unit="s",
                      message=f"{n} rows per timed call, {m} measurements (bench.measure.timing.time_call), "
                              f"torch threads {torch.get_num_threads()}")]


def cells(chosen: list[Adapter], *, n_estimates: int, seed: int, device: str, data: dict[str, Any],
          problems: list[str] | None = None) -> list:
    """The audit's gradients cells: every adapter on every problem of its distributions, in its backend."""
    from bench.plan import grid as sweep
    from bench.problems import PROBLEMS as ALL

    out = []
    for adapter in chosen:
        backend = next(iter(adapter.estimator.functions))
        for problem, params in PROBLEMS.items():
            if problems and problem not in problems:
                continue
            pp = {**ALL[problem].defaults, **params, **{k: v for k, v in data.items() if k in ALL[problem].defaults}}
            grid = sweep.cells("audit", problems={problem: pp}, estimators=[(adapter.name, {})],
                               backends=[backend], device=device, depths=(DEPTHS.get(problem, 1),),
                               batch_sizes=(BATCH_SIZE,), n_samples=(1,), seed=seed, n_estimates=n_estimates)
            out += [replace(c, experiment=EXPERIMENT) for c in grid]
    return out


def run(out: Path, *, names: list[str] | None = None, problems: list[str] | None = None,
        n_estimates: int | None = None,
        seed: int = 0, device: str = "cpu", data: dict[str, Any] | None = None, resume: bool = False,
        quiet: bool = False, settings: tuple = (), argv: list[str] | None = None) -> tuple[int, list[str]]:
    """Run the audit into `out` (inline: the adapters are registered in this process only); returns
    (failed cells, notes about skipped libraries)."""
    from bench.execute import InlineExecutor
    from bench.execute.sweep import run_sweep

    chosen, notes = adapters()
    chosen = [a for a in chosen if not names or a.name in names]
    for adapter in chosen:
        register(adapter)
    from bench.execute.cell import SUITE_FUNCTIONS

    SUITE_FUNCTIONS.setdefault("audit", timed_cell)  # the audit's cells run in this process only (inline)
    stop = (("audit_stop", n_estimates is None),)  # draw until precise enough, unless a count was asked for
    grid = [replace(c, settings=settings + stop) for c in cells(
        chosen, n_estimates=n_estimates or MAX_ESTIMATES, seed=seed, device=device,
        data=data or {"data": "digits", "data_dir": ""}, problems=problems)]
    failed = run_sweep(grid, out, argv or ["audit"], resume=resume, quiet=quiet, executor=InlineExecutor())
    return failed, notes
