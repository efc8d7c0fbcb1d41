"""The audit's adapters of reinmax, TensorFlow Probability (JAX substrate), dice-mc and funsor (bench/audit/
reinmax.py, tfp.py, dice.py, funsor.py): each library's rows on the toy problems against the exact truth, the
ReinMax authors' package against the suite's own reinmax, the libraries' faults the adapters work around shown
to be there, a problem a library cannot express a failed cell, and the audit's time per estimate. Each test skips
when its library is not installed (pip install '.[audit]').

Mean tests: per-coordinate z = (mean - truth) / SE against the Bonferroni bound for the coordinates at
alpha = 1e-3 (bench.audit.cell.coordinate_z, SEs from batch means), and a power check: the rows must be precise
enough that a scale error of POWER_SCALE of the gradient would have shown (bench.audit.cell.detectable).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from bench import audit
from bench.audit.cell import coordinate_z, detectable
from bench.plan.cell import Cell
from bench.problems import PROBLEMS
from bench.stats import truths
from bench.stats.moments import Moments
from bench.suites.common import cell_objective, rng, theta
from estimators import catalog, plugins

pytestmark = pytest.mark.slow  # other libraries audited: the slow tier (pyproject's marker)

ROOT = Path(__file__).resolve().parent.parent
ALPHA = 1e-3
POWER_SCALE = 0.35  # the relative scale error each mean test could see (power 0.99): a wrong factor or sign shows


# ------------------------------------------------------------------------------------------------------ helpers


@contextlib.contextmanager
def registered(module: str) -> Iterator[dict[str, audit.Adapter]]:
    """The library's adapters registered in this process's catalog for the test, removed after."""
    adapters = {a.name: a for a in importlib_module(module).ADAPTERS}
    new = [a for a in adapters.values() if a.name not in plugins.ESTIMATORS]
    for a in new:
        audit.register(a)
    try:
        yield adapters
    finally:
        for a in new:
            plugins.ESTIMATORS.pop(a.name, None)
            catalog._BLACK_BOXES.pop(a.name, None)


def importlib_module(name: str) -> Any:
    import importlib

    return importlib.import_module(f"bench.audit.{name}")


def cell(estimator: str, problem: str, backend: str, n_samples: int = 1, n_estimates: int = 1000) -> Cell:
    pp = {**PROBLEMS[problem].defaults, **audit.PROBLEMS[problem]}
    return Cell("audit", problem, tuple(sorted(pp.items())), estimator, backend, "cpu", audit.DEPTHS.get(problem, 1),
                audit.BATCH_SIZE, n_samples, 0, n_estimates, experiment=audit.EXPERIMENT)


def rows(estimator: str, problem: str, backend: str, n: int, n_samples: int = 1, seed: int = 0) -> np.ndarray:
    """n gradient rows [n, P] of an estimator (the suite's or a registered adapter) on the audit's problem."""
    c = cell(estimator, problem, backend, n_samples)
    driver, obj = cell_objective(c)
    out = driver.rows(obj, obj.state, rng(c), seed, n)
    return np.concatenate([np.asarray(out[k], np.float64).reshape(n, -1) for k in obj.theta], 1)


def truth(problem: str) -> np.ndarray:
    c = cell("reinforce", problem, "torch")
    target = truths.Target(c.problem, c.params, c.depth, c.seed, "init", c.batch_size, c.device, theta(c))
    return np.asarray(truths.truth(target, truths.TruthSettings()).mean)


def z_against(g: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """(per-coordinate z of the rows' mean against `reference`, the Bonferroni bound, the SEs): 100 batch means."""
    m = Moments({"g": g.shape[1]}, {"all": ["g"]}, len(g) // 100, reference)
    m.add(g[: 100 * (len(g) // 100)])
    return coordinate_z(m, reference)


def assert_unbiased(g: np.ndarray, exact: np.ndarray, what: str) -> None:
    z, bound, se = z_against(g, exact)
    assert np.abs(z).max() <= bound, f"{what}: max |z| {np.abs(z).max():.2f} > {bound:.2f}; z {np.round(z, 2)}"
    assert detectable(se, exact, bound) <= POWER_SCALE, f"{what}: too few rows to see a scale error"


def assert_same_distribution(a: np.ndarray, b: np.ndarray, what: str) -> None:
    """Same mean and same variance per coordinate, two-sample z-tests with SEs from the rows (the variance's SE
    from the fourth central moment), Bonferroni over 2P tests at ALPHA."""
    constant = (a.var(0) == 0) & (b.var(0) == 0)  # parameters the losses do not reach: 0 in every row of both
    np.testing.assert_allclose(a[0, constant], b[0, constant], err_msg=f"{what}: constant coordinates differ")
    a, b = a[:, ~constant], b[:, ~constant]
    n_a, n_b = len(a), len(b)
    bound = stats.norm.ppf(1 - ALPHA / (4 * a.shape[1]))
    z_mean = (a.mean(0) - b.mean(0)) / np.sqrt(a.var(0, ddof=1) / n_a + b.var(0, ddof=1) / n_b)

    def var_and_se(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = x - x.mean(0)
        v = (c**2).mean(0)
        return v, np.sqrt(np.maximum((c**4).mean(0) - v**2, 0) / len(x))

    (va, sa), (vb, sb) = var_and_se(a), var_and_se(b)
    z_var = (va - vb) / np.sqrt(sa**2 + sb**2)
    assert np.abs(z_mean).max() <= bound, f"{what}: means differ, z {np.round(z_mean, 2)} (bound {bound:.2f})"
    assert np.abs(z_var).max() <= bound, f"{what}: variances differ, z {np.round(z_var, 2)} (bound {bound:.2f})"


# ------------------------------------------------------------------------------------------------------ reinmax


def test_reinmax_package_is_the_suites_reinmax():
    """The authors' reinmax.reinmax and the suite's reinmax draw from the same distribution of rows: on
    toy-bernoulli (f quadratic in the sample: ReinMax's exact case, so both are unbiased there too), on the
    depth-2 chain (biased: both, by the same amount, max |z| about 14 at 2000 rows) and on the categorical VAE
    (categorical sites)."""
    pytest.importorskip("reinmax")
    with registered("reinmax"):
        exact = truth("toy-bernoulli")
        lib = rows("reinmax/reinmax", "toy-bernoulli", "torch", 2000)
        assert_unbiased(lib, exact, "reinmax.reinmax on toy-bernoulli")
        assert_same_distribution(lib, rows("reinmax", "toy-bernoulli", "torch", 4000), "reinmax on toy-bernoulli")
        exact, lib = truth("chain"), rows("reinmax/reinmax", "chain", "torch", 1500)
        z, bound, _ = z_against(lib, exact)
        assert np.abs(z).max() > bound, "reinmax.reinmax's straight-through bias on the chain did not show"
        assert_same_distribution(lib, rows("reinmax", "chain", "torch", 4000), "reinmax on chain")
        lib = rows("reinmax/reinmax", "categorical-vae", "torch", 600)
        assert_same_distribution(lib, rows("reinmax", "categorical-vae", "torch", 4000),
                                 "reinmax on categorical-vae")


def test_reinmax_refuses_gaussian_sites():
    pytest.importorskip("reinmax")
    with registered("reinmax"), pytest.raises(ValueError, match="site 'z0' is gaussian"):
        rows("reinmax/reinmax", "toy-gaussian", "torch", 2)


# ---------------------------------------------------------------------------------------------------------- TFP


def test_tfp_score_function_and_reparameterization_are_unbiased():
    pytest.importorskip("tensorflow_probability")
    pytest.importorskip("jax")
    with registered("tfp"):
        assert_unbiased(rows("tfp/score-function", "toy-bernoulli", "jax", 3000), truth("toy-bernoulli"),
                        "tfp score function on toy-bernoulli")
        assert_unbiased(rows("tfp/reparameterization", "toy-gaussian", "jax", 2000), truth("toy-gaussian"),
                        "tfp reparameterisation on toy-gaussian")


@pytest.mark.slow
def test_tfp_vimco_is_unbiased():
    """VIMCO runs op by op (no jit; see the fault below): about 70 ms a row."""
    pytest.importorskip("tensorflow_probability")
    with registered("tfp"):
        assert_unbiased(rows("tfp/vimco", "toy-bernoulli", "jax", 600, n_samples=2), truth("toy-bernoulli"),
                        "tfp VIMCO on toy-bernoulli")


@pytest.mark.slow
def test_tfp_vimco_cannot_express_nonpositive_losses():
    """toy-gaussian's losses (cos) are not all positive: VIMCO's u = loss cannot be a density ratio; a clear
    error (a failed cell in the audit), not rows."""
    pytest.importorskip("tensorflow_probability")
    with registered("tfp"), pytest.raises(ValueError, match="needs positive losses"):
        rows("tfp/vimco", "toy-gaussian", "jax", 4, n_samples=2)


def test_tfp_vimco_does_not_trace_under_jit():
    """The fault that makes bench/audit/tfp.py run VIMCO op by op: TFP 0.25's VIMCO (tfp/stats/leave_one_out.py)
    reshapes to a shape it computes with tf.gather, a tracer under jax.jit. Eager it runs."""
    pytest.importorskip("tensorflow_probability")
    import jax

    from bench.audit.tfp import _tfp

    tfp = _tfp()

    def loss(loc, key):
        return tfp.vi.monte_carlo_variational_loss(lambda z: -0.5 * z**2, tfp.distributions.Normal(loc, 1.0),
                                                   importance_sample_size=2, seed=key,
                                                   gradient_estimator=tfp.vi.GradientEstimators.VIMCO)

    key = jax.random.PRNGKey(0)
    assert np.isfinite(float(loss(0.3, key)))
    with pytest.raises(TypeError, match="Shapes must be 1D sequences of concrete values"):
        jax.jit(loss)(0.3, key)


def test_tfp_jax_substrate_does_not_import_on_this_jax_without_the_shim():
    """The fault bench/audit/tfp.py works around: TFP 0.25's JAX substrate reads
    jax.interpreters.xla.pytype_aval_mappings, which jax 0.10 no longer has (a fresh process, no shim)."""
    pytest.importorskip("tensorflow_probability")
    script = ("import jax.interpreters.xla as xla\n"
              "if hasattr(xla, 'pytype_aval_mappings'): raise SystemExit(3)\n"
              "import tensorflow_probability.substrates.jax")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    if out.returncode == 3:
        pytest.skip("this jax still has jax.interpreters.xla.pytype_aval_mappings")
    assert out.returncode != 0 and "pytype_aval_mappings" in out.stderr, out.stderr[-2000:]


# -------------------------------------------------------------------------------------------------------- DiCE


@pytest.mark.parametrize("name", ["dice/dice", "dice/ema-baseline", "dice/batch-baseline"])
def test_dice_is_unbiased(name):
    pytest.importorskip("dice_mc")
    with registered("dice"):
        assert_unbiased(rows(name, "toy-bernoulli", "torch", 2000), truth("toy-bernoulli"), f"{name} on toy-bernoulli")


def test_dice_score_function_on_gaussian_sites():
    pytest.importorskip("dice_mc")
    with registered("dice"):
        assert_unbiased(rows("dice/dice", "toy-gaussian", "torch", 3000), truth("toy-gaussian"),
                        "dice/dice on toy-gaussian")


# ------------------------------------------------------------------------------------------------------ funsor


def test_funsor_monte_carlo_is_unbiased():
    pytest.importorskip("funsor")
    pytest.importorskip("pyro")
    with registered("funsor"):
        assert_unbiased(rows("funsor/monte-carlo", "toy-bernoulli", "torch", 1000), truth("toy-bernoulli"),
                        "funsor on toy-bernoulli")


@pytest.mark.slow
def test_funsor_pathwise_on_gaussian_sites_is_unbiased():
    """funsor samples a Normal with rsample: its Delta carries no DiCE factor, the gradient is pathwise."""
    pytest.importorskip("funsor")
    pytest.importorskip("pyro")
    with registered("funsor"):
        assert_unbiased(rows("funsor/monte-carlo", "toy-gaussian", "torch", 2500), truth("toy-gaussian"),
                        "funsor (pathwise) on toy-gaussian")


def test_funsor_torch_backend_fails_once_jax_is_imported(monkeypatch):
    """The fault bench/audit/funsor.py works around: with the torch backend and jax imported (the audit's process
    after a JAX library ran), funsor 0.4.8 tests terms against a compiled-function type only the jax backend sets."""
    pytest.importorskip("funsor")
    pytest.importorskip("jax")
    import funsor
    import funsor.util

    funsor.set_backend("torch")
    monkeypatch.setattr(funsor.util, "_JAX_COMPILED_FUNCTION_TYPE", None)  # as in a process that never set "jax"
    with pytest.raises(TypeError, match="isinstance"):
        funsor.util.is_jax_compiled_function(object())
    from bench.audit.funsor import _set_torch_backend

    _set_torch_backend()
    assert funsor.util.is_jax_compiled_function(object()) is False


# ------------------------------------------------------------------------------------------------ the audit cells


def test_a_problem_a_library_cannot_express_is_a_failed_cell(monkeypatch):
    """reinmax on a Gaussian problem, through bench.execute's fault handling: an error row with the library's
    message, no exception."""
    pytest.importorskip("reinmax")
    from bench.execute.cell import SUITE_FUNCTIONS, run_cell

    monkeypatch.setitem(SUITE_FUNCTIONS, "audit", audit.timed_cell)
    with registered("reinmax"):
        out = run_cell(cell("reinmax/reinmax", "toy-gaussian", "torch", n_estimates=50))
    errors = [r for r in out if r["status"] != "ok"]
    assert errors and "gaussian" in errors[0]["message"], out


def test_time_per_estimate():
    """A black box's call timed as bench.measure.timing times a call, per row; the audit cell's row of it."""
    pytest.importorskip("dice_mc")
    import time

    seconds, se, m, n = audit.time_per_estimate(lambda start, k: time.sleep(1e-4 * k))
    assert 1e-4 <= seconds < 3e-4 and m >= 1 and n >= audit.MIN_TIMED_ROWS
    assert se >= 0 if m >= audit.MIN_MEASUREMENTS else np.isnan(se)
    with registered("dice"):
        out = audit.timed_cell(cell("dice/dice", "toy-bernoulli", "torch", n_estimates=200))
    timed = [r for r in out if r["metric"] == "time_per_estimate"]
    assert len(timed) == 1 and 0 < timed[0]["value"] < 1 and timed[0]["unit"] == "s"
