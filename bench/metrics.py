"""Backend-neutral statistics of gradient estimates, each with a standard error. NumPy only.

Given R estimate rows G [R, P] and a truth g (with its own standard error s_g, zero when exact):
  variance  trace of the covariance of G
  bias      ||E G - g||, corrected for the Monte Carlo noise floor: ||mean - g||^2 overestimates the squared
            bias by trace(Cov)/R + ||s_g||^2, which is subtracted (clipped at 0), so an unbiased estimator
            reports a bias consistent with zero
  mse       E ||G - g||^2
  snr       ||E G|| / sqrt(variance)       (Rainforth et al. 2018, per group)
  cosine    E cos(G, g)
"""

from __future__ import annotations

import numpy as np

METRICS = ("bias", "variance", "mse", "snr", "cosine")


def summarize(rows: np.ndarray, truth: np.ndarray,
              truth_se: np.ndarray | None = None) -> dict[str, tuple[float, float]]:
    """{metric: (value, standard error)} for estimate rows [R, ...] against truth [...]."""
    g = rows.reshape(len(rows), -1).astype(np.float64)
    t = np.asarray(truth, np.float64).reshape(-1)
    t_coord_var = np.zeros_like(t) if truth_se is None else np.asarray(truth_se, np.float64).reshape(-1) ** 2
    t_var = float(t_coord_var.sum())
    n = len(g)
    mean = g.mean(0)
    centred = g - mean
    per_row_var = (centred**2).sum(1)
    coord_var = centred.var(0, ddof=1) if n > 1 else np.zeros_like(mean)
    variance, variance_se = float(per_row_var.mean() * n / max(n - 1, 1)), _se(per_row_var)

    d = mean - t
    b2 = float(d @ d) - float(coord_var.sum()) / n - t_var
    b2_se = float(np.sqrt(np.sum(4 * d**2 * (coord_var / n + t_coord_var) + 2 * coord_var**2 / n**2)))
    bias = float(np.sqrt(max(b2, 0.0)))
    bias_se = b2_se / (2 * bias) if bias > np.sqrt(b2_se) else float(np.sqrt(b2_se))

    sq_err = ((g - t) ** 2).sum(1)
    norm_mean = float(np.linalg.norm(mean))
    snr = norm_mean / np.sqrt(variance) if variance > 0 else float("inf")
    rel_mean_se = np.sqrt(variance / n) / max(norm_mean, 1e-300)
    snr_se = snr * float(np.hypot(rel_mean_se, variance_se / max(2 * variance, 1e-300)))

    t_norm = np.linalg.norm(t)
    cos = (g @ t) / np.maximum(np.linalg.norm(g, axis=1) * t_norm, 1e-300)
    return {
        "bias": (bias, bias_se),
        "variance": (variance, variance_se),
        "mse": (float(sq_err.mean()), _se(sq_err)),
        "snr": (float(snr), float(snr_se) if np.isfinite(snr) else float("nan")),
        "cosine": (float(cos.mean()), _se(cos)),
    }


def _se(x: np.ndarray) -> float:
    return float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")
