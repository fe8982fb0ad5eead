"""CKA, RSA and paired correlation against hand computations and their defining invariances."""

import numpy as np
import pytest
import scipy.stats

from stst_core import STSTError
from stst_core.similarity import (
    GramStatistics,
    RDMComparison,
    accumulate_gram,
    bootstrap_interval,
    compare_rdms,
    kendall_tau_a,
    linear_cka,
    minimum_pairs,
    rdm,
    similarity,
    similarity_of_resamples,
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


def pair_table_tau_a(a, b):
    """The definition, over all n² ordered pairs: the reference the O(n log n) version must equal."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.sum(np.sign(a[:, None] - a[None, :]) * np.sign(b[:, None] - b[None, :])) / (len(a) * (len(a) - 1))


def test_kendall_tau_a_by_hand():
    # pairs: (1,2),(1,3),(2,3) of a = (1, 2, 3), b = (1, 3, 2): concordant, concordant, discordant → (2 − 1)/3
    assert kendall_tau_a(np.array([1, 2, 3]), np.array([1, 3, 2])) == pytest.approx(1 / 3)
    # a tie counts as neither (tau-a keeps the full denominator), unlike scipy's tau-b
    assert kendall_tau_a(np.array([1, 1, 2]), np.array([1, 2, 3])) == pytest.approx(2 / 3)
    # a = (1, 1, 2, 3), b = (1, 2, 2, 1): of the 6 pairs, 01 tied in a, 02 concordant, 03 tied in b, 12 tied in b,
    # 13 and 23 discordant → (1 − 2) / 6; tau-b would divide by sqrt((6 − 1)(6 − 2)) instead
    a, b = np.array([1, 1, 2, 3]), np.array([1, 2, 2, 1])
    assert kendall_tau_a(a, b) == pytest.approx(-1 / 6)
    assert scipy.stats.kendalltau(a, b).statistic == pytest.approx(-1 / np.sqrt(20))
    assert kendall_tau_a(np.array([2.0, 2.0, 2.0]), np.array([1.0, 2.0, 3.0])) == 0.0  # all tied: no pair counts
    assert np.isnan(kendall_tau_a(np.array([1.0]), np.array([2.0])))
    with pytest.raises(STSTError, match="paired values"):
        kendall_tau_a(np.arange(3), np.arange(4))


@pytest.mark.parametrize("size", [2, 3, 10, 101, 1000])
@pytest.mark.parametrize("decimals", [None, 1, 0])
def test_kendall_tau_a_equals_the_pair_table_and_rsatoolbox(size, decimals):
    from rsatoolbox.rdm import RDMs
    from rsatoolbox.rdm.compare import compare_kendall_tau_a

    rng = np.random.default_rng(size)
    a = rng.normal(size=size)
    b = a + rng.normal(size=size)
    if decimals is not None:  # rounding makes ties, within a, within b and in both
        a, b = np.round(a, decimals), np.round(b, decimals)
    assert kendall_tau_a(a, b) == pytest.approx(pair_table_tau_a(a, b), abs=1e-14)
    # rsatoolbox takes RDM vectors; its counts are the same integers, so the values are equal to the last bit
    assert kendall_tau_a(a, b) == compare_kendall_tau_a(RDMs(a[None]), RDMs(b[None]))[0, 0]


def test_kendall_tau_a_invariances():
    rng = np.random.default_rng(7)
    a = rng.normal(size=300)
    b = np.round(a + rng.normal(size=300), 1)
    tau = kendall_tau_a(a, b)
    assert kendall_tau_a(np.exp(a), b**3) == tau  # strictly increasing transforms keep every pair's order
    assert kendall_tau_a(5 * a - 2, b) == tau
    assert kendall_tau_a(b, a) == tau  # symmetric
    assert kendall_tau_a(-a, b) == -tau  # a decreasing transform turns concordant into discordant
    order = rng.permutation(300)
    assert kendall_tau_a(a[order], b[order]) == tau  # pairs, not positions


def test_rdm_comparison_of_resamples_equals_rsatoolbox_pattern_bootstrap():
    from rsatoolbox.rdm import RDMs, compare

    rng = np.random.default_rng(8)
    x = rng.normal(size=(25, 40))
    rdm_a, rdm_b = rdm(x), np.round(rdm(x + 2 * rng.normal(size=x.shape)), 2)  # rounded: ties too
    samples = rng.integers(0, 25, size=(12, 25))
    theirs_a, theirs_b = RDMs(rdm_a[None]), RDMs(rdm_b[None])
    for method, name in [("kendall", "tau-a"), ("spearman", "spearman"), ("pearson", "corr")]:
        comparison = RDMComparison(rdm_a, rdm_b, method)
        # rsatoolbox repeats a resampled stimulus's rows and columns and leaves out the pairs of a stimulus with itself
        expected = [compare(theirs_a.subsample_pattern("index", s), theirs_b.subsample_pattern("index", s), method=name)[0, 0] for s in samples]
        np.testing.assert_allclose(comparison(samples), expected, rtol=0, atol=1e-13)
        assert comparison.value() == pytest.approx(compare(theirs_a, theirs_b, method=name)[0, 0], abs=1e-14)


def test_rdm_comparison_of_a_resample_is_the_comparison_of_its_entries():
    # the definition, spelled out: every pair of resampled positions holding two different stimuli contributes its entry
    rng = np.random.default_rng(9)
    rdm_a, rdm_b = rdm(rng.normal(size=(9, 6))), rdm(rng.normal(size=(9, 6)))
    sample = np.array([0, 0, 3, 5, 5, 5, 7, 8, 2])
    pairs = [(p, q) for p in range(9) for q in range(p + 1, 9) if sample[p] != sample[q]]
    x = np.array([rdm_a[sample[p], sample[q]] for p, q in pairs])
    y = np.array([rdm_b[sample[p], sample[q]] for p, q in pairs])
    assert RDMComparison(rdm_a, rdm_b, "kendall")(sample[None])[0] == pytest.approx(pair_table_tau_a(x, y), abs=1e-14)
    assert RDMComparison(rdm_a, rdm_b, "spearman")(sample[None])[0] == pytest.approx(scipy.stats.spearmanr(x, y).statistic, abs=1e-14)
    assert RDMComparison(rdm_a, rdm_b, "pearson")(sample[None])[0] == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-14)


def test_kendall_counts_stay_exact_when_they_outgrow_32_bits():
    from stst_core.similarity import _KendallTauA

    rng = np.random.default_rng(10)
    x, y = np.round(rng.normal(size=12), 1), np.round(rng.normal(size=12), 1)
    weights = rng.integers(0, 30000, size=(12, 1))  # 180,000 entries: their pairs do not fit in int32
    signs = np.sign(x[:, None] - x[None, :]) * np.sign(y[:, None] - y[None, :])
    total = weights.sum()
    # each two copies of different entries are one pair; copies of the same entry are tied in both
    expected = (weights[:, 0, None] * weights[None, :, 0] * signs).sum() / 2 / (total * (total - 1) / 2)
    assert _KendallTauA(x, y)(weights)[0] == pytest.approx(expected, rel=1e-12)


def test_nan_entries_are_left_out_of_rdm_comparisons():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(6, 10))
    x[2] = 1.0  # constant features: no correlation distance to any other stimulus
    rdm_a, rdm_b = rdm(x), rdm(x + rng.normal(size=x.shape))
    upper = np.triu_indices(6, 1)
    keep = np.isfinite(rdm_a[upper]) & np.isfinite(rdm_b[upper])
    assert keep.sum() == 10
    assert compare_rdms(rdm_a, rdm_b, "kendall") == pytest.approx(pair_table_tau_a(rdm_a[upper][keep], rdm_b[upper][keep]))


def test_vectorized_bootstrap_equals_one_resample_at_a_time():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(15, 8))
    stats = GramStatistics.of(np.concatenate([x, x + rng.normal(size=x.shape)]))
    for metric in ("cka", "rsa", "paired-corr"):
        statistic = similarity_of_resamples(stats, np.arange(15), np.arange(15, 30), metric, rdm_comparison="kendall")
        assert statistic(np.arange(15)[None])[0] == pytest.approx(similarity(stats, np.arange(15), np.arange(15, 30), metric, rdm_comparison="kendall"))
        one_at_a_time = bootstrap_interval(lambda s: statistic(s[None])[0], 15, samples=200, seed=3)
        assert bootstrap_interval(statistic, 15, samples=200, seed=3, vectorized=True) == pytest.approx(one_at_a_time)


def test_minimum_pairs():
    assert [minimum_pairs(m) for m in ("cka", "rsa", "paired-corr")] == [3, 3, 1]
    assert minimum_pairs("cka", debiased=True) == 4
    # why 3: with two stimuli centred CKA is 1 whatever the representations
    rng = np.random.default_rng(13)
    assert linear_cka(rng.normal(size=(2, 5)), rng.normal(size=(2, 9))) == pytest.approx(1.0)
    with pytest.raises(STSTError, match="metric must be one of"):
        minimum_pairs("mse")


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
