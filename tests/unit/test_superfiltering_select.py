"""Superfiltering IFD selection vs literal ports of select_data.py and do_fla.py's do_ifd."""
import math

import numpy as np
import pandas as pd
import pytest

from replib.superfiltering.select import (
    OFFICIAL_K_BASE,
    as_scores,
    ifd_prefilter,
    select_top_ifd,
)


def _sort_key(v):
    return (0, 0) if math.isnan(v) else (1, v)


def ref_select_data(values, rate, k_base=None, threshold=1.0):
    """select_data.py on records {"i": position, "ifd_ppl": value}, written out with lists."""
    data = [{"i": i, "ifd_ppl": v} for i, v in enumerate(values)]
    k = int((len(data) if k_base is None else k_base) * rate)
    kept = [x for x in data if isinstance(x["ifd_ppl"], (int, float)) and x["ifd_ppl"] < threshold]
    kept = sorted(kept, key=lambda x: _sort_key(x["ifd_ppl"]), reverse=True)
    return [x["i"] for x in kept[:k]]


def ref_do_ifd(values, ifd_num, upper=1.0, lower=0.9):
    data = [{"i": i, "ifd_ppl": v} for i, v in enumerate(values)]
    if upper != 0:
        data = [x for x in data if isinstance(x["ifd_ppl"], (int, float)) and x["ifd_ppl"] < upper]
    if ifd_num != 0:
        out = sorted(data, key=lambda x: _sort_key(x["ifd_ppl"]), reverse=True)[:ifd_num]
    else:
        out = [x for x in data if isinstance(x["ifd_ppl"], (int, float)) and x["ifd_ppl"] > lower]
    return [x["i"] for x in out]


def messy_scores(n, seed):
    """Scores around 1 rounded to 2 decimals (many ties), with exact 1.0s, NaNs, Nones and negatives."""
    rng = np.random.default_rng(seed)
    v = np.round(rng.normal(0.9, 0.15, n), 2)
    v[rng.random(n) < 0.05] = 1.0
    v[rng.random(n) < 0.03] = -0.5
    out = [float(x) for x in v]
    for i in np.flatnonzero(rng.random(n) < 0.05):
        out[i] = float("nan")
    for i in np.flatnonzero(rng.random(n) < 0.02):
        out[i] = None
    return out


def test_threshold_strict_nan_dropped_descending():
    s = [0.5, 1.0, 0.99, 1.2, float("nan"), 0.3, 0.999999]
    got = select_top_ifd(s, 1.0)
    assert got.dtype == np.int64
    assert got.tolist() == [6, 2, 0, 5]  # 1.0, 1.2 and NaN out; highest first
    assert select_top_ifd(s, 1.0, threshold=1.1).tolist() == [1, 6, 2, 0, 5]


def test_ties_keep_dataset_order():
    s = [0.5, 0.7, 0.5, 0.7, 0.6, 0.7]
    assert select_top_ifd(s, 1.0).tolist() == [1, 3, 5, 4, 0, 2]
    assert select_top_ifd(s, 0.5).tolist() == [1, 3, 5]  # int(6 * 0.5) = 3


def test_k_default_vs_official_constant():
    rng = np.random.default_rng(0)
    s = rng.uniform(0.1, 0.99, 3000)
    assert OFFICIAL_K_BASE == 52002
    assert len(select_top_ifd(s, 0.05)) == int(3000 * 0.05) == 150
    # int(52002 * 0.05) = 2600 (the float product is 2600.1000000000004)
    assert len(select_top_ifd(s, 0.05, k_base=OFFICIAL_K_BASE)) == 2600
    assert len(select_top_ifd(s, 0.001, k_base=OFFICIAL_K_BASE)) == int(52002 * 0.001) == 52
    assert len(select_top_ifd(s, 0.001)) == 3                  # int(3000 * 0.001)
    assert len(select_top_ifd(s, 0.1, k_base=OFFICIAL_K_BASE)) == 3000  # k = 5200 > pool: keep all
    top = select_top_ifd(s, 0.05)
    assert np.all(np.diff(s[top]) <= 0) and s[top[0]] == s.max()
    assert set(top) == set(np.argsort(-s)[:150])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("rate", [0.05, 0.1, 0.33, 1.0])
def test_matches_literal_select_data(seed, rate):
    s = messy_scores(700, seed)
    assert select_top_ifd(s, rate).tolist() == ref_select_data(s, rate)
    assert select_top_ifd(s, rate, k_base=OFFICIAL_K_BASE).tolist() == ref_select_data(s, rate, OFFICIAL_K_BASE)
    assert select_top_ifd(s, rate, threshold=0.95).tolist() == ref_select_data(s, rate, threshold=0.95)


def test_input_types_agree():
    s = messy_scores(200, 5)
    want = ref_select_data(s, 0.2)
    arr = np.array([np.nan if v is None else v for v in s])
    ser = pd.Series(arr, index=np.arange(1000, 1200)[::-1])  # index ignored: positions are returned
    assert select_top_ifd(s, 0.2).tolist() == want
    assert select_top_ifd(arr, 0.2).tolist() == want
    assert select_top_ifd(ser, 0.2).tolist() == want
    assert select_top_ifd(pd.Series(s, dtype=object), 0.2).tolist() == want
    mixed = [0.5, "0.9", None, 0.7, "x"]  # strings fail the official isinstance test
    assert np.isnan(as_scores(mixed)[[1, 2, 4]]).all()
    assert select_top_ifd(mixed, 1.0).tolist() == [3, 0]
    assert select_top_ifd(["0.5", "0.7"], 1.0).tolist() == []


@pytest.mark.parametrize("rate", [0, -0.1, 1.5, float("nan"), True, "0.1", None])
def test_rate_validated(rate):
    with pytest.raises(ValueError, match="rate"):
        select_top_ifd([0.5, 0.6], rate)


def test_small_rate_gives_empty():
    assert select_top_ifd([0.5, 0.6, 0.7], 0.1).tolist() == []  # int(3 * 0.1) = 0


def test_prefilter_top_num_branch():
    s = [0.95, 1.0, 0.2, float("nan"), 0.95, 0.97, 1.3, 0.5]
    assert ifd_prefilter(s, 3).tolist() == [5, 0, 4]
    assert ifd_prefilter(s, 100).tolist() == [5, 0, 4, 7, 2]
    # upper = 0: nothing filtered, NaN ranks below every number (even negative ones), stable
    s2 = [0.3, float("nan"), -2.0, 1.4, float("nan"), 0.3]
    assert ifd_prefilter(s2, 6, upper=0).tolist() == [3, 0, 5, 2, 1, 4]
    assert ifd_prefilter(s2, 2, upper=0).tolist() == [3, 0]


def test_prefilter_bounds_branch():
    s = [0.95, 1.0, 0.9, float("nan"), 0.91, 0.97, 1.3, 0.5, 0.999]
    # > lower strictly (0.9 out), < upper strictly (1.0 out), dataset order
    assert ifd_prefilter(s, 0).tolist() == [0, 4, 5, 8]
    assert ifd_prefilter(s, 0, upper=0).tolist() == [0, 1, 4, 5, 6, 8]
    assert ifd_prefilter(s, 0, lower=0.96).tolist() == [5, 8]


@pytest.mark.parametrize("seed", [3, 4])
@pytest.mark.parametrize("ifd_num,upper,lower", [(50, 1.0, 0.9), (0, 1.0, 0.9), (0, 1.0, 0.8), (120, 0.95, 0.9),
                                                 (0, 0, 0.9), (10_000, 1.0, 0.9)])
def test_prefilter_matches_literal_do_ifd(seed, ifd_num, upper, lower):
    s = [np.nan if v is None else v for v in messy_scores(500, seed)]  # do_ifd's sort key cannot take None
    got = ifd_prefilter(s, ifd_num, upper=upper, lower=lower)
    assert got.dtype == np.int64
    assert got.tolist() == ref_do_ifd(s, ifd_num, upper, lower)


def test_prefilter_rejects_negative_num():
    with pytest.raises(ValueError, match="ifd_num"):
        ifd_prefilter([0.5], -1)
