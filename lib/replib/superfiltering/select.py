"""Superfiltering's IFD selection rules (official ``tianyi-lab/Superfiltering``, HEAD f0764af), vectorised.

Both functions take the per-sample ``ifd_ppl`` scores in dataset order (numpy array, list or pandas
Series; a Series is read *positionally*, its index is ignored) and return **positions** 0..N-1 as an
int64 array.

``select_top_ifd`` = ``code_ifd/select_data.py``
    The script keeps the records whose ``ifd_ppl`` is an ``int``/``float`` and strictly below
    ``--filter_threash`` (default 1): NaN fails ``<`` and drops, ``None``/strings fail the type test and
    drop, a score of exactly 1.0 drops. It then sorts the survivors with ``sorted(..., reverse=True)``
    (Python's sort is stable also in reverse mode: equal scores keep dataset order, so the *lower*
    index comes first) and writes the first ``sample_num`` records **in that descending-score order**.
    ``sample_num = int(52002 * sample_rate)``: the pool size of Alpaca is hard-coded, the line that would
    use ``len(json_data)`` is commented out. We expose the constant as :data:`OFFICIAL_K_BASE`; the
    faithful setting is ``k_base=OFFICIAL_K_BASE``, our default ``k_base=None`` uses the pool size (which
    equals the official one on Alpaca / Alpaca-GPT4 with 52,002 rows and differs on any other pool, e.g.
    WizardLM-70k). ``k`` is computed with Python float arithmetic as the script does
    (``int(52002 * 0.05) == 2600``). When fewer than ``k`` samples pass the filter, all of them are kept.

``ifd_prefilter`` = ``code_diversity_fla/do_fla.py``'s ``do_ifd`` (step 1 of Superfiltering.D)
    * ``--ifd_lupper`` (``upper``, default 1.0): if non-zero keep numeric scores ``< upper`` (NaN drops);
      if zero keep every record, NaN included.
    * ``--ifd_num`` (``ifd_num``; the shipped script passes 10400 = 20% of Alpaca): if non-zero, the
      first ``ifd_num`` records of a stable descending sort whose key is ``(0, 0)`` for NaN and
      ``(1, score)`` otherwise, i.e. NaN ranks below every number (even a negative one) and keeps
      dataset order; output in that order. If zero, the records with score ``> lower``
      (``--ifd_lower``, default 0.9) in **dataset order** (no sort).

    Differences from the script: a negative ``ifd_num`` raises (Python's ``[:-n]`` would silently drop
    the last n records); with ``upper == 0`` a ``None`` score is treated as NaN (the script's
    ``math.isnan(None)`` raises TypeError).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["OFFICIAL_K_BASE", "as_scores", "ifd_prefilter", "select_top_ifd"]

OFFICIAL_K_BASE = 52002
"""``select_data.py`` computes ``sample_num = int(52002 * sample_rate)``: Alpaca's size, hard-coded."""


def as_scores(ifd_ppl) -> np.ndarray:
    """Scores as a float64 array in positional order; anything non-numeric (None, strings) becomes NaN.

    Booleans count as numbers (``True == 1``), as ``isinstance(True, int)`` in the official filter.
    """
    if hasattr(ifd_ppl, "to_numpy"):  # pandas Series / Index: positional values, ignore the index
        ifd_ppl = ifd_ppl.to_numpy()
    raw = np.asarray(ifd_ppl)
    if raw.dtype.kind in "biuf":
        arr = raw.astype(np.float64)
    else:  # object / string content (None, "0.5", ...): numbers kept, everything else NaN
        import pandas as pd

        obj = raw.astype(object).ravel()
        arr = pd.to_numeric(pd.Series(obj), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan).copy()
        is_str = np.fromiter((isinstance(v, (str, bytes)) for v in obj), bool, len(obj))
        arr[is_str] = np.nan  # "0.5" is not an int/float for the official isinstance test
        arr = arr.reshape(raw.shape)
    if arr.ndim != 1:
        raise ValueError(f"ifd_ppl must be one-dimensional, got shape {arr.shape}")
    return arr


def _check_rate(rate) -> float:
    ok = not isinstance(rate, bool) and isinstance(rate, numbers.Real) and 0.0 < float(rate) <= 1.0  # NaN fails
    if not ok:
        raise ValueError(f"rate must be a real number in (0, 1], got {rate!r}")
    return float(rate)


def _descending_stable(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``positions`` ordered as ``sorted(..., key=(isnum, value), reverse=True)`` orders them.

    Numbers first by descending value, equal values in input order; NaN last, in input order.
    """
    v = values[positions]
    nan = np.isnan(v)
    num = positions[~nan]
    order = np.argsort(-v[~nan], kind="stable")  # ascending on -v == descending on v, ties stable
    return np.concatenate([num[order], positions[nan]]).astype(np.int64)


def select_top_ifd(ifd_ppl, rate: float, *, k_base: int | None = None, threshold: float = 1.0) -> np.ndarray:
    """Positions of the Superfiltering selection, in descending-IFD order (``select_data.py``).

    Parameters
    ----------
    ifd_ppl : array-like of float
        Per-sample ``exp(L_cond - L_dir)`` in dataset order; NaN / non-numeric entries never qualify.
    rate : float in (0, 1]
        ``--sample_rate``.
    k_base : int or None
        ``k = int(k_base * rate)``. ``None`` (default) uses ``len(ifd_ppl)``; the faithful value is
        :data:`OFFICIAL_K_BASE` (52002, hard-coded in the official script).
    threshold : float
        ``--filter_threash``: candidates are scores strictly below it (default 1.0, so 1.0 drops).

    Returns
    -------
    np.ndarray of int64, at most ``k`` positions, highest score first, ties in dataset order.
    """
    rate = _check_rate(rate)
    s = as_scores(ifd_ppl)
    if k_base is None:
        k_base = len(s)
    if isinstance(k_base, bool) or not isinstance(k_base, numbers.Integral) or k_base < 0:
        raise ValueError(f"k_base must be a non-negative int or None, got {k_base!r}")
    k = int(int(k_base) * rate)  # Python float product, as the script
    if math.isnan(threshold):
        raise ValueError("threshold must not be NaN")
    with np.errstate(invalid="ignore"):
        cand = np.flatnonzero(s < threshold)  # NaN < t is False
    return _descending_stable(s, cand)[:k]


def ifd_prefilter(ifd_ppl, ifd_num: int, *, upper: float = 1.0, lower: float = 0.9) -> np.ndarray:
    """Positions kept by ``do_fla.py``'s ``do_ifd`` (the IFD step before facility location).

    ``upper != 0``: keep scores ``< upper`` (NaN drops); ``upper == 0``: keep all. Then
    ``ifd_num != 0``: the top ``ifd_num`` by descending score (stable; NaN last), in that order;
    ``ifd_num == 0``: the scores ``> lower``, in dataset order.
    """
    if isinstance(ifd_num, bool) or not isinstance(ifd_num, numbers.Integral) or ifd_num < 0:
        raise ValueError(f"ifd_num must be a non-negative int, got {ifd_num!r}")
    s = as_scores(ifd_ppl)
    with np.errstate(invalid="ignore"):
        keep = s < upper if upper != 0 else np.ones(len(s), dtype=bool)
        pos = np.flatnonzero(keep)
        if ifd_num != 0:
            return _descending_stable(s, pos)[: int(ifd_num)]
        return pos[s[pos] > lower].astype(np.int64)
