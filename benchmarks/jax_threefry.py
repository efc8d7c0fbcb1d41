"""JAX's threefry uniforms, bit for bit, with Threefry's 20 rounds unrolled: a candidate for the JAX driver's `draw`.

`key`, `fold_in` and `uniform` return exactly what `jax.random.PRNGKey`, `jax.random.fold_in` and
`jax.random.uniform(key, shape, float32, minval, maxval)` return under JAX's defaults (threefry2x32, partitionable
counters) (tests/test_jax_threefry.py checks every bit).

Why: on the CPU, JAX lowers its Threefry-2x32 hash as a 5-step `fori_loop` (to keep compile times short), which
XLA:CPU runs as a loop of small kernels. At the speed suite's sizes that loop costs more than the model's whole
gradient (chain, batch 64: the uniforms alone 2.1x the floor). Unrolled, the rounds are elementwise arithmetic
that XLA fuses into one kernel: 7x faster there (benchmarks/jax_prng.py).

Why the driver does not use it: on a model with many small noise arrays it is a regression. In the skip RNN's
whole estimate (28 gates, batch 64) REINFORCE's call rose from 949 us to 4 663 us and its compile from 2.9 s to 21 s,
with or without an optimisation barrier around the uniforms. `draw` below, every array in one hash behind a barrier,
removes that regression and keeps most of chain's gain, but is slower than jax.random on bsn (docs/measuring.md
has the tables). Any switch changes every JAX result's version.

Threefry-2x32 with 20 rounds: Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as 1, 2, 3" (SC 2011).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)
_ONE_BITS = np.uint32(np.float32(1.0).view(np.uint32))


def _rotl(x: Array, r: int) -> Array:
    return lax.shift_left(x, np.uint32(r)) | lax.shift_right_logical(x, np.uint32(32 - r))


def threefry2x32(k0: Array, k1: Array, x0: Array, x1: Array) -> tuple[Array, Array]:
    """The Threefry-2x32 hash of counter pairs (x0, x1) under key (k0, k1), all uint32: JAX's
    `_threefry2x32_lowering` with its loop unrolled (5 groups of 4 rounds, a key injection after each)."""
    ks = (k0, k1, k0 ^ k1 ^ _PARITY)
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for group in range(5):
        for r in _ROTATIONS[group % 2]:
            x0 = x0 + x1
            x1 = _rotl(x1, r) ^ x0
        x0 = x0 + ks[(group + 1) % 3]
        x1 = x1 + ks[(group + 2) % 3] + np.uint32(group + 1)
    return x0, x1


def key(seed: int) -> Array:
    """`jax.random.PRNGKey(seed)` for a seed in [0, 2^32): the raw key (0, seed)."""
    return jnp.array([0, seed], jnp.uint32)


def fold_in(k: Array, data: Array | int) -> Array:
    """`jax.random.fold_in(k, data)`: the hash of the counter pair (0, data) under k."""
    y0, y1 = threefry2x32(k[0], k[1], jnp.uint32(0), jnp.asarray(data, jnp.uint32))
    return jnp.stack([y0, y1])


@partial(jax.jit, static_argnums=(1, 2, 3))  # op by op, XLA would not fuse floats * scale + lo as JAX's does
def uniform(k: Array, shape: tuple[int, ...], minval: float, maxval: float = 1.0) -> Array:
    """`jax.random.uniform(k, shape, float32, minval, maxval)`: element i (row-major) hashes the counter pair
    (0, i), its two words xor-ed; 23 of the bits fill a mantissa in [1, 2), shifted and scaled to [minval, maxval)."""
    n = int(np.prod(shape))
    if n >= 2**32:
        raise ValueError(f"at most 2^32 uniforms a call, got shape {shape}")
    counts = lax.iota(jnp.uint32, n).reshape(shape)
    b0, b1 = threefry2x32(k[0], k[1], jnp.zeros_like(counts), counts)
    return _to_unit(b0 ^ b1, minval, maxval)


def _to_unit(bits: Array, minval: float, maxval: float) -> Array:
    mantissa = lax.shift_right_logical(bits, np.uint32(32 - 23)) | _ONE_BITS
    floats = lax.bitcast_convert_type(mantissa, jnp.float32) - jnp.float32(1.0)
    lo, hi = jnp.float32(minval), jnp.float32(maxval)
    return lax.max(lo, floats * (hi - lo) + lo)


def draw(k: Array, shapes: list[tuple[int, ...]], minval: float) -> list[Array]:
    """The JAX driver's `draw` (array m from `uniform(fold_in(k, m), shape_m, minval)`), bit for bit, in one hash:
    every array's counters and keys laid end to end, so the rounds appear once in the program however many arrays
    there are, and the uniforms are materialised once behind an optimisation barrier before they are sliced
    apart (without it XLA fuses the hash into each consumer). Call it inside jit: op by op, the float scaling
    would round apart from `jax.random`'s fused one."""
    sizes = [int(np.prod(s)) for s in shapes]
    if sum(sizes) >= 2**32:
        raise ValueError(f"at most 2^32 uniforms a call, got shapes {shapes}")
    keys = [fold_in(k, m) for m in range(len(shapes))]
    k0 = jnp.concatenate([jnp.broadcast_to(km[0], (n,)) for km, n in zip(keys, sizes, strict=True)])
    k1 = jnp.concatenate([jnp.broadcast_to(km[1], (n,)) for km, n in zip(keys, sizes, strict=True)])
    counts = jnp.concatenate([lax.iota(jnp.uint32, n) for n in sizes])
    b0, b1 = threefry2x32(k0, k1, jnp.zeros_like(counts), counts)
    u = lax.optimization_barrier(_to_unit(b0 ^ b1, minval, 1.0))
    starts = np.cumsum([0, *sizes])
    return [u[a:b].reshape(s) for a, b, s in zip(starts[:-1], starts[1:], shapes, strict=True)]
