"""The op set estimators and models are written against, once, for every backend (as Keras 3 layers are written
against `keras.ops`): array maths, `stop_gradient`, the few shape and indexing operations they need.

`Ops` is the typed interface; `estimators.backends.torch.TorchOps` and `estimators.backends.jax.JaxOps` implement
it with identical signatures and semantics. Arrays keep the layout [rows, draws, ..., *event]: rows are
independent estimates, draws the examples (and samples) of one estimate; operations broadcast right-aligned,
so an estimator may prepend axes (RLOO's extra draws, enumerated configurations). Arrays themselves offer
`.shape`, `.ndim`, `.reshape(...)`, `.sum(axis)`/`.mean(axis)` (positional), arithmetic, comparisons, `@`
and indexing in both frameworks; anything else goes through these ops.

Also here, because they are written with the ops alone: `Downstream` (the rest of the model seen from one
node), `attach` (a value plus chosen gradients), `sum_event` and `per_unit`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

Array = Any  # a torch.Tensor or a jax.Array: the backend's own array type


@runtime_checkable
class Ops(Protocol):
    """Array operations with one signature in every backend. `name` is the estimator package ("torch" or
    "jax"); torch-compile runs the torch ops under torch.compile."""

    name: str
    tiny: float  # the smallest positive normal float32: uniforms are drawn in [tiny, 1)

    # arrays in and out
    def asarray(self, a: Any) -> Array: ...
    def to_numpy(self, x: Array) -> np.ndarray: ...
    def float(self, x: Array) -> Array: ...  # float32, e.g. of a comparison's booleans
    def arange(self, n: int) -> Array: ...  # int32 0 .. n - 1
    def eye(self, n: int) -> Array: ...  # [n, n] booleans

    # autodiff
    def stop_gradient(self, x: Array) -> Array: ...

    # elementwise
    def sigmoid(self, x: Array) -> Array: ...
    def log_sigmoid(self, x: Array) -> Array: ...
    def softplus(self, x: Array) -> Array: ...
    def tanh(self, x: Array) -> Array: ...
    def relu(self, x: Array) -> Array: ...
    def exp(self, x: Array) -> Array: ...
    def cos(self, x: Array) -> Array: ...
    def log(self, x: Array) -> Array: ...
    def log1p(self, x: Array) -> Array: ...
    def sqrt(self, x: Array) -> Array: ...
    def square(self, x: Array) -> Array: ...
    def abs(self, x: Array) -> Array: ...
    def floor(self, x: Array) -> Array: ...
    def ndtri(self, x: Array) -> Array: ...  # the standard normal's quantile function
    def logaddexp(self, x: Array, y: Array) -> Array: ...
    def minimum(self, x: Array, y: Array | float) -> Array: ...
    def maximum(self, x: Array, y: Array | float) -> Array: ...
    def where(self, cond: Array, x: Array | float, y: Array | float) -> Array: ...

    # along an axis
    def softmax(self, x: Array, axis: int = -1) -> Array: ...
    def log_softmax(self, x: Array, axis: int = -1) -> Array: ...
    def logsumexp(self, x: Array, axis: int, keepdims: bool = False) -> Array: ...
    def sum(self, x: Array, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Array: ...
    def mean(self, x: Array, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Array: ...
    def argmax(self, x: Array, axis: int = -1) -> Array: ...
    def one_hot(self, index: Array, k: int) -> Array: ...  # float32 [..., k]
    def take_along_axis(self, x: Array, index: Array, axis: int) -> Array: ...

    # shapes
    def broadcast_to(self, x: Array, shape: tuple[int, ...]) -> Array: ...  # to broadcast_shapes(x.shape, shape)
    def expand_dims(self, x: Array, axis: int) -> Array: ...
    def moveaxis(self, x: Array, source: int | tuple[int, ...], destination: int | tuple[int, ...]) -> Array: ...
    def concat(self, xs: Sequence[Array], axis: int = 0) -> Array: ...
    def stack(self, xs: Sequence[Array], axis: int = 0) -> Array: ...
    def repeat(self, x: Array, n: int) -> Array: ...  # each entry of axis 0 n times: [a, a, b, b]
    def tile(self, x: Array, n: int) -> Array: ...  # axis 0 n times over: [a, b, a, b]

    # control
    def map_blocks(self, fn: Callable[[Array], Array], n: int, block: int) -> Array:
        """concat([fn(ids) for ids in blocks of arange(n)]): one traced loop in JAX (lax.map, the last block
        padded and cut), a Python loop in torch; bounds the memory of evaluating n alternatives."""
        ...


def sum_event(o: Ops, x: Array, event_ndim: int) -> Array:
    """Sum over the trailing event axes: per-unit values to per-example ones."""
    return o.sum(x, tuple(range(-event_ndim, 0))) if event_ndim else x


def per_unit(x: Array, event_ndim: int) -> Array:
    """Append event axes to a per-example array so it broadcasts against per-unit arrays."""
    return x.reshape(tuple(x.shape) + (1,) * event_ndim)


def attach(o: Ops, loss: Array, params: dict[str, Array], coeffs: dict[str, Array], event_ndim: int) -> Array:
    """loss + sum sg(c) * (theta - sg(theta)): the value of `loss`, plus gradient c for each parameter."""
    out = loss
    for k, c in coeffs.items():
        theta = params[k]
        out = out + sum_event(o, o.stop_gradient(c) * (theta - o.stop_gradient(theta)), event_ndim)
    return out


@dataclass(frozen=True)
class Downstream:
    """The rest of the model seen from one stochastic node, as functions of the node's output z [..., *event].

    main:    per-example loss with gradients; later nodes contribute their own surrogates.
    value:   per-example loss of a plain forward pass (hard samples, same noise), no gradient.
    relaxed: per-example loss with later nodes relaxed at `temperature` and later parameters frozen,
             a smooth function of z for control variates (REBAR, RELAX).
    mean:    per-example loss with every later node replaced by its mean (the mean-field pass) and later
             parameters frozen: a smooth function of z (MuProp's Taylor expansion point).
    """

    main: Callable[[Array], Array]
    value: Callable[[Array], Array]
    relaxed: Callable[[Array, Array], Array]
    mean: Callable[[Array], Array]
