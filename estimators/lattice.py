"""Backend-neutral offsets of a randomly shifted Kronecker lattice, which turn one uniform array into k.

Point j of a d-dimensional lattice shifted by u ~ U[0, 1)^d is frac(u + j alpha): each point alone is exactly
U[0, 1)^d (a shift of a uniform), while together the k points cover the cube evenly, better than k independent
draws (randomised quasi-Monte Carlo). alpha is the R_d sequence's generator (Roberts 2018): alpha_c = phi_d^-c,
phi_d the positive root of x^(d+1) = x + 1 (the golden ratio for d = 1), whose lattice stays even in every
dimension. gumbel-rao draws its k conditional Gumbels this way from one extra uniform array.
"""

from __future__ import annotations

import numpy as np


def offsets(k: int, dim: int) -> np.ndarray:
    """[k, dim] float32: j * alpha mod 1 for j = 0 .. k - 1 (row 0 is zero: point 0 is the uniform itself)."""
    phi = 2.0
    for _ in range(100):  # fixed point of x = (1 + x)^(1 / (d + 1)), a contraction
        phi = (1.0 + phi) ** (1.0 / (dim + 1))
    alpha = phi ** -np.arange(1, dim + 1, dtype=np.float64) % 1.0
    return (np.arange(k, dtype=np.float64)[:, None] * alpha % 1.0).astype(np.float32)
