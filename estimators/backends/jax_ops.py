"""JAX's implementation of `estimators.ops.Ops`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.special import ndtri


class JaxOps:
    """Ops on JAX arrays placed on one device."""

    name = "jax"
    tiny = float(jnp.finfo(jnp.float32).tiny)

    def __init__(self, device: str = "cpu") -> None:
        self.device = jax.devices("gpu" if device == "cuda" else "cpu")[0]

    def asarray(self, a: Any) -> Array:
        if isinstance(a, jax.Array):
            return a
        return jax.device_put(jnp.asarray(np.asarray(a)), self.device)

    def to_numpy(self, x: Array) -> np.ndarray:
        return np.asarray(x)

    def float(self, x: Array) -> Array:
        return x.astype(jnp.float32)

    def arange(self, n: int) -> Array:
        return jnp.arange(n)

    def eye(self, n: int) -> Array:
        return jnp.eye(n, dtype=bool)

    stop_gradient = staticmethod(jax.lax.stop_gradient)
    sigmoid = staticmethod(jax.nn.sigmoid)
    log_sigmoid = staticmethod(jax.nn.log_sigmoid)
    softplus = staticmethod(jax.nn.softplus)
    tanh = staticmethod(jnp.tanh)
    relu = staticmethod(jax.nn.relu)
    exp = staticmethod(jnp.exp)
    cos = staticmethod(jnp.cos)
    log = staticmethod(jnp.log)
    log1p = staticmethod(jnp.log1p)
    sqrt = staticmethod(jnp.sqrt)
    square = staticmethod(jnp.square)
    abs = staticmethod(jnp.abs)
    floor = staticmethod(jnp.floor)
    ndtri = staticmethod(ndtri)
    logaddexp = staticmethod(jnp.logaddexp)
    minimum = staticmethod(jnp.minimum)
    maximum = staticmethod(jnp.maximum)
    where = staticmethod(jnp.where)

    def softmax(self, x: Array, axis: int = -1) -> Array:
        return jax.nn.softmax(x, axis)

    def log_softmax(self, x: Array, axis: int = -1) -> Array:
        return jax.nn.log_softmax(x, axis)

    def logsumexp(self, x: Array, axis: int, keepdims: bool = False) -> Array:
        return jax.nn.logsumexp(x, axis, keepdims=keepdims)

    def sum(self, x: Array, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Array:
        return jnp.sum(x, axis, keepdims=keepdims)

    def mean(self, x: Array, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Array:
        return jnp.mean(x, axis, keepdims=keepdims)

    def argmax(self, x: Array, axis: int = -1) -> Array:
        return jnp.argmax(x, axis)

    def one_hot(self, index: Array, k: int) -> Array:
        return jax.nn.one_hot(index, k, dtype=jnp.float32)

    def take_along_axis(self, x: Array, index: Array, axis: int) -> Array:
        return jnp.take_along_axis(x, index, axis)

    def broadcast_to(self, x: Array, shape: tuple[int, ...]) -> Array:
        return jnp.broadcast_to(x, jnp.broadcast_shapes(x.shape, tuple(shape)))

    def expand_dims(self, x: Array, axis: int) -> Array:
        return jnp.expand_dims(x, axis)

    def moveaxis(self, x: Array, source: int | tuple[int, ...], destination: int | tuple[int, ...]) -> Array:
        return jnp.moveaxis(x, source, destination)

    def concat(self, xs: Sequence[Array], axis: int = 0) -> Array:
        return jnp.concatenate(list(xs), axis)

    def stack(self, xs: Sequence[Array], axis: int = 0) -> Array:
        return jnp.stack(list(xs), axis)

    def repeat(self, x: Array, n: int) -> Array:
        return jnp.repeat(x, n, 0)

    def tile(self, x: Array, n: int) -> Array:
        return jnp.tile(x, (n,) + (1,) * (x.ndim - 1))

    def map_blocks(self, fn: Callable[[Array], Array], n: int, block: int) -> Array:
        n_blocks = -(-n // block)
        ids = jnp.minimum(jnp.arange(n_blocks * block), n - 1).reshape(n_blocks, block)  # the last block padded
        if n_blocks == 1:
            return fn(ids[0])[:n]
        out = jax.lax.map(fn, ids)  # [blocks, block, ...]
        return out.reshape(n_blocks * block, *out.shape[2:])[:n]
