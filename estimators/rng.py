"""Randomness as one object (as Keras 3's `SeedGenerator` hides each backend's randomness from its callers).

A cell's uniforms are fixed by (seed, stream) and the row they belong to. Rows come in blocks of BLOCK: block b's
uniforms for noise array m are drawn from a generator (torch) or key (JAX) made from (seed, stream, b, m) alone,
so a row's estimate is the same whatever chunks its rows are computed in, and any row can be recomputed (in
another path, or another backend, given its uniforms). One key or generator per block of rows and noise array
replaces a key per row: JAX's threefry derives 3 keys per block instead of 2 per row (about 60 us per call on
the chain), torch seeds one generator per block.

Streams keep a cell's independent uses apart: the estimates (0), and the training of each of its states
(`warm_up_stream`). Callers never see a generator or a key: drivers turn an `Rng` into uniforms.
"""

from __future__ import annotations

from dataclasses import dataclass

BLOCK = 64  # rows per random block: fixed, so rows never depend on chunking (recorded in each file's metadata)
SCHEME = f"one generator (torch) or threefry key (JAX) per block of {BLOCK} rows and noise array"


@dataclass(frozen=True)
class Rng:
    """The randomness of one cell: a seed and a stream. Rows r of a chunk draw from block r // BLOCK."""

    seed: int
    stream: int = 0

    def __post_init__(self) -> None:
        if not (0 <= int(self.seed) < 2**31 and 0 <= int(self.stream) < 2**31):
            raise ValueError(f"seed and stream must be integers in [0, 2^31), got {self.seed}, {self.stream}")

    def stream_of(self, stream: int) -> Rng:
        return Rng(self.seed, stream)

    def block_seed(self, block: int, array: int) -> int:
        """A 63-bit seed for one block of rows and one noise array (torch generators): splitmix64 over the four
        numbers, so nearby blocks and arrays get unrelated generators."""
        h = 0
        for part in (self.seed, self.stream, block, array):
            h = _splitmix64((h ^ int(part)) & _MASK)
        return h >> 1


_MASK = 2**64 - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def blocks(start: int, n: int) -> range:
    """The blocks holding rows start .. start + n - 1."""
    return range(start // BLOCK, -(-(start + n) // BLOCK))


def warm_up_stream(state_index: int) -> int:
    """The stream a cell's state_index-th trained (or adapted) state draws its warm-up noise from."""
    return 1 + state_index
