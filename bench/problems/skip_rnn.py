"""Skip RNN (Campos et al., ICLR 2018, Skip RNN: learning to skip state updates in recurrent neural networks)
with stochastic gates: a recurrent classifier reads an image row by row (8 steps of 8 pixels on the digits,
28 of 28 on MNIST) and, at every step and layer, a binary gate decides whether the state is updated at all.

    u_t^l ~ Bernoulli(sigmoid(h_{t-1}^l . g_l + c_l + gate_bias)),
    h_t^l = u_t^l * tanh(i_t^l A_l + a_l + h_{t-1}^l R_l) + (1 - u_t^l) * h_{t-1}^l,
    i_t^0 = x_t (the t-th row), i_t^l = h_t^{l-1},  h_0^l = 0,
    loss = -log softmax(h_T^{L-1} W_out + c_out)[y] + penalty * sum_{t,l} u_t^l

Gate 1 computes the new state; gate 0 copies the old one and never reads x_t. The gate's logit is a learnt
linear function of the layer's previous state (the paper accumulates an update probability between updates
and binarizes it deterministically with straight-through; a gate sampled from the state keeps the model a
plain stochastic network that every Bernoulli estimator applies to). `penalty` per open gate is the paper's
budget loss; `gate_bias` shifts every logit, which sets the open rate (the speed suite's knob).
Each (step, layer) gate is one engine node, in time-major order (node t * depth + l), since a gate's logit
depends on the state the earlier gates produced: depth * steps nodes of event shape (1,). The carried
state packs every layer's hidden state and the count of updates so far ([..., depth * width + 1]).

Truncated backpropagation through time: with `window` > 0 the carried state is cut from the gradient after
every `window` steps (a stop-gradient), so gradients reach back at most `window` steps; 0 is full BPTT.

In PyTorch (define-by-run) a closed gate really skips its step: when the estimator feeds hard 0/1 samples
without a gradient path (score-function and antithetic estimators, exact enumeration), the cell runs only on
the examples whose gate is open and scatters back. Straight-through and relaxed gates need the cell's value
everywhere (their gradient is (cell - h) * dL/dh), and JAX traces one static graph (the engine unrolls the
sequence node by node, so it is an unrolled loop rather than a lax.scan), so those compute every step and
mask, as seed 001's stochastic ResNet does (stochastic_depth.py). `open_rate`, the held-out share of updates
made, is the training suite's second metric beside accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.problems import DATA, IMAGE, WIDTH, Problem
from bench.problems.engine import Model
from bench.problems.layers import Arrays, accuracy, cross_entropy, dense, init_dense
from bench.problems.skipping import skippable
from estimators.ops import Ops
from estimators.spec import Range


@dataclass(frozen=True)
class SkipRNN(Model):
    n_in: int
    width: int
    depth: int  # stacked recurrent layers, each with its own gates
    steps: int  # sequence length; each step reads n_in // steps inputs
    penalty: float = 0.01
    gate_bias: float = 1.0
    window: int = 0
    n_classes: int = 10
    dist = "bernoulli"

    def __post_init__(self) -> None:
        if self.steps < 1 or self.n_in % self.steps:
            raise ValueError(f"skip-rnn: steps={self.steps} must divide the {self.n_in} inputs")

    @property
    def n_stochastic(self) -> int:
        return self.steps * self.depth

    @property
    def row(self) -> int:
        return self.n_in // self.steps

    def init_params(self, seed: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        p: dict[str, Any] = {}
        for m in range(self.depth):
            p |= init_dense(rng, f"in{m}", self.row if m == 0 else self.width, self.width, 1.0)
            p[f"rec{m}_w"] = rng.normal(0.0, 1.0 / np.sqrt(self.width), (self.width, self.width))
            p |= init_dense(rng, f"gate{m}", self.width, 1, 1.0)
        p |= init_dense(rng, "out", self.width, self.n_classes)
        return {k: v.astype(np.float32) for k, v in p.items()}

    def event_shape(self, layer: int) -> tuple[int, ...]:
        return (1,)

    def _hidden(self, state: Any, layer: int) -> Any:
        return state[..., layer * self.width:(layer + 1) * self.width]

    def inputs(self, o: Ops, p: Arrays, ctx: Arrays) -> Any:
        x = ctx["x"]
        return o.broadcast_to(0.0 * x[..., :1], (*x.shape[:-1], self.depth * self.width + 1))

    def node(self, o: Ops, p: Arrays, layer: int, prev: Any, ctx: Arrays) -> Arrays:
        return {"logits": dense(p, f"gate{layer % self.depth}", self._hidden(prev, layer % self.depth))
                + self.gate_bias}

    def cell(self, o: Ops, p: Arrays, m: int, i: Any, h: Any) -> Any:
        """The Elman cell of layer m: tanh(i A + a + h R), every example."""
        return o.tanh(dense(p, f"in{m}", i) + h @ p[f"rec{m}_w"])

    def carry(self, o: Ops, p: Arrays, layer: int, z: Any, prev: Any, ctx: Arrays) -> Any:
        t, m = divmod(layer, self.depth)
        h = self._hidden(prev, m)
        i = ctx["x"][..., t * self.row:(t + 1) * self.row] if m == 0 else self._hidden(prev, m - 1)
        # the skip path gathers rows of [rows, draws]; extra leading axes (RLOO's further draws) take the mask
        if z.ndim == 3 and skippable(o, z):
            new = _update_open(self, o, p, m, z, i, h)
        else:  # z * cell + (1 - z) * h: exactly the cell or exactly h at z in {0, 1}, as the skip path gives
            new = z * self.cell(o, p, m, i, h) + (1 - z) * h
        # the update count only feeds the open-rate metric: kept out of the gradient, which then never runs
        # through its slice of the state (each slice's backward writes a zero tensor of the whole state)
        parts = [prev[..., :m * self.width] if m else None, new,
                 prev[..., (m + 1) * self.width:-1] if m + 1 < self.depth else None,
                 o.stop_gradient(prev[..., -1:] + z)]
        lead = new.shape[:-1]
        state = o.concat([o.broadcast_to(a, (*lead, a.shape[-1])) for a in parts if a is not None], -1)
        if self.window and (t + 1) % self.window == 0 and m == self.depth - 1 and t + 1 < self.steps:
            state = o.stop_gradient(state)  # truncated BPTT: no gradient flows back across this boundary
        return state

    def local_loss(self, o: Ops, p: Arrays, layer: int, z: Any, prev: Any, ctx: Arrays) -> Any:
        return self.penalty * z[..., 0]

    def final_loss(self, o: Ops, p: Arrays, h: Any, ctx: Arrays) -> Any:
        return cross_entropy(o, dense(p, "out", self._hidden(h, self.depth - 1)), ctx["y"])

    def metrics(self, o: Ops, p: Arrays, h: Any, ctx: Arrays, loss: Any) -> dict[str, Any]:
        return {"accuracy": accuracy(o, dense(p, "out", self._hidden(h, self.depth - 1)), ctx["y"]),
                "open_rate": h[..., -1] / self.n_stochastic}  # the share of (step, layer) updates made

    def groups(self, params: dict[str, np.ndarray]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for m in range(self.depth):
            out[f"layer{m}"] = [f"in{m}_w", f"in{m}_b", f"rec{m}_w"]
            out[f"gate{m}"] = [f"gate{m}_w", f"gate{m}_b"]
        return out | {"readout": ["out_w", "out_b"]}


def _update_open(model: SkipRNN, o: Ops, p: Arrays, m: int, z: Any, i: Any, h: Any) -> Any:
    """torch only: layer m's new hidden state, the cell evaluated on the examples whose gate is open alone
    (each with its own row's weights), every other example's state copied."""
    import torch

    shape = torch.broadcast_shapes(z.shape[:-1], h.shape[:-1], i.shape[:-1])
    keep = (z[..., 0] > 0.5).expand(shape).reshape(-1)
    if not bool(keep.any()):
        return h.expand(*shape, h.shape[-1])
    if bool(keep.all()):  # nothing to skip: no gather and scatter either
        return model.cell(o, p, m, i, h)
    idx = keep.nonzero()[:, 0]  # flat example index; one lookup serves the gathers and the scatter
    h = h.expand(*shape, h.shape[-1]).reshape(-1, h.shape[-1])
    i = i.expand(*shape, i.shape[-1]).reshape(-1, i.shape[-1]).index_select(0, idx)
    names = (f"in{m}_w", f"in{m}_b", f"rec{m}_w")
    if p[names[0]].shape[0] == 1:  # one row (training, the speed suite): one set of weights for every example
        w_in, b_in, w_rec = (p[k][0] for k in names)
        new = torch.tanh(i @ w_in + b_in + h.index_select(0, idx) @ w_rec)
    else:
        rows = torch.arange(shape[-2], device=h.device).reshape(-1, 1).expand(shape).reshape(-1)[idx]  # rows: [-2]
        w_in, b_in, w_rec = (p[k][rows] for k in names)
        new = torch.tanh((i[:, None] @ w_in)[:, 0] + b_in + (h.index_select(0, idx)[:, None] @ w_rec)[:, 0])
    return h.index_copy(0, idx, new).reshape(*shape, h.shape[-1])


def _make(pp: dict[str, Any], depth: int, batch: int, estimator: str, pixels: int) -> SkipRNN:
    steps = int(pp["steps"]) or int(round(np.sqrt(pixels)))  # 0: one step per image row
    return SkipRNN(pixels, int(pp["width"]), depth, steps, penalty=float(pp["penalty"]),
                   gate_bias=float(pp["gate_bias"]), window=int(pp["window"]))


# 8 gates a layer at the full preset: 2^8 configurations at depth 1, a reference truth at depth 3 (at depth 2,
# 2^16 configurations are enumerable, but the nested exact estimator would carry 16 axes of 2); the quick
# preset reads 4 steps of 2 rows (16 gate configurations). The speed suite also times two more open rates
# (sigmoid(-2) = 12% at initialisation, and every gate open): torch skips a closed gate's step, JAX masks it.
PROBLEM = Problem(
    "skip-rnn", "bernoulli", "Skip RNN over image rows (steps, 0 = one per row): a Bernoulli update gate per "
    "step and layer, penalty per update, gate_bias shifts the open rate, truncated BPTT window (0 = full)",
    _make, defaults={"width": 32, "steps": 0, "penalty": 0.01, "gate_bias": 1.0, "window": 0, **IMAGE},
    ranges={"width": WIDTH, "steps": Range(0, 784, integer=True), "penalty": Range(0, 1e6),
            "gate_bias": Range(-1e6, 1e6), "window": Range(0, 784, integer=True)},
    choices=DATA, has_depth=True, skips=True,
    metrics={"accuracy": "held-out accuracy", "open_rate": "share of gate updates made"},
    sizes={"quick": {"": {"width": 16, "steps": 4}}, "full": {"": {"width": 16}}},
    depths={"quick": (1,), "full": (1, 3)},
    speed_variants={"sparse": {"width": 16, "gate_bias": -2.0}, "open": {"width": 16, "gate_bias": 40.0}})
