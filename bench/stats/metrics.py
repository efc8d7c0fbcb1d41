"""Metrics of gradient estimates with standard errors, from streamed moments. NumPy only, backend-neutral.

For R estimate rows g (covariance S per row, mean mu) against a truth t (exact, or a reference estimate
t^ with covariance C_t of its mean), per parameter group:

  variance  tr(S), the sample covariance's trace. SE: batch means (the within-batch variances of K
            consecutive batches), or across clusters (independently trained control-variate states).
  bias_sq   ||mu - t||^2, estimated without bias as ||g_bar - t^||^2 - tr(S)/R - tr(C_t). Its variance is
            4 d'Cd + 2 tr(C^2), C = S/R + C_t, d = mu - t: the full-covariance expression, computed without
            any P x P matrix from the K x K Gram matrix of the batch means; tr(S^2) is estimated without bias
            (Srivastava 2005, from K - 1 degrees of freedom). Its stored SE is the one under no bias,
            sqrt(2 tr(C^2)): bias_sq / SE is the z-test of unbiasedness (Chen & Qin 2010 in spirit).
  bias      sqrt(max(bias_sq, 0)); SE: the one-SE interval of bias_sq mapped through sqrt, with d'Cd estimated
            as d^'Cd^ - tr(C^2) (right for a bias well above the noise, conservative near zero).
  mse       E||g - t||^2 = mean ||g - t^||^2 - tr(C_t); SE: batch means plus the truth's share.
  snr       ||mu|| / sqrt(tr S) with ||mu||^2 estimated like bias_sq (Rainforth et al. 2018, per group).
  cosine    E cos(g, t); SE: batch means plus the truth's share (delta method, d E cos / d t).

Batch-mean standard errors have K - 1 degrees of freedom (K ~ 100 by default, so +-1.96 SE is a 95%
interval within a few tenths of a percent); with clusters, one less than the number of clusters.
Tested by coverage in tests/test_metrics.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.stats.moments import Moments

METRICS = ("bias", "bias_sq", "variance", "mse", "snr", "cosine")


@dataclass(frozen=True)
class Truth:
    """A true gradient [P] (parameters concatenated), exact (n == 0) or the mean of n reference estimates whose
    batch deviations sqrt(n_k) (batch mean - mean) are the rows of `dev` [K_t, P] (float32 is enough)."""

    mean: np.ndarray
    dev: np.ndarray | None = None
    n: int = 0
    se: np.ndarray | None = None  # per-coordinate standard error (reporting)

    @property
    def exact(self) -> bool:
        return self.n == 0 or self.dev is None


def _level_se(values: np.ndarray, weights: np.ndarray) -> float:
    """SE of the weighted mean of independent level estimates (batch or cluster means)."""
    k = len(values)
    if k < 2:
        return float("nan")
    w = weights / weights.sum()
    mean = float(w @ values)
    return float(np.sqrt(k / (k - 1) * np.sum(w**2 * (values - mean) ** 2)))


def _tr_sq(gram: np.ndarray) -> float:
    """Unbiased tr(S^2) from the Gram matrix of K rows whose outer products average to (K - 1) S (Gaussian)."""
    n = len(gram) - 1
    if n < 2:
        return float("nan")
    tr, tr2 = np.trace(gram) / n, float(np.sum(gram * gram)) / n**2
    return max(n * n / ((n - 1) * (n + 2)) * (tr2 - tr * tr / n), 0.0)


def _quadratic_var(dcd: float, tr_c2: float) -> float:
    """Var of ||x||^2 for x ~ (d, C): 4 d'Cd + 2 tr(C^2), with d'Cd estimated as x'Cx - tr(C^2) (its mean is
    d'Cd + tr(C^2)), clipped at 0. Right when d is well above the noise; near d = 0 the noise's alignment
    with C's leading directions makes it too large (conservative), so the test of d = 0 uses 2 tr(C^2) alone."""
    return 4 * max(dcd - tr_c2, 0.0) + 2 * tr_c2


def _sqrt_se(value: float, se: float) -> float:
    """Half-width of [value - se, value + se] mapped through sqrt(max(., 0))."""
    return 0.5 * (np.sqrt(max(value + se, 0.0)) - np.sqrt(max(value - se, 0.0)))


def _levels(m: Moments, per_batch: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-batch means -> (level means, level weights): batches, or clusters when there are several."""
    clusters = np.asarray(m.clusters)
    if len(np.unique(clusters)) < 2:
        return per_batch, counts
    ids = np.unique(clusters)
    w = np.array([counts[clusters == c].sum() for c in ids])
    return np.array([counts[clusters == c] @ per_batch[clusters == c] / w[i] for i, c in enumerate(ids)]), w


COLUMNS = 16_384  # columns of the [batches, P] products formed at once: their memory stays ~batches x 128 KB


@dataclass
class _Products:
    """The [K, P]-sized products summarize needs, accumulated over blocks of columns so that no [K, P] matrix
    (batch means, their deviations, the truth's) is ever held whole: for P ~ 400 000 and K ~ 100 each would be
    300 MB, more than the rows' own chunks."""

    gram: np.ndarray  # y y'
    sq_means: np.ndarray  # per batch: ||batch mean||^2
    sq_level_means: np.ndarray  # per cluster: ||cluster mean||^2 (clusters only)
    xs_off: np.ndarray  # per batch: batch sum . off
    y_d: np.ndarray
    y_gbar: np.ndarray
    tt: float = 0.0  # sum of the truth's deviations squared
    yt_yt: np.ndarray | None = None
    y_yt: np.ndarray | None = None
    yt_d: np.ndarray | None = None
    yt_grad: np.ndarray | None = None


def _products(m: Moments, idx: np.ndarray, counts: np.ndarray, xbar: np.ndarray, vec: dict[str, np.ndarray],
              dev: np.ndarray | None, ids: np.ndarray, n_c: np.ndarray) -> _Products:
    k, clusters = len(counts), np.asarray(m.clusters)
    acc = _Products(np.zeros((k, k)), np.zeros(k), np.zeros(len(ids)), np.zeros(k), np.zeros(k), np.zeros(k))
    if dev is not None:
        nt = len(dev)
        acc.yt_yt, acc.y_yt, acc.yt_d, acc.yt_grad = np.zeros((nt, nt)), np.zeros((k, nt)), np.zeros(nt), np.zeros(nt)
    for at in range(0, len(idx), COLUMNS):
        cols = idx[at:at + COLUMNS]
        b = slice(at, at + len(cols))
        xs = np.stack([s[cols] for s in m.sums])
        acc.xs_off += xs @ vec["off"][b]
        if len(ids) > 1:
            means = np.stack([xs[clusters == c].sum(0) for c in ids]) / n_c[:, None]
            acc.sq_level_means += np.einsum("ij,ij->i", means, means)
        y = xs / counts[:, None]
        acc.sq_means += np.einsum("ij,ij->i", y, y)
        y -= xbar[b]
        y *= np.sqrt(counts)[:, None]
        acc.gram += y @ y.T
        acc.y_d += y @ vec["d"][b]
        acc.y_gbar += y @ vec["g_bar"][b]
        if dev is not None:
            yt = np.asarray(dev[:, cols], np.float64)
            acc.tt += float(np.sum(yt * yt))
            acc.yt_yt += yt @ yt.T
            acc.y_yt += y @ yt.T
            acc.yt_d += yt @ vec["d"][b]
            acc.yt_grad += yt @ vec["grad"][b]
    return acc


def summarize(m: Moments, truth: Truth) -> dict[str, dict[str, tuple[float, float]]]:
    """{group: {metric: (value, standard error)}} for the rows streamed into `m` (shifted by m.shift)."""
    counts = np.asarray(m.counts, np.float64)
    r = counts.sum()
    sq, cos = np.stack(m.sq), np.stack(m.cos)
    offset = m.shift - np.asarray(truth.mean, np.float64).reshape(-1)  # rows are g - shift; d = mean - truth
    clusters = np.asarray(m.clusters)
    ids = np.unique(clusters)
    n_c = np.array([counts[clusters == c].sum() for c in ids])
    total = np.zeros(m.n_params)
    for s in m.sums:
        total += s
    out = {}
    for j, group in enumerate(m.groups):
        idx = m.coords(group)
        xbar = total[idx] / r
        variance = max((sq[:, j].sum() - r * xbar @ xbar) / (r - 1), 0.0) if r > 1 else float("nan")
        d = xbar + offset[idx]
        off = offset[idx]  # ||g - t||^2 = ||x||^2 + 2 x.(shift - t) + ||shift - t||^2, x = g - shift
        g_bar = xbar + m.shift[idx]
        cos_mean = float(cos[:, j].sum() / r)
        vec = {"d": d, "off": off, "g_bar": g_bar}
        if not truth.exact:
            t = np.asarray(truth.mean, np.float64).reshape(-1)[idx]
            tn = np.sqrt(t @ t)
            vec["grad"] = m.unit[j, idx] / r / tn - cos_mean * t / tn**2
        p = _products(m, idx, counts, xbar, vec, None if truth.exact else truth.dev, ids, n_c)
        k = len(counts)
        tr_s2 = _tr_sq(p.gram)

        # the variance's SE: within-batch (or within-cluster) variances as level estimates
        if len(ids) < 2:
            within = (sq[:, j] - counts * p.sq_means) / np.maximum(counts - 1, 1)
            var_se = _level_se(within[counts > 1], counts[counts > 1])
        else:
            within = (np.array([sq[clusters == c, j].sum() for c in ids]) - n_c * p.sq_level_means) / (n_c - 1)
            var_se = _level_se(within, n_c)

        tr_ct = tr_ct2 = tr_sct = dctd = 0.0
        if not truth.exact:
            nt, rt = len(truth.dev) - 1, float(truth.n)
            tr_ct = p.tt / nt / rt
            tr_ct2 = _tr_sq(p.yt_yt) / rt**2
            tr_sct = float(np.sum(p.y_yt**2)) / ((k - 1) * nt) / (r * rt) if k > 1 else float("nan")
            dctd = float(np.sum(p.yt_d**2)) / nt / rt
        dsd = float(np.sum(p.y_d**2)) / (k - 1) / r if k > 1 else float("nan")
        tr_c2 = tr_s2 / r**2 + 2 * tr_sct + tr_ct2
        bias_sq = float(d @ d - variance / r - tr_ct)
        bias_sq_se = float(np.sqrt(_quadratic_var(dsd + dctd, tr_c2)))

        sq_levels, level_w = _levels(m, (sq[:, j] + 2 * p.xs_off) / counts + off @ off, counts)
        mse = float(sq[:, j].sum() / r + 2 * xbar @ off + off @ off - tr_ct)
        mse_se = float(np.sqrt(_level_se(sq_levels, level_w) ** 2 + _quadratic_var(dctd, tr_ct2)))

        signal = float(g_bar @ g_bar - variance / r)
        signal_se = float(np.sqrt(_quadratic_var(float(np.sum(p.y_gbar**2)) / max(k - 1, 1) / r, tr_s2 / r**2)))
        if variance > 0:
            snr = float(np.sqrt(max(signal, 0.0) / variance))
            snr_se = float(np.hypot(_sqrt_se(signal, signal_se) / np.sqrt(variance), snr * var_se / (2 * variance)))
        else:
            snr, snr_se = float("inf"), float("nan")

        cos_se = _level_se(_levels(m, cos[:, j] / counts, counts)[0], level_w)
        if not truth.exact:
            cos_se = float(np.hypot(cos_se, np.sqrt(np.sum(p.yt_grad**2) / nt / rt)))

        out[group] = {
            "bias": (float(np.sqrt(max(bias_sq, 0.0))), _sqrt_se(bias_sq, bias_sq_se)),
            "bias_sq": (bias_sq, float(np.sqrt(2 * tr_c2))),
            "variance": (float(variance), var_se),
            "mse": (mse, mse_se),
            "snr": (snr, snr_se),
            "cosine": (cos_mean, cos_se),
        }
    return out


def summarize_rows(rows: np.ndarray, truth: np.ndarray | Truth, groups: dict[str, list[int]] | None = None,
                   batches: int = 100, clusters: np.ndarray | None = None) -> dict[str, dict[str, tuple]]:
    """summarize() for rows held in memory [R, P] (tests, small problems); groups map names to column lists
    of single-column 'parameters'. Without groups, one group 'all'."""
    rows = np.asarray(rows).reshape(len(rows), -1)
    truth = truth if isinstance(truth, Truth) else Truth(np.asarray(truth, np.float64).reshape(-1))
    p = rows.shape[1]
    params = {f"c{i}": 1 for i in range(p)}
    names = list(params)
    groups = groups or {"all": list(range(p))}
    m = Moments(params, {g: [names[i] for i in cols] for g, cols in groups.items()},
                batch_rows=batch_rows(len(rows), batches), truth=truth.mean)
    if clusters is None:
        m.add(rows)
    else:
        for c in np.unique(clusters):
            m.add(rows[clusters == c], cluster=int(c))
    return summarize(m, truth)


def batch_rows(n_rows: int, batches: int = 100) -> int:
    """Rows per batch so that n_rows make about `batches` batches (at least 2 rows each)."""
    return max(2, int(np.ceil(n_rows / batches)))
