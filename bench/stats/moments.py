"""Streaming sufficient statistics of gradient estimates: rows arrive in chunks and are reduced on the fly.

Memory is O(batches x parameters), never O(estimates x parameters): rows are split into consecutive batches
of `batch_rows` rows, and each batch keeps, in float64,
  - the sum of its rows (a [P] vector; the batch means give covariance information without a P x P matrix),
  - per parameter group: the sum of ||g - shift||^2 and of cos(g, t),
and the whole stream keeps per-coordinate sums of squares and, per group, sum(g / ||g||) (the derivative
of the mean cosine with respect to the truth, for the truth's share of the cosine's standard error).
Rows are accumulated as g - shift (the truth, or a pilot mean), so sums of squares do not cancel.

A batch never spans two clusters: a cluster is a set of rows that share something random, such as one
independently trained control-variate state, and the standard errors of linear metrics are then taken
across clusters rather than batches (bench.metrics).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

BLOCK_BYTES = 64 * 2**20  # float64 working set per block of rows inside `add`


class Moments:
    """Per-batch sums of gradient rows [n, P] against a truth t (for cosines) and a shift (for precision).

    `params` maps parameter names to their sizes, in the order the columns of the rows follow; `groups`
    maps a group name to the parameter names it holds (every group is reported separately).
    """

    def __init__(self, params: Mapping[str, int], groups: Mapping[str, list[str]], batch_rows: int,
                 truth: np.ndarray, shift: np.ndarray | None = None) -> None:
        self.names = list(params)
        sizes = np.array([params[k] for k in self.names])
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.n_params = int(self.offsets[-1])
        self.groups = {g: [self.names.index(k) for k in keys] for g, keys in groups.items()}
        # params x groups indicator: per-parameter partial sums -> per-group sums by one small matmul
        self.member = np.zeros((len(self.names), len(self.groups)))
        for j, idx in enumerate(self.groups.values()):
            self.member[idx, j] = 1.0
        self._cols = [self.coords(g) for g in self.groups]
        self.batch_rows = max(1, int(batch_rows))
        self.truth = np.asarray(truth, np.float64).reshape(-1)
        self.shift = self.truth.copy() if shift is None else np.asarray(shift, np.float64).reshape(-1)
        if self.truth.size != self.n_params or self.shift.size != self.n_params:
            raise ValueError(f"truth/shift have {self.truth.size}/{self.shift.size} values for {self.n_params} "
                             "parameters")
        self.sums: list[np.ndarray] = []
        self.counts: list[int] = []
        self.clusters: list[int] = []
        self.sq: list[np.ndarray] = []
        self.cos: list[np.ndarray] = []
        self.coord_sq = np.zeros(self.n_params)
        self.unit = np.zeros((len(self.groups), self.n_params))  # row j: sum of g / ||g||_group j, group's coords
        t = self.truth
        self.truth_norm = np.sqrt(self._per_group((t * t)[None]))[0]

    @property
    def n_rows(self) -> int:
        return int(sum(self.counts))

    def _per_param(self, x: np.ndarray) -> np.ndarray:
        """[n, P] -> [n, params]: sums over each parameter's columns."""
        return np.add.reduceat(x, self.offsets[:-1], axis=1)

    def _per_group(self, x: np.ndarray) -> np.ndarray:
        return self._per_param(x) @ self.member

    def add(self, rows: np.ndarray, cluster: int = 0) -> None:
        """Accumulate rows [n, P] (any float dtype); they start a new batch when the cluster changes."""
        rows = np.asarray(rows).reshape(len(rows), -1)
        if rows.shape[1] != self.n_params:
            raise ValueError(f"rows have {rows.shape[1]} columns, expected {self.n_params}")
        block = max(1, BLOCK_BYTES // (8 * max(self.n_params, 1)))
        for start in range(0, len(rows), block):
            self._add_block(rows[start:start + block], cluster)

    def _open_batch(self, cluster: int) -> None:
        self.sums.append(np.zeros(self.n_params))
        self.counts.append(0)
        self.clusters.append(cluster)
        self.sq.append(np.zeros(len(self.groups)))
        self.cos.append(np.zeros(len(self.groups)))

    def _add_block(self, rows: np.ndarray, cluster: int) -> None:
        x = rows.astype(np.float64) - self.shift
        g_dot_t = self._per_param(x * self.truth) + self._per_param((self.shift * self.truth)[None])
        x2 = x * x
        self.coord_sq += x2.sum(0)
        sq = self._per_param(x2) @ self.member
        g = x + self.shift
        g_norm = np.sqrt(self._per_group(g * g))
        with np.errstate(invalid="ignore", divide="ignore"):
            cos = np.where(g_norm > 0, (g_dot_t @ self.member) / (g_norm * self.truth_norm), 0.0)
            inv = np.where(g_norm > 0, 1.0 / g_norm, 0.0)
        for j, cols in enumerate(self._cols):
            self.unit[j, cols] += inv[:, j] @ g[:, cols]
        start = 0
        while start < len(x):
            if not self.counts or self.counts[-1] >= self.batch_rows or self.clusters[-1] != cluster:
                self._open_batch(cluster)
            take = min(self.batch_rows - self.counts[-1], len(x) - start)
            part = slice(start, start + take)
            self.sums[-1] += x[part].sum(0)
            self.sq[-1] += sq[part].sum(0)
            self.cos[-1] += cos[part].sum(0)
            self.counts[-1] += take
            start += take

    def compact(self, max_batches: int) -> None:
        """Merge consecutive batches of a cluster (in place) until at most about max_batches remain."""
        factor = int(np.ceil(len(self.counts) / max_batches))
        if factor <= 1:
            return
        merged: tuple[list, ...] = ([], [], [], [], [])
        i = 0
        while i < len(self.counts):
            j = i
            while j < len(self.counts) and j - i < factor and self.clusters[j] == self.clusters[i]:
                j += 1
            for out, src in zip(merged, (self.sums, self.counts, self.sq, self.cos)):
                out.append(np.sum(src[i:j], 0))
            merged[4].append(self.clusters[i])
            i = j
        self.sums, counts, self.sq, self.cos, self.clusters = merged
        self.counts = [int(c) for c in counts]
        self.batch_rows *= factor

    def coords(self, group: str) -> np.ndarray:
        """Column indices of a group's coordinates."""
        return np.concatenate([np.arange(self.offsets[p], self.offsets[p + 1]) for p in self.groups[group]])
