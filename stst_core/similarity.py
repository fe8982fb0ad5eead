"""Similarity of representations: linear CKA, RSA and paired pattern correlation, with bootstrap intervals.

Everything here works on *stimulus × stimulus* Gram matrices ``G = X Xᵀ`` of
raw (uncentred) feature vectors, together with each row's feature sum and the
number of features. That is all these measures need, it can be accumulated by
streaming features in blocks (:func:`accumulate_gram`), and bootstrapping over
stimuli only re-indexes it.

Formulas (n stimuli, p features, ``H = I − 11ᵀ/n`` the centring matrix):

linear CKA (Kornblith et al. 2019)
    ``CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) · HSIC(L, L))`` with linear
    kernels ``K = XXᵀ``, ``L = YYᵀ`` and ``HSIC(K, L) = tr(KHLH)`` (the 1/(n−1)²
    factors cancel). Invariant to orthogonal transforms and isotropic scaling of
    either representation; 1 for identical representations.
debiased linear CKA (Song et al. 2012; Nguyen, Raghu & Kornblith 2021)
    the same ratio with the unbiased estimator
    ``HSIC₁(K, L) = [tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1/((n−1)(n−2)) − 2/(n−2)·1ᵀK̃L̃1] / (n(n−3))``,
    ``K̃`` being K with its diagonal set to zero (needs n ≥ 4). Close to 0 for
    independent representations, where the biased estimator is not.
RSA (Kriegeskorte et al. 2008)
    a representational dissimilarity matrix per representation — ``1 − r``
    (Pearson correlation between two stimuli's feature vectors) or the
    Euclidean distance — compared over its upper triangle by Spearman's ρ,
    Kendall's τ_a (O(m log m) for m entries; equal to rsatoolbox's) or
    Pearson's r.
paired pattern correlation
    for paired stimuli (a natural video and its metamer), the Pearson
    correlation of their feature vectors, averaged over the pairs.
bootstrap confidence interval
    stimuli (pairs) resampled with replacement, the statistic recomputed each
    time; the percentile interval. What does not depend on the resample is
    computed once (:func:`similarity_of_resamples`): for RSA the RDMs and the
    sorting of their entries, which a resample only re-weights, leaving out
    the entries between a stimulus and its own copy as rsatoolbox does
    (:class:`RDMComparison`).
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from ._errors import STSTError

METRICS = ("cka", "rsa", "paired-corr")
RDM_METRICS = ("correlation", "euclidean")
RDM_COMPARISONS = ("spearman", "kendall", "pearson")


class GramStatistics:
    """``G = X Xᵀ``, the row sums of X and the feature count p, for a set of stimuli (rows)."""

    def __init__(self, gram: np.ndarray, sums: np.ndarray, features: int):
        self.gram = np.asarray(gram, dtype=np.float64)
        self.sums = np.asarray(sums, dtype=np.float64)
        self.features = int(features)

    @classmethod
    def of(cls, x: np.ndarray) -> "GramStatistics":
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        return cls(x @ x.T, x.sum(axis=1), x.shape[1])

    def subset(self, rows) -> "GramStatistics":
        rows = np.asarray(rows)
        return GramStatistics(self.gram[np.ix_(rows, rows)], self.sums[rows], self.features)


def accumulate_gram(blocks: Iterable[np.ndarray]) -> GramStatistics:
    """Gram statistics of rows whose features arrive in column blocks ``(n, p_i)``."""
    gram = sums = None
    features = 0
    for block in blocks:
        block = np.asarray(block, dtype=np.float64)
        gram = block @ block.T if gram is None else gram + block @ block.T
        sums = block.sum(axis=1) if sums is None else sums + block.sum(axis=1)
        features += block.shape[1]
    if gram is None:
        raise STSTError("no features to compare")
    return GramStatistics(gram, sums, features)


def center(gram: np.ndarray) -> np.ndarray:
    """``H G H``: the Gram matrix of column-centred features."""
    row = gram.mean(axis=0, keepdims=True)
    return gram - row - row.T + gram.mean()


def _hsic_unbiased(k: np.ndarray, l: np.ndarray) -> float:
    n = len(k)
    k = k - np.diag(np.diag(k))
    l = l - np.diag(np.diag(l))
    ones_k, ones_l = k.sum(axis=0), l.sum(axis=0)
    value = np.sum(k * l) + ones_k.sum() * ones_l.sum() / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * ones_k @ ones_l
    return value / (n * (n - 3))


def cka_from_grams(k: np.ndarray, l: np.ndarray, *, debiased: bool = False) -> float:
    """Linear CKA from the (uncentred) Gram matrices of two representations of the same stimuli."""
    n = len(k)
    if debiased:
        if n < 4:
            raise STSTError(f"debiased CKA needs at least 4 stimuli; got {n}")
        # the unbiased estimator centres implicitly; centring first leaves it unchanged
        kc, lc = center(k), center(l)
        denominator = np.sqrt(_hsic_unbiased(kc, kc) * _hsic_unbiased(lc, lc))
        return float(_hsic_unbiased(kc, lc) / denominator) if denominator > 0 else float("nan")
    if n < 2:
        raise STSTError(f"CKA needs at least 2 stimuli; got {n}")
    kc, lc = center(k), center(l)
    denominator = np.sqrt(np.sum(kc * kc) * np.sum(lc * lc))
    # identical stimuli centre to rounding noise, whose "alignment" is anything in [-1, 1]: undefined instead
    scale = np.sqrt(np.sum(k * k) * np.sum(l * l))
    return float(np.sum(kc * lc) / denominator) if denominator > 1e-12 * scale else float("nan")


def linear_cka(x: np.ndarray, y: np.ndarray, *, debiased: bool = False) -> float:
    """Linear CKA between feature matrices ``x (n, p)`` and ``y (n, q)`` of the same n stimuli.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(10, 5))
    >>> round(linear_cka(x, 3 * x), 6)
    1.0
    """
    if len(x) != len(y):
        raise STSTError(f"CKA compares representations of the same stimuli; got {len(x)} and {len(y)} rows")
    return cka_from_grams(GramStatistics.of(x).gram, GramStatistics.of(y).gram, debiased=debiased)


def rdm_from_gram(stats: GramStatistics, metric: str = "correlation") -> np.ndarray:
    """Dissimilarity matrix: ``1 − Pearson r`` (``correlation``) or Euclidean distance between rows."""
    if metric not in RDM_METRICS:
        raise STSTError(f"RDM metric must be one of {', '.join(RDM_METRICS)}; got {metric!r}")
    g, p = stats.gram, stats.features
    if metric == "euclidean":
        squared = np.diag(g)[:, None] + np.diag(g)[None, :] - 2 * g
        return np.sqrt(np.clip(squared, 0, None))
    mean = stats.sums / p
    covariance = g / p - np.outer(mean, mean)
    std = np.sqrt(np.clip(np.diag(covariance), 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = covariance / np.outer(std, std)
    return 1.0 - correlation


def rdm(x: np.ndarray, metric: str = "correlation") -> np.ndarray:
    """The RDM of feature matrix ``x (n, p)``."""
    return rdm_from_gram(GramStatistics.of(x), metric)


def _dense_ranks(values: np.ndarray) -> np.ndarray:
    """0, 1, 2… in increasing order of ``values``; equal values share a rank."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.intp)
    ranks[order] = np.concatenate([[0], np.cumsum(values[order][1:] != values[order][:-1])]) if len(values) else []
    return ranks


class _Groups:
    """Entries grouped by equal keys, for summing their weights per group."""

    def __init__(self, keys: np.ndarray):
        self.order = np.argsort(keys, kind="stable")
        ordered = keys[self.order]
        self.starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))

    def sums(self, weights: np.ndarray) -> np.ndarray:
        """``(groups, k)`` sums of ``weights (m, k)``."""
        return np.add.reduceat(weights[self.order], self.starts, axis=0)

    def tied_pairs(self, weights: np.ndarray) -> np.ndarray:
        """How many pairs of the (repeated) entries fall into one group, for each column of ``weights``."""
        # no two keys equal (RDMs of real data): each group is one entry, in whatever order
        sums = (weights if len(self.starts) == len(self.order) else self.sums(weights)).astype(np.int64)
        return (sums * (sums - 1) // 2).sum(axis=0)


class _KendallTauA:
    """Kendall's τ_a of ``x`` and ``y`` whose entries are repeated ``w`` times, for many weight vectors at once.

    τ_a = (concordant − discordant) / n₀ with n₀ = M(M−1)/2 pairs of the M
    entries; with the pairs tied in x (n₁), in y (n₂) and in both (n₃),
    concordant − discordant = n₀ − n₁ − n₂ + n₃ − 2·discordant (the identity
    rsatoolbox and scipy's τ_b use). Discordant pairs are the inversions of y
    once the entries are sorted by x and then y, counted as in a bottom-up
    merge sort (Knight 1966): at level ``width``, each block of ``2·width``
    positions adds, for every entry of its right half, the weight of the
    entries of its left half with a larger y. The order within each block does
    not depend on the weights, so it is sorted once, here; a weight vector
    then costs O(m log m) additions and no sorting, which is what resampling
    needs. Integer arithmetic throughout: the counts are exact.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray):
        rank_x, rank_y = _dense_ranks(x), _dense_ranks(y)
        self.order = np.lexsort((rank_y, rank_x))
        rank_x, rank_y = rank_x[self.order], rank_y[self.order]
        m, top = len(rank_y), int(rank_y.max(initial=0)) + 1
        self.x_ties, self.y_ties = _Groups(rank_x), _Groups(rank_y)
        self.joint_ties = _Groups(rank_x * top + rank_y)
        position = perm = np.arange(m)
        self.levels = []
        width = 1
        while width < m:
            block = position // (2 * width)
            right = (position // width) % 2 == 1
            # within a block: larger y first, and of equal y the right half's entries first (equal y is no inversion);
            # the last level's order holds both halves sorted already, and a stable sort (timsort) merges such runs fast
            key = block * (2 * top) + 2 * (top - 1 - rank_y) + ~right
            perm = perm[np.argsort(key[perm], kind="stable")]
            right = right[perm]
            lefts_before = np.cumsum(~right) - ~right  # left-half entries earlier in this order
            block_start = block[perm][right] * 2 * width
            self.levels.append((perm[~right], perm[right], lefts_before[right], lefts_before[block_start]))
            width *= 2

    def __call__(self, weights: np.ndarray) -> np.ndarray:
        """τ_a for each column of ``weights`` (m, k): how often each entry is repeated."""
        w = weights[self.order]
        total = w.sum(axis=0, dtype=np.int64)
        # int32 halves the memory traffic; every partial sum is below total², so it is exact where that fits
        w = w.astype(np.int32 if int(total.max(initial=0)) ** 2 < 2**31 else np.int64)
        discordant = np.zeros(w.shape[1], dtype=np.int64)
        zero = np.zeros((1, w.shape[1]), dtype=w.dtype)
        for lefts, rights, lefts_before, lefts_before_block in self.levels:
            cumulative = np.concatenate([zero, np.cumsum(w[lefts], axis=0)])
            discordant += np.einsum("ij,ij->j", w[rights], cumulative[lefts_before] - cumulative[lefts_before_block])
        pairs = total * (total - 1) // 2
        difference = pairs - self.x_ties.tied_pairs(w) - self.y_ties.tied_pairs(w) + self.joint_ties.tied_pairs(w) - 2 * discordant
        with np.errstate(invalid="ignore", divide="ignore"):
            return difference / pairs


def _weighted_pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Pearson's r of ``x`` and ``y`` ((m, k), or (m, 1) for every column) with entry weights ``w`` (m, k)."""
    total = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        dx = x - (w * x).sum(axis=0) / total  # centred first: no cancellation in the moments
        dy = y - (w * y).sum(axis=0) / total
        return (w * dx * dy).sum(axis=0) / np.sqrt((w * dx * dx).sum(axis=0) * (w * dy * dy).sum(axis=0))


class _Midranks:
    """The ranks of entries repeated ``w`` times, ties sharing their mean rank (as :func:`scipy.stats.rankdata`)."""

    def __init__(self, values: np.ndarray):
        self.groups = _Groups(values)
        self.group = _dense_ranks(values)

    def __call__(self, w: np.ndarray) -> np.ndarray:
        sums = self.groups.sums(w)
        before = np.cumsum(sums, axis=0) - sums
        return (before + (sums + 1) / 2)[self.group]


class _Spearman:
    def __init__(self, x: np.ndarray, y: np.ndarray):
        self.x, self.y = _Midranks(x), _Midranks(y)

    def __call__(self, w: np.ndarray) -> np.ndarray:
        return _weighted_pearson(self.x(w), self.y(w), w)


class _Pearson:
    def __init__(self, x: np.ndarray, y: np.ndarray):
        self.x, self.y = x[:, None], y[:, None]

    def __call__(self, w: np.ndarray) -> np.ndarray:
        return _weighted_pearson(self.x, self.y, w)


_RDM_STATISTICS = {"kendall": _KendallTauA, "spearman": _Spearman, "pearson": _Pearson}


def kendall_tau_a(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's τ_a: (concordant − discordant pairs) / all pairs, ties counting as neither; O(n log n).

    The same value as rsatoolbox's ``compare_kendall_tau_a`` (and, without
    ties, as :func:`scipy.stats.kendalltau`).

    Examples
    --------
    >>> kendall_tau_a(np.array([1, 2, 3]), np.array([1, 3, 2]))  # (2 concordant − 1 discordant) / 3
    0.3333333333333333
    """
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if len(a) != len(b):
        raise STSTError(f"Kendall's tau compares paired values; got {len(a)} and {len(b)}")
    if len(a) < 2:
        return float("nan")
    return float(_KendallTauA(a, b)(np.ones((len(a), 1), dtype=np.int64))[0])


def _counts(samples: np.ndarray, n: int) -> np.ndarray:
    """``(n, k)``: how often each of ``range(n)`` occurs in each row of ``samples (k, s)``."""
    offsets = samples + n * np.arange(len(samples))[:, None]
    return np.bincount(offsets.ravel(), minlength=n * len(samples)).reshape(len(samples), n).T


class RDMComparison:
    """Two RDMs of the same stimuli compared over their upper triangles, for the stimuli and for resamples of them.

    Called with resamples ``samples (k, s)`` (indices of stimuli, with
    repetitions), it returns the k comparisons of the resampled RDMs without
    recomputing or even re-sorting them: a resample holds, for every two
    different stimuli i and j in it, their entry ``c_i·c_j`` times (``c`` the
    number of copies), and the comparison weighs each entry of the full RDMs
    so. The entries between a stimulus and a copy of itself are left out, as
    rsatoolbox's bootstrap does: both RDMs would give them 0, which any model
    predicts. Entries that are NaN in either RDM (a stimulus with constant
    features has no correlation distance) are left out too.

    Parameters
    ----------
    rdm_a, rdm_b : ndarray
        ``(n, n)`` dissimilarity matrices.
    method : {"spearman", "kendall", "pearson"}
        Spearman's ρ, Kendall's τ_a or Pearson's r of the entries.
    """

    def __init__(self, rdm_a: np.ndarray, rdm_b: np.ndarray, method: str = "spearman"):
        if method not in RDM_COMPARISONS:
            raise STSTError(f"RDM comparison must be one of {', '.join(RDM_COMPARISONS)}; got {method!r}")
        if np.shape(rdm_a) != np.shape(rdm_b):
            raise STSTError(f"RDMs of different sizes cannot be compared: {np.shape(rdm_a)} and {np.shape(rdm_b)}")
        self.stimuli = len(rdm_a)
        if self.stimuli < 3:
            raise STSTError(f"RSA needs at least 3 stimuli; got {self.stimuli}")
        i, j = np.triu_indices(self.stimuli, k=1)
        x, y = np.asarray(rdm_a, dtype=np.float64)[i, j], np.asarray(rdm_b, dtype=np.float64)[i, j]
        keep = np.isfinite(x) & np.isfinite(y)
        self._i, self._j = i[keep], j[keep]
        self._statistic = _RDM_STATISTICS[method](x[keep], y[keep]) if keep.sum() >= 2 else None

    def value(self) -> float:
        """The comparison of the RDMs themselves."""
        return float(self(np.arange(self.stimuli)[None])[0])

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        samples = np.atleast_2d(np.asarray(samples, dtype=np.intp))
        if self._statistic is None:
            return np.full(len(samples), np.nan)
        values = np.empty(len(samples))
        step = max(1, (1 << 20) // len(self._i))  # rows per block: a few MB of weights at a time
        for start in range(0, len(samples), step):
            counts = _counts(samples[start : start + step], self.stimuli)
            values[start : start + step] = self._statistic(counts[self._i] * counts[self._j])
        return values


def compare_rdms(a: np.ndarray, b: np.ndarray, method: str = "spearman") -> float:
    """Similarity of two RDMs over their upper triangles (Spearman's ρ, Kendall's τ_a or Pearson's r)."""
    return RDMComparison(a, b, method).value()


def paired_correlations(cross: np.ndarray, stats_a: GramStatistics, stats_b: GramStatistics) -> np.ndarray:
    """Pearson r between row i of A and row i of B, from their cross products ``cross[i] = a_i·b_i``."""
    p = stats_a.features
    mean_a, mean_b = stats_a.sums / p, stats_b.sums / p
    var_a = np.diag(stats_a.gram) / p - mean_a**2
    var_b = np.diag(stats_b.gram) / p - mean_b**2
    with np.errstate(invalid="ignore", divide="ignore"):
        return (cross / p - mean_a * mean_b) / np.sqrt(var_a * var_b)


def paired_correlation(cross: np.ndarray, stats_a: GramStatistics, stats_b: GramStatistics) -> float:
    """Mean Pearson r between row i of A and row i of B, from their cross products ``cross[i] = a_i·b_i``."""
    return float(np.mean(paired_correlations(cross, stats_a, stats_b)))


def minimum_pairs(metric: str, *, debiased: bool = False) -> int:
    """The fewest pairs of stimuli for which ``metric`` says anything about the representations.

    CKA and RSA compare the geometry of each set: between two stimuli every
    centred similarity is ±1 and there is one dissimilarity, so they need 3
    (debiased CKA: 4); paired correlation compares each pair by itself.
    """
    if metric not in METRICS:
        raise STSTError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")
    return {"cka": 4 if debiased else 3, "rsa": 3, "paired-corr": 1}[metric]


def similarity_of_resamples(
    stats: GramStatistics, rows_a, rows_b, metric: str, *, debiased=False, rdm_metric="correlation", rdm_comparison="spearman"
) -> Callable[[np.ndarray], np.ndarray]:
    """The metric between stimuli ``rows_a`` and their pairs ``rows_b`` as a function of resamples of the pairs.

    What does not depend on the resample is computed once: the RDMs (and
    their sorting) for RSA, the per-pair correlations for ``paired-corr``.
    ``f(samples)``, with ``samples (k, s)`` indices into the pairs, returns the
    k values; ``f(np.arange(len(rows_a))[None])[0]`` is the metric itself.
    """
    rows_a, rows_b = np.asarray(rows_a), np.asarray(rows_b)
    a, b = stats.subset(rows_a), stats.subset(rows_b)
    if metric == "cka":
        # centring depends on the resample; at 120 stimuli each is a few microseconds of 120 × 120 arithmetic
        return lambda samples: np.array([cka_from_grams(a.gram[np.ix_(s, s)], b.gram[np.ix_(s, s)], debiased=debiased) for s in np.atleast_2d(samples)])
    if metric == "rsa":
        return RDMComparison(rdm_from_gram(a, rdm_metric), rdm_from_gram(b, rdm_metric), rdm_comparison)
    if metric == "paired-corr":
        r = paired_correlations(stats.gram[rows_a, rows_b], a, b)
        return lambda samples: r[np.atleast_2d(samples)].mean(axis=1)
    raise STSTError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")


def similarity(stats: GramStatistics, rows_a, rows_b, metric: str, *, debiased=False, rdm_metric="correlation", rdm_comparison="spearman") -> float:
    """One metric between the stimuli ``rows_a`` and their pairs ``rows_b`` (indices into ``stats``)."""
    statistic = similarity_of_resamples(stats, rows_a, rows_b, metric, debiased=debiased, rdm_metric=rdm_metric, rdm_comparison=rdm_comparison)
    return float(statistic(np.arange(len(rows_a))[None])[0])


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float],
    n: int,
    *,
    samples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    min_distinct: int = 3,
    vectorized: bool = False,
) -> tuple[float, float]:
    """Percentile interval of ``statistic(indices)`` over ``samples`` resamplings of ``range(n)`` with replacement.

    Resamples with fewer than ``min_distinct`` different stimuli are left out:
    between two points every centred similarity is ±1, and with one it is
    undefined, so they say nothing about the spread. With few stimuli that
    leaves few resamples, and the interval is rough. ``vectorized=True``
    (as in :func:`scipy.stats.bootstrap`): ``statistic`` takes all resamples
    at once, ``(k, n)``, and returns their k values.
    """
    if samples < 1:
        return float("nan"), float("nan")
    drawn = np.random.default_rng(seed).integers(0, n, size=(samples, n))  # the same draws as one resample at a time
    distinct = (np.diff(np.sort(drawn, axis=1), axis=1) > 0).sum(axis=1) + 1
    drawn = drawn[distinct >= min(min_distinct, n)]
    if not len(drawn):
        return float("nan"), float("nan")
    values = np.asarray(statistic(drawn) if vectorized else [statistic(sample) for sample in drawn], dtype=np.float64)
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)
