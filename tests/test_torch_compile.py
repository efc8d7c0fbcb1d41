"""The torch-compile backend: its rows equal eager torch's on the same uniforms, so every statistical test of eager
torch carries over; plus a bias z-test of its own, recompilation counts, compile time apart, and a cell that
cannot compile failing with one clear line.

Inductor compiles for seconds per graph on a CPU, so the problems are small and each is compiled once (module
fixtures); later calls reuse the graph, which is itself what the recompilation tests check.
"""

from __future__ import annotations

import dataclasses
import types

import numpy as np
import pytest
import torch
from torch.utils.benchmark import Timer

import estimators
from bench import problems
from bench.execute.cell import run_cell
from bench.plan.cell import Cell
from bench.problems.engine import objective
from estimators import catalog, reinforce
from estimators.backends import torch_compile as compiled
from estimators.driver import Objective
from estimators.rng import Rng
from estimators.sampling import estimate
from tests.truths import chain_truth

pytestmark = [pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"),
              pytest.mark.xdist_group("torch_compile")]  # its session-scoped fixture runs once, on one worker
ROWS = 64
SMALL = {"chain": {"width": 3}, "bsn": {"width": 3}, "sbn-vae": {"width": 3, "hidden": 8},
         "toy-bernoulli": {"units": 3, "spread": 1.0}, "stochastic-depth": {"width": 16}, "toy-gaussian": {},
         "skip-rnn": {"width": 8, "steps": 4}}
CASES = [("chain", "reinforce"), ("chain", "disarm"), ("chain", "st"), ("bsn", "disarm"), ("sbn-vae", "st"),
         ("toy-bernoulli", "rloo"), ("chain", "reinmax"), ("chain", "gumbel-rao"), ("chain", "muprop"),
         ("chain", "indecater"), ("chain", "nvil"), ("chain", "arms"), ("toy-gaussian", "measure-valued"),
         ("chain", "rodeo"),  # rodeo: a derivative inside the surrogate (estimators.slope)
         ("chain", "unordered-set"), ("chain", "gapped-st"),
         # eager torch skips closed gates and dropped blocks on hard samples; compiled code must take the dense path
         ("skip-rnn", "reinforce"), ("skip-rnn", "disarm"), ("stochastic-depth", "rloo")]


def built(backend: str, problem: str, name: str, *, seed: int = 0, batch: int = 4):
    """(driver, objective) of a small cell."""
    spec = problems.PROBLEMS[problem]
    pp = {**spec.defaults, **SMALL[problem]}
    model = spec.model(pp, 2, batch, name)
    d = estimators.driver(backend)
    return d, objective(model, d.ops, name, model.init_params(seed), spec.fixed_batch(pp, batch, seed),
                        n_samples=estimators.spec(name).min_samples, seed=seed, options={}, batch_size=batch)


@pytest.fixture(scope="session")
def chain_disarm():
    """Compiled chain/disarm, shared by the tests that reuse its graph."""
    return built("torch-compile", "chain", "disarm", seed=5)


@pytest.mark.parametrize(("problem", "name"), CASES)
def test_compiled_rows_equal_eager_rows(problem, name):
    """Same seed, same generator state, same uniforms: compiled rows are eager torch's to float32 rounding,
    both the first chunk and a second one of another size (the dynamic rows axis)."""
    driver, obj = built("torch-compile", problem, name)
    eager, eager_obj = built("torch", problem, name)
    for start, n in ((0, ROWS), (ROWS, ROWS // 2 + 3)):
        got = driver.rows(obj, obj.state, Rng(0), start, n)
        want = eager.rows(eager_obj, eager_obj.state, Rng(0), start, n)
        assert set(got) == set(want)
        for k in want:
            assert got[k].shape == want[k].shape == (n, *obj.theta[k].shape)
            np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-6 * np.abs(want[k]).max(), err_msg=k)
        assert np.abs(want[next(iter(want))]).max() > 0  # a vacuous comparison of zeros would prove nothing
    assert compiled.recompilations(obj) == 0


def test_public_api_takes_the_backend():
    """estimators.grad_samples(backend="torch-compile") gives eager torch's estimates for the same seed."""
    a6 = torch.tensor([0.9, -0.6, 1.3, 0.4, -1.1, 0.7])
    kw = dict(params={"logits": np.linspace(-1, 1, 6, dtype=np.float32)}, dist="bernoulli", n_estimates=50, seed=4)
    got = estimators.grad_samples("disarm", lambda b: ((b * a6).sum(-1) - 1) ** 2, backend="torch-compile", **kw)
    want = estimators.grad_samples("disarm", lambda b: ((b * a6).sum(-1) - 1) ** 2, backend="torch", **kw)
    np.testing.assert_allclose(got["logits"], want["logits"], rtol=1e-4, atol=1e-6)
    assert "torch-compile" in estimators.available_backends()
    assert estimators.ops("torch-compile") is estimators.ops("torch") or estimators.ops("torch-compile").name == "torch"


def test_bias_z_test_on_an_enumerable_problem(chain_disarm):
    """Chain depth 2 x width 3 (64 joint configurations): compiled DisARM is unbiased for the exact gradient."""
    driver, obj = chain_disarm
    n = 4_000  # one chunk of at most 4096 rows: inductor's code for larger ones is a second graph (one guard)
    rows = estimate(driver, obj, n, {}, Rng(5))
    exact = chain_truth({k: v.numpy() for k, v in obj.theta.items()})
    for k, g in rows.items():
        z = (g.mean(0) - exact[k]) / (g.std(0, ddof=1) / np.sqrt(n) + 1e-12)
        assert np.all(np.abs(z) < 4), (k, z)
    assert np.abs(rows["logits"].mean(0) - exact["logits"]).max() > 0  # the estimates are random, not the truth


def test_no_recompilation_for_same_shapes(chain_disarm):
    driver, obj = chain_disarm
    for start, n in ((0, 8), (8, 8), (16, 24)):  # another row count: the rows axis is dynamic
        driver.rows(obj, obj.state, Rng(0), start, n)
    assert compiled.recompilations(obj) == 0


def test_a_new_dtype_is_one_recompilation():
    """The counter sees guard failures: float64 parameters need a second graph, counted for the surrogate and
    the process (a hand-made surrogate, (theta - u)^2 summed, compiles in a moment)."""
    driver = estimators.driver("torch-compile")

    def evaluate(rep, u, st):
        return ((rep["x"][:, None] - u[0][0].to(rep["x"].dtype)) ** 2).sum(), st

    obj = Objective(estimators.spec("reinforce"), {"x": torch.zeros(3)}, evaluate, lambda n: [(1, n, 3)])
    driver.rows(obj, None, Rng(0), 0, 4)
    driver.rows(obj, None, Rng(0), 4, 4)
    assert compiled.recompilations(obj) == 0
    process = compiled.recompilations()
    obj64 = Objective(obj.spec, {"x": torch.zeros(3, dtype=torch.float64)}, evaluate, obj.noise, cache=obj.cache)
    out = driver.rows(obj64, None, Rng(0), 0, 4)
    assert out["x"].dtype == np.float64
    assert compiled.recompilations(obj) == 1 and compiled.recompilations() == process + 1


def test_eager_recheck_uses_the_rows_uniforms(chain_disarm):
    """`eager` recomputes chosen rows op by op from their own uniforms (their blocks drawn again) and agrees."""
    driver, obj = chain_disarm
    got = driver.rows(obj, obj.state, Rng(3), 100, 32)
    again = driver.eager(obj, obj.state, Rng(3), np.array([100, 107, 131]))
    for k in got:
        np.testing.assert_allclose(again[k], got[k][[0, 7, 31]], rtol=1e-4, atol=1e-7)


def test_timed_keeps_compile_time_apart():
    """The first call compiles and is timed alone; run() after it is much faster and compiles nothing."""
    driver, obj = built("torch-compile", "chain", "reinforce", seed=2)
    compile_s, run = driver.timed(obj, obj.state, 1)
    out = run()
    # Timer pins one thread unless told; inductor's code guards on the thread count (a recompilation), so
    # measure under the process's own setting, as bench.timing does
    start = Timer("run()", globals={"run": run}, num_threads=torch.get_num_threads()).blocked_autorange(
        min_run_time=0.05)
    assert set(out) == set(obj.theta) and out["logits"].shape == (1, 3)
    assert compile_s > 10 * start.median
    assert compiled.recompilations(obj) == 0


BRANCHING = "branching-reinforce"


def _branching(o, params, down, u, state, *, dist, event_ndim):
    """REINFORCE behind a Python branch on its sampled values, as eager define-by-run code may have: eager torch
    runs it; a compiled graph cannot branch on them."""
    if bool((u[0] < 0.5).any()):
        return reinforce.surrogate(o, params, down, u, state, dist=dist, event_ndim=event_ndim)
    return reinforce.surrogate(o, params, down, u, state, dist=dist, event_ndim=event_ndim)


@pytest.fixture
def branching(monkeypatch):
    """An estimator that cannot compile, in the catalog for one test."""
    module = types.ModuleType(BRANCHING)
    module.SPEC, module.surrogate = dataclasses.replace(reinforce.SPEC, name=BRANCHING), _branching
    monkeypatch.setitem(catalog._EXTRA, BRANCHING, module)
    return BRANCHING


def test_what_cannot_compile_fails_with_one_line(branching):
    """A branch on sampled values: a graph break, under fullgraph an error naming the place."""
    driver, obj = built("torch-compile", "chain", branching)
    with pytest.raises(compiled.CompileError) as info:
        driver.rows(obj, obj.state, Rng(0), 0, 8)
    message = str(info.value)
    assert "\n" not in message and message.startswith("torch.compile could not compile")
    assert "test_torch_compile.py" in message


def test_cells_run_compiled_or_fail_with_status_error(tmp_path, branching):
    """Through the harness: a chain cell records 0 recompilations and 16 rechecked rows that agree; a cell that
    cannot compile is status error with the compile message, never eager numbers."""
    common = dict(device="cpu", depth=2, batch_size=4, n_samples=1, seed=0, n_estimates=2000,
                  settings=(("cache_dir", str(tmp_path)),))
    ok = run_cell(Cell("gradients", "chain", (("width", 3),), "disarm", "torch-compile", **common))
    values = {r["metric"]: r["value"] for r in ok if r["param_group"] == "all"}
    assert all(r["status"] == "ok" for r in ok)
    assert values["recompilations"] == 0 and values["checked_rows"] == 16 and values["differing_rows"] == 0
    bad = run_cell(Cell("gradients", "chain", (("width", 3),), branching, "torch-compile", **common))
    assert len(bad) == 1 and bad[0]["status"] == "error"
    assert "torch.compile could not compile" in bad[0]["message"] and "\n" not in bad[0]["message"]


def test_report_style_tells_the_three_backends_apart():
    from bench.report import style

    backends = ["jax", "torch-compile", "torch"]
    assert style.backend_order(backends) == ["torch", "torch-compile", "jax"]
    assert len({style.linestyle(b) for b in backends}) == len({style.marker(b) for b in backends}) == 3
    assert "compile" in style.backend_name("torch-compile") and style.backend_name("torch") != "torch-compile"
