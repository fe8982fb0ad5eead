"""CKA, RSA and paired correlation against hand computations and their defining invariances."""

import numpy as np
import pytest
import scipy.stats

from stst_core import STSTError
from stst_core.similarity import (
    GramStatistics,
    accumulate_gram,
    bootstrap_interval,
    compare_rdms,
    kendall_tau_a,
    linear_cka,
    rdm,
    similarity,
)

RNG = np.random.default_rng(0)


def test_cka_of_identical_representations_is_one():
    x = RNG.normal(size=(12, 7))
    assert linear_cka(x, x) == pytest.approx(1.0)
    assert linear_cka(x, x, debiased=True) == pytest.approx(1.0)


def test_cka_invariances():
    x, y = RNG.normal(size=(15, 6)), RNG.normal(size=(15, 9))
    base = linear_cka(x, y)
    rotation, _ = np.linalg.qr(RNG.normal(size=(6, 6)))
    assert linear_cka(x @ rotation, y) == pytest.approx(base)  # orthogonal transform
    assert linear_cka(4.2 * x, 0.3 * y) == pytest.approx(base)  # isotropic scaling
    assert linear_cka(x + 5.0, y - 2.0) == pytest.approx(base)  # centring is part of it
    assert linear_cka(x * np.arange(1, 7), y) != pytest.approx(base)  # anisotropic scaling is not invariant


def test_cka_by_hand():
    # 3 stimuli; x is 1-D, y is 1-D: CKA is then the squared Pearson correlation of the centred values
    x = np.array([[0.0], [1.0], [2.0]])
    y = np.array([[1.0], [3.0], [2.0]])
    # centred: x = (-1, 0, 1), y = (-1, 1, 0); <x,y> = 1, |x|² = 2, |y|² = 2 → (1)² / (2·2) = 0.25
    assert linear_cka(x, y) == pytest.approx(0.25)


def test_debiased_cka_is_near_zero_for_independent_features():
    x, y = RNG.normal(size=(300, 40)), RNG.normal(size=(300, 40))
    assert abs(linear_cka(x, y, debiased=True)) < 0.02
    assert linear_cka(x, y) > 0.1  # the biased estimator is not
    with pytest.raises(STSTError, match="at least 4 stimuli"):
        linear_cka(x[:3], y[:3], debiased=True)


def test_rdm_by_hand():
    x = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [0.0, 0.0, 4.0]])
    correlation = rdm(x, "correlation")
    assert correlation[0, 1] == pytest.approx(2.0)  # perfectly anticorrelated: 1 − (−1)
    assert correlation[0, 2] == pytest.approx(1 - np.corrcoef(x[0], x[2])[0, 1])
    assert np.diag(correlation) == pytest.approx(np.zeros(3), abs=1e-12)
    euclidean = rdm(x, "euclidean")
    assert euclidean[0, 1] == pytest.approx(np.sqrt(8.0))
    assert euclidean[1, 2] == pytest.approx(np.sqrt(9 + 4 + 9))


def test_rdm_comparisons():
    a = rdm(RNG.normal(size=(8, 5)))
    b = a + 0.05 * RNG.normal(size=a.shape)
    b = (b + b.T) / 2
    upper = np.triu_indices(8, 1)
    assert compare_rdms(a, b, "spearman") == pytest.approx(scipy.stats.spearmanr(a[upper], b[upper]).statistic)
    assert compare_rdms(a, b, "pearson") == pytest.approx(np.corrcoef(a[upper], b[upper])[0, 1])
    assert compare_rdms(a, a, "kendall") == pytest.approx(1.0)


def test_kendall_tau_a_by_hand():
    # pairs: (1,2),(1,3),(2,3) of a = (1, 2, 3), b = (1, 3, 2): concordant, concordant, discordant → (2 − 1)/3
    assert kendall_tau_a(np.array([1, 2, 3]), np.array([1, 3, 2])) == pytest.approx(1 / 3)
    # a tie counts as neither (tau-a keeps the full denominator), unlike scipy's tau-b
    assert kendall_tau_a(np.array([1, 1, 2]), np.array([1, 2, 3])) == pytest.approx(2 / 3)


def test_streamed_gram_equals_direct():
    x = RNG.normal(size=(6, 100))
    streamed = accumulate_gram([x[:, :30], x[:, 30:75], x[:, 75:]])
    direct = GramStatistics.of(x)
    np.testing.assert_allclose(streamed.gram, direct.gram)
    np.testing.assert_allclose(streamed.sums, direct.sums)
    assert streamed.features == 100


def test_paired_correlation_by_hand():
    a = RNG.normal(size=(4, 50))
    b = 2 * a + 1  # perfectly correlated pairs
    stats = GramStatistics.of(np.concatenate([a, b]))
    assert similarity(stats, [0, 1, 2, 3], [4, 5, 6, 7], "paired-corr") == pytest.approx(1.0)
    c = RNG.normal(size=(4, 50))
    stats = GramStatistics.of(np.concatenate([a, c]))
    expected = np.mean([np.corrcoef(a[i], c[i])[0, 1] for i in range(4)])
    assert similarity(stats, [0, 1, 2, 3], [4, 5, 6, 7], "paired-corr") == pytest.approx(expected)


def test_bootstrap_interval_contains_the_estimate_and_narrows_with_more_data():
    def mean_of(values):
        return lambda sample: float(values[sample].mean())

    small, large = RNG.normal(size=20), RNG.normal(size=2000)
    low_s, high_s = bootstrap_interval(mean_of(small), len(small), samples=500)
    low_l, high_l = bootstrap_interval(mean_of(large), len(large), samples=500)
    assert low_s <= small.mean() <= high_s and low_l <= large.mean() <= high_l
    assert (high_l - low_l) < (high_s - low_s) / 4


def test_cka_of_identical_stimuli_is_undefined_not_rounding_noise():
    row = np.random.default_rng(3).normal(size=(1, 50))
    assert np.isnan(linear_cka(np.repeat(row, 3, 0), np.repeat(row[:, ::-1], 3, 0)))


def test_bootstrap_leaves_out_resamples_of_too_few_stimuli():
    x = np.random.default_rng(4).normal(size=(3, 20))
    y = x + np.random.default_rng(5).normal(size=(3, 20))
    seen = []

    def statistic(sample):
        seen.append(len(np.unique(sample)))
        return linear_cka(x[sample], y[sample])

    low, high = bootstrap_interval(statistic, 3, samples=200)
    # of three stimuli only the resamples holding all three are informative: they give the estimate itself
    assert set(seen) == {3}
    assert low == pytest.approx(linear_cka(x, y)) and high == pytest.approx(linear_cka(x, y))
