"""skip-rnn beyond the shared model tests (tests/test_models.py runs its enumeration, torch-vs-JAX and z-tests):
the enumerated objective against a NumPy brute force over every gate configuration (one and two layers), the
torch skip path against the masked computation (values and gradients, one row and many), that it really
evaluates the cell on the open examples alone, the truncated-BPTT window against a hand-cut gradient, the
open-rate metric, and straight-through's bias in both backends."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bench import problems as P
from bench.problems import engine as M
from bench.problems.skip_rnn import SkipRNN
from tests.test_models import _estimate
from tests.truths import BACKENDS, gradient, ops


def _setup(depth: int = 1, batch_size: int = 3, **pp):
    pp = {**P.PROBLEMS["skip-rnn"].defaults, "width": 4, **pp}
    model = P.PROBLEMS["skip-rnn"].model(pp, depth, batch_size)
    return model, model.init_params(0), P.PROBLEMS["skip-rnn"].fixed_batch(pp, batch_size, seed=0)


def _brute_force(model: SkipRNN, params: dict[str, np.ndarray], data: dict[str, np.ndarray]) -> float:
    """E[cross-entropy + penalty * updates] by explicit loops over every gate configuration, float64 NumPy."""
    p = {k: v.astype(np.float64) for k, v in params.items()}
    total, d, k = 0.0, model.depth, model.row
    for x, y in zip(data["x"].astype(np.float64), data["y"]):
        for gates in itertools.product([0.0, 1.0], repeat=model.steps * d):
            h, prob = [np.zeros(model.width) for _ in range(d)], 1.0
            for t in range(model.steps):
                for m in range(d):
                    u = gates[t * d + m]
                    q = 1 / (1 + np.exp(-(h[m] @ p[f"gate{m}_w"][:, 0] + p[f"gate{m}_b"][0] + model.gate_bias)))
                    prob *= q if u else 1 - q
                    i = x[t * k:(t + 1) * k] if m == 0 else h[m - 1]
                    if u:
                        h[m] = np.tanh(i @ p[f"in{m}_w"] + p[f"in{m}_b"] + h[m] @ p[f"rec{m}_w"])
            logits = h[-1] @ p["out_w"] + p["out_b"]
            ce = -(y * (logits - logits.max() - np.log(np.exp(logits - logits.max()).sum()))).sum()
            total += prob * (ce + model.penalty * sum(gates))
    return total / len(data["x"])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("depth,pp", [(1, {}), (2, {"steps": 4, "gate_bias": -0.5, "penalty": 0.3})])
def test_enumerated_objective_matches_numpy_brute_force(depth, pp, backend):
    model, params, data = _setup(depth, **pp)
    assert M.n_joint_configurations(model) == 256
    o = ops(backend)
    value = M.exact_objective(model, o, {k: o.asarray(v) for k, v in params.items()},
                              {k: o.asarray(v) for k, v in data.items()})
    assert float(value) == pytest.approx(_brute_force(model, params, data), rel=1e-5)


def _carry(model, theta, z, prev, ctx, layer=3):
    o = ops("torch")
    return model.carry(o, theta, layer, z, prev, ctx)


@pytest.mark.parametrize("rows,lead", [(1, ()), (5, ()), (5, (2,))])
def test_torch_skip_path_equals_the_masked_computation(rows, lead):
    """The same values and parameter gradients whether the cell runs on the open examples alone (z without a
    gradient path) or everywhere and is masked (z carrying one, as straight-through's does); `lead` is a
    sample axis in front of the rows, as RLOO's draws and the enumeration's configurations add."""
    import torch

    model, params, data = _setup(2, batch_size=7, steps=4)
    rng = np.random.default_rng(0)
    ctx = {k: torch.as_tensor(v) for k, v in data.items()}
    prev = torch.as_tensor(rng.normal(size=(rows, 7, 2 * model.width + 1)).astype(np.float32))
    z = torch.as_tensor((rng.uniform(size=(*lead, rows, 7, 1)) < 0.4).astype(np.float32))
    out = {}
    for path, zz in (("skip", z), ("masked", z.clone().requires_grad_())):
        theta = {k: torch.as_tensor(np.repeat(v[None], rows, 0)).requires_grad_() for k, v in params.items()}
        state = _carry(model, theta, zz, prev, ctx)
        grads = torch.autograd.grad((state ** 2).sum(), [theta[k] for k in ("in1_w", "in1_b", "rec1_w")])
        out[path] = [state.detach().numpy(), *(g.numpy() for g in grads)]
    for a, b in zip(out["skip"], out["masked"]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_torch_evaluates_the_cell_on_open_examples_only(monkeypatch):
    """Define-by-run: a step's tanh sees the open examples' rows and nothing else."""
    import torch

    model, params, data = _setup(1, batch_size=10)
    seen = []
    tanh = torch.tanh
    monkeypatch.setattr(torch, "tanh", lambda x: seen.append(x.shape[:-1].numel()) or tanh(x))
    o = ops("torch")
    z = torch.zeros(1, 10, 1)
    z[0, [2, 5, 6]] = 1
    prev = torch.zeros(10, model.width + 1)
    state = model.carry(o, {k: torch.as_tensor(v[None]) for k, v in params.items()}, 0, z, prev,
                        {k: torch.as_tensor(v) for k, v in data.items()})
    assert seen == [3]
    assert state[0, :, -1].tolist() == z[0, :, 0].tolist()  # the update count
    closed = [i for i in range(10) if i not in (2, 5, 6)]
    assert state[0, closed, :-1].abs().max() == 0  # copied from the zero state


@pytest.mark.parametrize("backend", BACKENDS)
def test_truncated_bptt_cuts_the_gradient_at_the_window(backend):
    """Gates forced open, window = 1: the recurrent weights' gradient is the last step's alone, the state it
    reads held constant; with full BPTT it differs."""
    model, params, data = _setup(1, gate_bias=40.0, penalty=0.0, window=1)
    full = SkipRNN(model.n_in, model.width, 1, model.steps, penalty=0.0, gate_bias=40.0)
    o = ops(backend)
    ctx = {k: o.asarray(v) for k, v in data.items()}
    cut = gradient(backend, lambda p: M.exact_objective(model, o, p, ctx), params)["rec0_w"]
    whole = gradient(backend, lambda p: M.exact_objective(full, o, p, ctx), params)["rec0_w"]
    x, y = data["x"].astype(np.float64), data["y"]
    p = {k: v.astype(np.float64) for k, v in params.items()}
    h = np.zeros((len(x), model.width))
    for t in range(model.steps - 1):
        h = np.tanh(x[:, t * model.row:(t + 1) * model.row] @ p["in0_w"] + p["in0_b"] + h @ p["rec0_w"])
    last = np.tanh(x[:, -model.row:] @ p["in0_w"] + p["in0_b"] + h @ p["rec0_w"])
    logits = last @ p["out_w"] + p["out_b"]
    soft = np.exp(logits - logits.max(1, keepdims=True))
    d_logits = (soft / soft.sum(1, keepdims=True) - y) / len(x)
    d_pre = (d_logits @ p["out_w"].T) * (1 - last**2)
    np.testing.assert_allclose(cut, h.T @ d_pre, rtol=1e-4, atol=1e-6)
    assert np.abs(whole - cut).max() > 0.01 * np.abs(cut).max()


@pytest.mark.parametrize("gate_bias,rate", [(40.0, 1.0), (-40.0, 0.0)])
def test_open_rate_metric(gate_bias, rate):
    """All gates open: the plain RNN and every step counted; all closed: the readout of the zero state."""
    model, params, data = _setup(1, batch_size=5, gate_bias=gate_bias, penalty=0.0)
    o = ops("torch")
    u = [o.asarray(np.full((5, 1), 0.5, np.float32)) for _ in range(model.n_stochastic)]
    out = M.forward(model, o, {k: o.asarray(v) for k, v in params.items()},
                    {k: o.asarray(v) for k, v in data.items()}, u, "stochastic")
    assert o.to_numpy(out["open_rate"]).tolist() == [rate] * 5
    x, p = data["x"], params
    h = np.zeros((5, model.width), np.float32)
    for t in range(model.steps if rate else 0):
        h = np.tanh(x[:, t * model.row:(t + 1) * model.row] @ p["in0_w"] + p["in0_b"] + h @ p["rec0_w"])
    logits = h @ p["out_w"] + p["out_b"]
    ce = -(data["y"] * (logits - np.log(np.exp(logits).sum(1, keepdims=True)))).sum(1)
    np.testing.assert_allclose(o.to_numpy(out["loss"]), ce, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_straight_through_is_biased_on_the_skip_rnn(backend):
    """The z-test can fail here: ST's gate gradient is far outside the standard errors of the exact one."""
    model, params, data = _setup(1)
    o = ops(backend)
    ctx = {k: o.asarray(v) for k, v in data.items()}
    truth = gradient(backend, lambda p: M.exact_objective(model, o, p, ctx), params)["gate0_w"]
    g = _estimate(model, "st", params, data, backend, 5_000)["gate0_w"]
    assert np.abs((g.mean(0) - truth) / (g.std(0, ddof=1) / np.sqrt(len(g)))).max() > 10


@pytest.mark.parametrize("preset", ["quick", "full"])
def test_presets_time_skip_rnn_and_enumerate_depth_one(preset):
    """The full preset's speed suite sees skip-rnn mostly closed, at its default and fully open (a ratio under
    the floor is real there: Problem.skips), the quick one at its default; the gradients suite keeps to depth 1
    at the quick preset, where exact enumeration is cheap (the quick preset runs skip-rnn when asked for)."""
    from bench import cli

    def grid(suite):
        args = cli.parser().parse_args(["run", suite, "--preset", preset, "--problems", "skip-rnn"])
        args.seed, args.seed_given = 0, False
        return [c for c in cli._grid(args, suite) if c.problem == "skip-rnn"]

    assert {c.params["gate_bias"] for c in grid("speed")} == ({-2.0, 1.0, 40.0} if preset == "full" else {1.0})
    assert P.PROBLEMS["skip-rnn"].skips
    if preset == "quick":
        assert {c.depth for c in grid("gradients")} == {1}
        assert {c.estimator for c in grid("gradients")} >= {"exact", "reinforce", "disarm", "st"}


def test_steps_that_do_not_divide_the_image_are_one_line_and_exit_2(capsys, tmp_path):
    from bench import cli

    assert cli.main(["run", "gradients", "--problems", "skip-rnn:steps=3", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "steps=3 must divide the 64 inputs" in err
