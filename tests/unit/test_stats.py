"""stats: paired intervals and sign tests, chance bands, Spearman intervals, against literal computations."""
import math

import numpy as np
import pytest
from scipy import stats as sps

from replib import stats


def test_paired_t_interval_matches_the_textbook_formula():
    a, b = np.array([80.1, 78.4, 79.9, 81.0]), np.array([79.0, 78.9, 78.2, 79.5])
    r = stats.paired(a, b)
    d = a - b
    half = sps.t.ppf(0.975, 3) * d.std(ddof=1) / math.sqrt(4)
    assert r.mean == pytest.approx(d.mean()) and r.lo == pytest.approx(d.mean() - half)
    assert r.hi == pytest.approx(d.mean() + half) and r.n == 4 and r.method == "t"
    assert (r.wins, r.losses, r.ties) == (3, 1, 0) and r.p_sign == pytest.approx(0.625)


def test_paired_one_pair_has_no_interval_and_nan_pairs_drop():
    r = stats.paired([1.0], [0.0])
    assert r.lo is None and r.hi is None and r.check("gap").outcome() == "inconclusive"
    tied = stats.paired([81.4, 80.9], [80.0, 79.5])  # equal differences: the spread is not estimable
    assert tied.mean == pytest.approx(1.4) and tied.lo is None and tied.check("gap").outcome() == "inconclusive"
    assert "zero spread" in tied.describe() and stats.paired([1.0] * 50, method="bootstrap").lo is None
    r = stats.paired([1.0, np.nan, 2.0], [0.0, 1.0, 0.5])
    assert r.n == 2 and r.mean == pytest.approx(1.25)
    with pytest.raises(ValueError, match="equal lengths"):
        stats.paired([1, 2], [1])
    with pytest.raises(ValueError, match="method"):
        stats.paired([1, 2], method="z")


def test_paired_t_interval_covers_the_truth_about_95_percent():
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(2000):
        d = rng.normal(0.3, 1.0, size=5)
        r = stats.paired(d)
        hits += r.lo <= 0.3 <= r.hi
    assert 0.935 <= hits / 2000 <= 0.965


def test_paired_check_verdicts_follow_the_effect():
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 0.2, size=10)
    assert stats.paired(5 + noise).check("gap").outcome() == "pass"
    assert stats.paired(noise - noise.mean()).check("gap").outcome() == "inconclusive"
    assert stats.paired(-5 + noise).check("gap").outcome() == "fail"
    assert stats.paired(-5 + noise).check("gap", op="<").outcome() == "pass"


def test_bootstrap_agrees_with_t_on_many_examples():
    rng = np.random.default_rng(2)
    d = rng.normal(0.1, 1.0, size=2000)
    t, boot = stats.paired(d), stats.paired(d, method="bootstrap", n_boot=4000)
    assert boot.lo == pytest.approx(t.lo, abs=0.01) and boot.hi == pytest.approx(t.hi, abs=0.01)
    assert stats.paired(d, method="bootstrap", seed=3).lo == stats.paired(d, method="bootstrap", seed=3).lo


def test_sign_test_is_the_exact_binomial():
    assert stats.sign_test([1, 1, 1, 1, 1, 0, -1]) == (5, 1, 1, pytest.approx(2 * 7 / 64))
    assert stats.sign_test([0, 0])[3] == 1.0


def test_hypergeom_band_against_simulation():
    band = stats.hypergeom_band(500, 37, 29)
    assert band["expected"] == pytest.approx(29 * 37 / 500)
    rng = np.random.default_rng(0)
    pos = np.zeros(500, bool)
    pos[:37] = True
    hits = np.array([pos[rng.choice(500, 29, replace=False)].sum() for _ in range(20000)])
    assert band["lo"] == np.quantile(hits, 0.025) and band["hi"] == np.quantile(hits, 0.975)
    assert band["p_above"](12) == pytest.approx((hits >= 12).mean(), abs=1e-3)
    assert band["p_above"](0) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        stats.hypergeom_band(10, 11, 3)


def test_subset_band_of_the_mean_and_of_distinct_labels():
    values = np.arange(100.0)
    mean, lo, hi = stats.subset_band(values, 10, n_draws=4000)
    assert mean == pytest.approx(49.5, abs=0.5) and lo < 49.5 < hi
    labels = np.repeat(np.arange(10), 10)

    def distinct(x, axis):
        s = np.sort(x, axis=axis)
        return 1 + (np.diff(s, axis=axis) != 0).sum(axis=axis)

    m, lo, hi = stats.subset_band(labels, 10, distinct)
    assert 1 <= lo <= m <= hi <= 10 and m == pytest.approx(10 * (1 - (90 / 100) ** 10), abs=0.4)
    with pytest.raises(ValueError, match="subset size"):
        stats.subset_band(values, 0)


def test_spearman_ci_covers_and_narrows():
    lo, hi = stats.spearman_ci(0.884, 194)
    assert lo < 0.884 < hi and hi - lo < 0.1
    lo2, hi2 = stats.spearman_ci(0.884, 30)
    assert hi2 - lo2 > hi - lo
    assert stats.spearman_ci(0.5, 3) == (None, None)


def test_paired_on_merges_frames_by_keys():
    import pandas as pd
    a = pd.DataFrame({"task": ["x", "x", "y"], "seed": [0, 1, 0], "acc": [0.80, 0.82, 0.70]})
    b = pd.DataFrame({"task": ["x", "y", "x"], "seed": [1, 0, 0], "acc": [0.80, 0.71, 0.79]})  # other order
    r = stats.paired_on(a, b, ["task", "seed"], "acc", scale=100)
    assert r.n == 3 and r.mean == pytest.approx((1 + 2 - 1) / 3) and (r.wins, r.losses) == (2, 1)
    assert stats.paired_on(a, b.assign(seed=b.seed + 5), ["task", "seed"]) is None
