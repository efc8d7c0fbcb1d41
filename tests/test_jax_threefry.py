"""benchmarks/jax_threefry.py computes jax.random's threefry uniforms, bit for bit (the candidate for the JAX
driver's draws: any difference from jax.random would silently change every JAX cell's draws once it is used).
Equality is checked on the raw bits, jitted and not, over seeds, folded data up to 2^32 - 1, odd and
many-dimensional shapes, and a lower bound whose scaling rounds (1e-3)."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = jax.numpy

from benchmarks import jax_threefry as jax_random  # noqa: E402
from estimators.rng import BLOCK  # noqa: E402

TINY = float(np.finfo(np.float32).tiny)
SEEDS = (0, 1, 20_261_203, 2**31 - 1)
SHAPES = ((1,), (3,), (64, 200), (2, 64, 7), (1, 1, 64, 100), (5, 3, 1))


def bits(a: object) -> np.ndarray:
    return np.asarray(a).view(np.uint32)


@pytest.mark.parametrize("seed", SEEDS)
def test_keys_and_folds_are_jax_randoms(seed):
    assert (bits(jax_random.key(seed)) == bits(jax.random.PRNGKey(seed))).all()
    for data in (0, 1, 7, BLOCK, 2**31 - 1, 2**32 - 1):
        ours = jax_random.fold_in(jax_random.key(seed), data)
        assert (bits(ours) == bits(jax.random.fold_in(jax.random.PRNGKey(seed), data))).all(), data
        assert (bits(jax.jit(jax_random.fold_in)(jax_random.key(seed), jnp.uint32(data))) == bits(ours)).all()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("minval", (TINY, 1e-3, 0.0))
def test_uniforms_are_jax_randoms(shape, minval):
    for seed in SEEDS:
        key = jax.random.fold_in(jax.random.PRNGKey(seed), 5)
        theirs = bits(jax.random.uniform(key, shape, jnp.float32, minval=minval, maxval=1.0))
        assert (bits(jax_random.uniform(key, shape, minval)) == theirs).all(), seed
        # inside a larger compiled function, where XLA fuses the uniforms with what follows
        fused = jax.jit(lambda k: jax_random.uniform(k, shape, minval) * 2.0)(key)
        assert (np.asarray(fused) == np.asarray(jnp.asarray(theirs.view(np.float32)) * 2.0)).all(), seed


def test_the_drivers_block_uniforms_are_its_composition():
    """The JAX driver's draws of block b, array m, stream s: fold_in(fold_in(fold_in(key(seed), s), b), m), so the
    driver could switch to this module without changing one draw."""
    from estimators.backends.jax import Driver, draw
    from estimators.rng import Rng

    shapes = [(1, 1, BLOCK, 100), (1, 2, BLOCK, 3)]
    for seed, stream, block in ((0, 0, 0), (12_345, 2, 7), (2**31 - 1, 1, 2**20)):
        theirs = draw(jax.random.fold_in(Driver._key(Rng(seed, stream)), block), shapes, TINY)
        base = jax_random.fold_in(jax_random.fold_in(jax_random.key(seed), stream), block)
        for m, (a, s) in enumerate(zip(theirs, shapes, strict=True)):
            ours = jax_random.uniform(jax_random.fold_in(base, m), s, TINY)
            assert (bits(ours) == bits(a)).all(), (seed, stream, block, m)


@pytest.mark.parametrize("shapes", ([(1, 1, 64, 1)] * 28, [(1, 1, 64, 100), (1, 2, 64, 3), (3,)]))
def test_one_hash_for_every_array_draws_what_the_driver_draws(shapes):
    """`draw` lays every array's counters end to end (28 small arrays: the skip RNN's gates); each array is still
    the driver's, bit for bit."""
    from estimators.backends.jax import draw

    for seed, minval in ((0, TINY), (12_345, 1e-3)):
        key = jax.random.fold_in(jax.random.PRNGKey(seed), 9)
        theirs = jax.jit(lambda k, minval=minval: draw(k, shapes, minval))(key)
        ours = jax.jit(lambda k, minval=minval: jax_random.draw(k, shapes, minval))(key)
        for a, b in zip(ours, theirs, strict=True):
            assert (bits(a) == bits(b)).all(), seed
