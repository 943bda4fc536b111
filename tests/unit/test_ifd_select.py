"""ifd.select: the two official cherry-selection rules, the cluster sampler and k-means, against literal ports."""
import math

import numpy as np
import pandas as pd
import pytest

from replib.ifd.select import (
    cluster_sample,
    kmeans_labels,
    n_select,
    pool_sizes_for,
    select_cherry,
    valid_mask,
)


def frame(ifd, skip=None, key="ifd_loss"):
    ifd = np.asarray(ifd, dtype=float)
    skip = [""] * len(ifd) if skip is None else skip
    return pd.DataFrame({key: ifd, "skip": skip})


# ----------------------------------------------------------------------------- literal references
def ref_data_by_ifd(ifd, skip, rate, number=0):
    """data_by_IFD.py's loop, written out (NaN dropped: our documented deviation)."""
    pairs = []
    for i in range(len(ifd)):
        if skip[i] != "":
            continue
        r = ifd[i]
        if math.isnan(r) or r > 1:
            continue
        pairs.append((r, i))
    pairs = sorted(pairs)
    if number == 0:
        number = int(len(pairs) * rate)
    ids = list(range(len(pairs)))[-number:]
    return sorted(pairs[j][1] for j in ids)


def ref_select_from_json(ifd, skip, rate, number=0):
    """data_by_IFD_vic.py's JSON (NaN for skipped rows) fed to select_from_ifd_json.py, written out."""
    data = [{"i": i, "ifd_score": (float("nan") if skip[i] != "" else ifd[i])} for i in range(len(ifd))]
    if number == 0:
        number = int(len(data) * rate)
    kept = [d for d in data if d["ifd_score"] <= 1]
    kept = sorted(kept, key=lambda d: d["ifd_score"], reverse=True)
    return [d["i"] for d in kept[:number]]


def random_pool(rng, n):
    ifd = np.round(rng.uniform(0.0, 1.3, n), 2)  # rounding makes ties; some > 1; some exactly 1.0
    ifd[rng.random(n) < 0.05] = np.nan
    ifd[rng.random(n) < 0.03] = 1.0
    reasons = np.array(["", "prompt fills the window", "no answer tokens", "answer truncated"])
    skip = reasons[(rng.random(n) < 0.15) * rng.integers(1, 4, n)]
    return ifd, list(skip)


# ----------------------------------------------------------------------------- validity rules
def test_valid_mask_threshold_nan_and_skip():
    df = frame([1.0, 1.0 + 1e-12, np.nan, 0.5, 0.2, 0.9, np.inf],
               skip=["", "", "", "answer truncated", "", "", ""])
    assert valid_mask(df).tolist() == [True, False, False, False, True, True, False]
    assert select_cherry(df, 1.0).tolist() == [0, 4, 5]                      # IFD == 1 kept, dataset order
    assert select_cherry(df, 1.0, official_json=True).tolist() == [0, 5, 4]  # score order


def test_missing_key_raises():
    with pytest.raises(KeyError, match="ifd_ppl"):
        select_cherry(frame([0.5]), 1.0, key="ifd_ppl")


def test_denominators_differ():
    # 100 rows: 50 valid (distinct scores), 25 above 1, 25 skipped with in-range scores
    rng = np.random.default_rng(0)
    ifd = np.empty(100)
    valid_pos = np.sort(rng.choice(100, 50, replace=False))
    rest = np.setdiff1d(np.arange(100), valid_pos)
    ifd[valid_pos] = rng.permutation(np.linspace(0.1, 0.9, 50))
    ifd[rest[:25]] = 1.5
    ifd[rest[25:]] = 0.95  # would be top picks if the skip were ignored
    skip = [""] * 100
    for p in rest[25:]:
        skip[p] = "answer truncated"
    df = frame(ifd, skip)
    a = select_cherry(df, 0.1)
    b = select_cherry(df, 0.1, official_json=True)
    assert len(a) == int(50 * 0.1) == 5
    assert len(b) == int(100 * 0.1) == 10
    top = valid_pos[np.argsort(-ifd[valid_pos])]
    assert a.tolist() == sorted(top[:5].tolist())     # dataset order
    assert b.tolist() == top[:10].tolist()            # descending score order
    assert not np.all(np.diff(b) > 0)
    assert set(a) <= set(b)


def test_tie_rule_higher_index_wins_by_default_lower_in_json():
    df = frame([0.5, 0.5, 0.5, 0.1])
    assert select_cherry(df, 0.5).tolist() == [1, 2]                      # (score, idx) ascending, last k
    assert select_cherry(df, 0.5, official_json=True).tolist() == [0, 1]  # stable reverse sort, first k


def test_k_zero_quirk_and_number():
    df = frame([0.3, 0.8, 0.5, 1.2])
    # int(3 * 0.06) == 0 -> the script's [-0:] slice keeps every valid sample
    assert select_cherry(df, 0.06).tolist() == [0, 1, 2]
    assert select_cherry(df, 0.06, official_json=True).tolist() == []
    assert select_cherry(df, 0.0, number=2).tolist() == [1, 2]
    assert select_cherry(df, 0.0, number=2, official_json=True).tolist() == [1, 2]
    assert select_cherry(df, 0.5, number=0).tolist() == [1]  # number 0 falls back to the rate
    assert n_select(3, 0.06) == 0 and n_select(3, 0.06, 7) == 7


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("rate", [0.05, 0.06, 0.1, 0.33, 1.0])
def test_matches_literal_ports(seed, rate):
    rng = np.random.default_rng(seed)
    ifd, skip = random_pool(rng, 600)
    df = frame(ifd, skip)
    assert select_cherry(df, rate).tolist() == ref_data_by_ifd(ifd, skip, rate)
    assert select_cherry(df, rate, official_json=True).tolist() == ref_select_from_json(ifd, skip, rate)
    assert select_cherry(df, rate, number=17).tolist() == ref_data_by_ifd(ifd, skip, rate, 17)
    assert select_cherry(df, rate, number=17, official_json=True).tolist() == ref_select_from_json(ifd, skip, rate, 17)


def test_3111_pins_the_valid_pool():
    n = np.arange(51700, 52003)
    hits = n[[int(int(x) * 0.06) == 3111 for x in n]]
    assert (hits.min(), hits.max(), len(hits)) == (51850, 51866, 17)
    assert pool_sizes_for(3111, 0.06) == (51850, 51866)
    for n_valid, expect in [(51849, 3110), (51850, 3111), (51866, 3111), (51867, 3112)]:
        ifd = np.full(52002, 2.0)          # > 1: dropped
        ifd[:n_valid] = np.linspace(0.01, 0.99, n_valid)
        assert len(select_cherry(frame(ifd), 0.06)) == expect
    assert len(select_cherry(frame(np.full(52002, 0.5)), 0.06, official_json=True)) == int(52002 * 0.06) == 3120


# ----------------------------------------------------------------------------- paper's numbers
def test_worked_example():
    assert round(0.601 / 6.593, 3) == 0.091


def test_ifd_ppl_same_drop_set_different_ranking():
    lc, ld = np.array([0.5, 2.0]), np.array([1.0, 3.0])
    ratio, diff = lc / ld, lc - ld
    assert np.round(ratio, 3).tolist() == [0.5, 0.667]
    assert diff.tolist() == [-0.5, -1.0]
    df = pd.DataFrame({"ifd_loss": ratio, "ifd_ppl": np.exp(diff), "skip": ["", ""]})
    assert select_cherry(df, 0.0, number=1).tolist() == [1]                  # ratio ranks (2, 3) first
    assert select_cherry(df, 0.0, number=1, key="ifd_ppl").tolist() == [0]   # exp(diff) ranks (0.5, 1) first
    rng = np.random.default_rng(1)
    lc, ld = rng.uniform(0.05, 4, 5000), rng.uniform(0.05, 4, 5000)
    both = pd.DataFrame({"ifd_loss": lc / ld, "ifd_ppl": np.exp(lc - ld), "skip": [""] * 5000})
    assert np.array_equal(valid_mask(both), valid_mask(both, key="ifd_ppl"))


# ----------------------------------------------------------------------------- cluster sampler
def ref_cluster_sample(labels, conf, n, low, up):
    """A slow literal loop of data_by_cluster.py's sample_middle_confidence_data."""
    out = []
    for c in range(len(set(labels.tolist()))):
        members = [j for j in range(len(labels)) if labels[j] == c]
        if len(members) < n:
            out += members
            continue
        vals = [conf[j] for j in members]
        lo, hi = np.percentile(vals, low), np.percentile(vals, up)
        band = [j for j in members if lo <= conf[j] <= hi]
        if len(band) >= n:
            step = len(band) // n
            band = [band[t] for t in range(0, len(band), step)][:n]
        out += band
    return out


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n, low, up", [(10, 25, 75), (3, 25, 75), (10, 1, 99), (7, 40, 60)])
def test_cluster_sample_matches_literal_loop(seed, n, low, up):
    rng = np.random.default_rng(seed)
    sizes = rng.choice([1, 5, 9, 10, 11, 14, 25, 40, 97, 300], size=12)
    labels = rng.permutation(np.repeat(np.arange(12), sizes))
    conf = np.round(rng.lognormal(2.0, 0.5, len(labels)), 1)  # rounded: ties on the band edges
    got = cluster_sample(labels, conf, n, low, up)
    assert got.tolist() == ref_cluster_sample(labels, conf, n, low, up)
    # properties
    for c in range(12):
        mine = got[labels[got] == c]
        members = np.flatnonzero(labels == c)
        assert np.all(np.diff(mine) > 0)  # dataset order inside a cluster
        if len(members) < n:
            assert mine.tolist() == members.tolist()  # small cluster taken whole
        else:
            assert 1 <= len(mine) <= n
            lo, hi = np.percentile(conf[members], [low, up])
            assert np.all((conf[mine] >= lo) & (conf[mine] <= hi))  # inside the inclusive band
    assert np.all(np.diff(labels[got]) >= 0)  # cluster order


def test_cluster_band_inclusive_and_step():
    # 12 members, quartiles fall on repeated values: inclusive band = all 12 -> step 1 -> first 10
    conf = np.array([1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3], float)
    assert cluster_sample(np.zeros(12, int), conf).tolist() == list(range(10))
    # 41 distinct values: band = ranks 10..30 (21 members) -> step 2 -> every other, first 10
    conf = np.arange(41.0)[::-1].copy()  # descending, so dataset order != confidence order
    got = cluster_sample(np.zeros(41, int), conf)
    band = [j for j in range(41) if 10 <= conf[j] <= 30]
    assert len(band) == 21
    assert got.tolist() == band[::2][:10]
    # band smaller than n: take the whole band, e.g. 10 members with 5 in a tight middle
    conf = np.array([0, 0, 0, 5, 5, 5, 5, 9, 9, 9], float)
    lo, hi = np.percentile(conf, [25, 75])
    assert cluster_sample(np.zeros(10, int), conf).tolist() == np.flatnonzero((conf >= lo) & (conf <= hi)).tolist()


def test_cluster_label_gap_follows_range_of_unique_count():
    labels = np.array([0, 2, 2, 0, 2])  # 2 unique labels -> loops over clusters 0 and 1; 2 never visited
    assert cluster_sample(labels, np.ones(5)).tolist() == [0, 3]
    assert cluster_sample(np.array([1, 0, 1]), np.ones(3)).tolist() == [1, 0, 2]  # cluster 0 first
    assert cluster_sample(np.array([], int), np.array([])).tolist() == []


# ----------------------------------------------------------------------------- k-means
def test_kmeans_labels_recovers_blobs_and_is_deterministic():
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 20, (5, 8))
    truth = np.repeat(np.arange(5), 30)
    X = (centres[truth] + rng.normal(0, 0.5, (150, 8))).astype(np.float32)
    lab = kmeans_labels(X, 5, seed=0)
    assert lab.shape == (150,) and lab.dtype == np.int64
    assert len(set(zip(truth.tolist(), lab.tolist()))) == 5  # one label per blob
    assert np.array_equal(lab, kmeans_labels(X, 5, seed=0))
