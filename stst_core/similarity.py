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
    Kendall's τ_a or Pearson's r.
paired pattern correlation
    for paired stimuli (a natural video and its metamer), the Pearson
    correlation of their feature vectors, averaged over the pairs.
bootstrap confidence interval
    stimuli (pairs) resampled with replacement, the statistic recomputed each
    time; the percentile interval.
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np
import scipy.stats

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


def kendall_tau_a(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's τ_a: (concordant − discordant pairs) / all pairs; ties count as neither."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    n = len(a)
    if n < 2:
        return float("nan")
    total = 0.0
    for start in range(0, n, 512):  # rows of the pair table in blocks: bounded memory
        stop = min(n, start + 512)
        da = np.sign(a[start:stop, None] - a[None, :])
        db = np.sign(b[start:stop, None] - b[None, :])
        total += np.sum(da * db)
    return float(total / (n * (n - 1)))  # each pair counted twice above


def compare_rdms(a: np.ndarray, b: np.ndarray, method: str = "spearman") -> float:
    """Similarity of two RDMs over their upper triangles."""
    if method not in RDM_COMPARISONS:
        raise STSTError(f"RDM comparison must be one of {', '.join(RDM_COMPARISONS)}; got {method!r}")
    upper = np.triu_indices(len(a), k=1)
    x, y = a[upper], b[upper]
    if len(x) < 2:
        raise STSTError("RSA needs at least 3 stimuli")
    if method == "kendall":
        return kendall_tau_a(x, y)
    if method == "spearman":
        return float(scipy.stats.spearmanr(x, y).statistic)
    return float(np.corrcoef(x, y)[0, 1])


def paired_correlation(cross: np.ndarray, stats_a: GramStatistics, stats_b: GramStatistics) -> float:
    """Mean Pearson r between row i of A and row i of B, from their cross products ``cross[i] = a_i·b_i``."""
    p = stats_a.features
    mean_a, mean_b = stats_a.sums / p, stats_b.sums / p
    var_a = np.diag(stats_a.gram) / p - mean_a**2
    var_b = np.diag(stats_b.gram) / p - mean_b**2
    r = (cross / p - mean_a * mean_b) / np.sqrt(var_a * var_b)
    return float(np.mean(r))


def similarity(stats: GramStatistics, rows_a, rows_b, metric: str, *, debiased=False, rdm_metric="correlation", rdm_comparison="spearman") -> float:
    """One metric between the stimuli ``rows_a`` and their pairs ``rows_b`` (indices into ``stats``)."""
    rows_a, rows_b = np.asarray(rows_a), np.asarray(rows_b)
    a, b = stats.subset(rows_a), stats.subset(rows_b)
    if metric == "cka":
        return cka_from_grams(a.gram, b.gram, debiased=debiased)
    if metric == "rsa":
        return compare_rdms(rdm_from_gram(a, rdm_metric), rdm_from_gram(b, rdm_metric), rdm_comparison)
    if metric == "paired-corr":
        return paired_correlation(stats.gram[rows_a, rows_b], a, b)
    raise STSTError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float], n: int, *, samples: int = 1000, level: float = 0.95, seed: int = 0, min_distinct: int = 3
) -> tuple[float, float]:
    """Percentile interval of ``statistic(indices)`` over ``samples`` resamplings of ``range(n)`` with replacement.

    Resamples with fewer than ``min_distinct`` different stimuli are left out:
    between two points every centred similarity is ±1, and with one it is
    undefined, so they say nothing about the spread. With few stimuli that
    leaves few resamples, and the interval is rough.
    """
    if samples < 1:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(samples):
        sample = rng.integers(0, n, size=n)
        if len(np.unique(sample)) < min(min_distinct, n):
            continue
        value = statistic(sample)
        if np.isfinite(value):
            values.append(value)
    if not values:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)
