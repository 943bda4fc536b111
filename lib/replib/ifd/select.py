"""Cherry-data selection rules of the official Cherry LLM code, vectorised.

Three pieces of ``tianyi-lab/Cherry_LLM`` (HEAD 01fac8d), re-implemented on arrays:

``select_cherry``
    The final "cherry" pick from a scorer DataFrame (one row per sample, dataset order; columns
    ``ifd_loss``/``ifd_ppl`` and ``skip``, see the scorer).

    * default = ``cherry_seletion/data_by_IFD.py``. That script walks the samples one by one, skips the
      ones its length rules reject (our scorer already marks those in ``skip``) and every sample with
      IFD > 1 (strict: IFD == 1 stays), collects ``(ifd, index)`` tuples, sorts them ascending and keeps
      the last ``k = int(#valid * sample_rate)`` (or ``--sample_number``), then re-sorts the kept
      indices so the output is in **original dataset order**. Two consequences reproduced here: the
      denominator is the number of *valid* samples, and among equal scores the *higher* index wins
      (it sorts larger in the tuple order). A third quirk is reproduced too: when ``k`` comes out as 0
      the script slices ``[-0:]``, which is the whole list, so a tiny pool returns *every* valid sample.
    * ``official_json=True`` = ``cherry_seletion/select_from_ifd_json.py``, which reads the JSON written
      by ``data_by_IFD_vic.py``. That JSON holds *every* sample, with ``ifd_score`` = NaN for the ones the
      length rules reject, and IFD > 1 left in. The selector computes ``k = int(len(all) * rate)`` over
      that full list (NaN and > 1 rows included), keeps ``ifd_score <= 1`` (NaN fails the comparison, so
      it is dropped), sorts descending with Python's stable sort (equal scores keep dataset order, so
      the *lower* index wins) and returns the first ``k`` **in score order**. ``k == 0`` gives nothing.
      Here a row with a non-empty ``skip`` plays the part of the NaN row.

    Where ours differs: in ``data_by_IFD.py`` a NaN ratio (0/0 losses) survives ``mean_rate > 1`` and
    enters the tuple sort, where NaN makes the order ill-defined; we drop NaN in both modes. The
    threshold is applied to whichever ``key`` is chosen; for ``ifd_ppl = exp(L_c - L_d)`` the ``<= 1``
    set is the same as for ``ifd_loss`` (positive losses) but the ranking is not.

``cluster_sample``
    ``data_by_cluster.py``'s ``sample_middle_confidence_data`` (the pre-experience sampler), exactly:
    it loops over ``range(number of unique labels)`` (so labels must be 0..K-1; a gap yields an empty
    cluster and the highest label is never visited), takes clusters with fewer than ``n`` members
    whole, otherwise the members whose confidence (prompt PPL) lies in the inclusive
    ``[percentile(low), percentile(up)]`` band of the cluster (numpy's default linear percentile),
    then, if that band has at least ``n`` members, every ``(len // n)``-th in dataset order and the
    first ``n`` of those. Output: cluster 0's picks, then cluster 1's, ... The script's argparse
    defaults are ``--low_th 1 --up_th 99``; the shipped shell script passes 25 / 75, as the paper.

``kmeans_labels`` (re-exported from :mod:`replib.lm.data`)
    ``KMeans(n_clusters=100, random_state=0).fit(emb).labels_``. That code predates scikit-learn 1.4,
    whose ``n_init`` default is 10 ('auto' = 1 run for k-means++ since 1.4); we pass ``n_init=10``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..lm.data import kmeans_labels

__all__ = ["cluster_sample", "kmeans_labels", "n_select", "pool_sizes_for", "select_cherry", "valid_mask"]


def _scores_and_ok(scores: pd.DataFrame, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(score as float array, rows the scorer considers valid) in dataset (positional) order."""
    if key not in scores.columns:
        raise KeyError(f"score column {key!r} not in {list(scores.columns)}")
    s = scores[key].to_numpy(dtype=np.float64, na_value=np.nan)
    if "skip" in scores.columns:
        ok = scores["skip"].fillna("").astype(str).to_numpy() == ""
    else:
        ok = np.ones(len(s), dtype=bool)
    return s, ok


def valid_mask(scores: pd.DataFrame, key: str = "ifd_loss") -> np.ndarray:
    """Rows data_by_IFD.py would keep before taking the top k: ``skip == ""`` and score <= 1 (NaN out)."""
    s, ok = _scores_and_ok(scores, key)
    with np.errstate(invalid="ignore"):
        return ok & (s <= 1.0)


def n_select(n_pool: int, rate: float, number: int | None = None) -> int:
    """The scripts' sample count: ``--sample_number`` if non-zero, else ``int(n_pool * sample_rate)``."""
    if number:
        return int(number)
    return int(n_pool * rate)


def pool_sizes_for(k: int, rate: float) -> tuple[int, int]:
    """Inclusive range of pool sizes ``n`` with ``int(n * rate) == k`` (float arithmetic as the scripts).

    E.g. the released 5% Alpaca file has 3,111 rows at ``--sample_rate 0.06``, which pins #valid to
    ``pool_sizes_for(3111, 0.06) == (51850, 51866)``.
    """
    if rate <= 0:
        raise ValueError("rate must be > 0")
    centre = round(k / rate)
    width = int(np.ceil(1.0 / rate)) + 2
    n = np.arange(max(0, centre - 2 * width), centre + 2 * width + 1)
    hit = n[(n * rate).astype(np.int64) == k]
    if hit.size == 0:
        raise ValueError(f"no pool size gives int(n * {rate}) == {k}")
    return int(hit[0]), int(hit[-1])


def select_cherry(scores: pd.DataFrame, rate: float, *, official_json: bool = False, key: str = "ifd_loss",
                  number: int | None = None) -> np.ndarray:
    """Positions (0..N-1) of the cherry samples.

    Default (``data_by_IFD.py``): valid = ``skip == ""`` and ``score <= 1``; ``k = int(#valid * rate)``
    (or ``number``); the k highest scores, ties to the higher index; returned in dataset order; k == 0
    returns all valid rows (the script's ``[-0:]`` slice).
    ``official_json=True`` (``select_from_ifd_json.py``): ``k = int(N * rate)`` with N = all rows;
    candidates ``score <= 1`` among ``skip == ""``; the first k by descending score, ties to the lower
    index; returned in score order.
    """
    s, ok = _scores_and_ok(scores, key)
    with np.errstate(invalid="ignore"):
        cand = np.flatnonzero(ok & (s <= 1.0))
    cs = s[cand]
    if official_json:
        k = n_select(len(s), rate, number)
        # stable descending sort = ascending on -score, then ascending index
        order = np.lexsort((cand, -cs))
        return cand[order[:k]].astype(np.int64)
    k = n_select(len(cand), rate, number)
    order = np.lexsort((cand, cs))  # tuple sort of (score, index), ascending
    kept = cand[order[-k:]] if k > 0 else cand[order]  # [-0:] keeps everything
    return np.sort(kept).astype(np.int64)


def cluster_sample(labels, confidences, n: int = 10, low: float = 25, up: float = 75) -> np.ndarray:
    """Middle-confidence sampler of data_by_cluster.py: positions, concatenated in cluster order."""
    labels = np.asarray(labels)
    conf = np.asarray(confidences, dtype=np.float64)
    if labels.ndim != 1 or labels.shape != conf.shape:
        raise ValueError("labels and confidences must be 1-D and of equal length")
    if n < 1:
        raise ValueError("n must be >= 1")
    n_clusters = len(np.unique(labels))
    order = np.argsort(labels, kind="stable")  # grouped by label, dataset order inside a group
    sorted_labels = labels[order]
    ids = np.arange(n_clusters)
    starts = np.searchsorted(sorted_labels, ids, side="left")
    ends = np.searchsorted(sorted_labels, ids, side="right")
    picks = []
    for c in range(n_clusters):  # one iteration per cluster, vectorised inside
        members = order[starts[c]:ends[c]]
        if len(members) < n:
            picks.append(members)
            continue
        cc = conf[members]
        lo, hi = np.percentile(cc, [low, up])
        band = members[(cc >= lo) & (cc <= hi)]
        if len(band) >= n:
            band = band[::len(band) // n][:n]
        picks.append(band)
    if not picks:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate(picks).astype(np.int64)

