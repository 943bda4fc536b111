"""Pairwise LLM-judge bookkeeping of the Cherry LLM evaluation, vectorised.

The official pipeline (``tianyi-lab/Cherry_LLM`` HEAD 01fac8d, ``evaluation/generation/``):

* ``eval.py`` asks the judge twice per prompt: forward (Answer1 = model 1 shown first) and reverse
  (Answer2 shown first). ``parse_score`` takes the first line of the reply, turns commas into spaces,
  splits on single spaces and needs exactly two floats; otherwise it logs an error and stores
  ``[-1, -1]``. The log keeps ``str(scores)``, e.g. ``"[9.0, 8.5]"``, under ``scores`` /
  ``scores_reverse``; the first number always scores the answer shown first.
* ``review_eval_score.py`` ``eval``-s those strings and takes model 1's scores as ``scores[0]`` and
  ``scores_reverse[1]``. An if/elif chain over (forward, reverse) verdicts counts: win+win, win+tie,
  tie+win -> model-1 win; win+loss, loss+win, tie+tie -> tie; the other three -> loss. That chain is
  exactly ``sign(sign(fwd) + sign(rev))`` of the two score differences, which is what we compute.
  The winning score is ``(W - L) / (W + T + L) + 1``, summed over the test sets first.

Where ours matches / differs:

* An unparsable reply is ``[-1, -1]`` in the log, i.e. a tie in that order (the paper's "unparsed
  replies count as ties"); ``parse_scores`` returns the same ``(-1.0, -1.0)`` for text it cannot read.
  (The shipped review logs contain none.)
* A row whose scores hold NaN satisfies none of the official comparisons and falls through the chain
  uncounted; ``tally`` does the same (``outcome`` raises instead of returning a count).
* Test-set prompts are never needed here; note that the official judge prompt for Self-Instruct
  shows only ``instruction`` (the ``input`` is never passed).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

# the two-order rule, parsing and the winning score live in replib.lm.judge (shared with AlpaGasus)
from ..lm.judge import UNPARSED, outcome, outcomes, parse_scores, slot_means, tally, winning_score

__all__ = [
    "JUDGES",
    "REVIEW_SETS",
    "UNPARSED",
    "outcome",
    "outcomes",
    "parse_scores",
    "review_arrays",
    "slot_means",
    "tally",
    "tally_judge",
    "tally_reviews",
    "winning_score",
]

REVIEW_SETS = ("vicuna", "koala", "wizardlm", "sinstruct", "lima")
"""Test sets in the order of the paper's Fig. 2 (Vicuna, Koala, WizardLM, Self-Instruct, LIMA)."""
JUDGES = ("gpt4", "gpt3.5")


def review_arrays(log: Mapping) -> tuple[np.ndarray, np.ndarray]:
    """(fwd, rev) float arrays (N, 2) from a review log ``{Meta_Info, data: [{scores, scores_reverse}]}``."""
    rows = log["data"]
    fwd = np.array([parse_scores(r.get("scores")) for r in rows], dtype=np.float64).reshape(-1, 2)
    rev = np.array([parse_scores(r.get("scores_reverse")) for r in rows], dtype=np.float64).reshape(-1, 2)
    return fwd, rev


def tally_reviews(log: Mapping) -> dict:
    """W/T/L, N and winning score of one review log (Answer1 = model 1, the cherry model in the repo)."""
    fwd, rev = review_arrays(log)
    out: dict = tally(fwd, rev)
    out["N"] = len(fwd)
    out["unparsed"] = int(((fwd == UNPARSED).all(1) | (rev == UNPARSED).all(1)).sum())
    out["winning_score"] = winning_score(out["W"], out["T"], out["L"]) if len(fwd) else float("nan")
    return out


def tally_judge(judge: str = "gpt4", sets: Sequence[str] = REVIEW_SETS, logs: Mapping | None = None) -> pd.DataFrame:
    """One row per test set plus ``overall`` (counts summed first, as ``cal_rate``), for one judge.

    ``logs`` maps set name -> review log; by default they are loaded with
    ``replib.assets.load_dataset(f"cherry-reviews/{set}-{judge}")``. Columns: W, T, L, N, unparsed,
    winning_score, slot1_mean, slot2_mean.
    """
    if logs is None:
        from replib.assets import load_dataset

        logs = {s: load_dataset(f"cherry-reviews/{s}-{judge}") for s in sets}
    recs, all_f, all_r = [], [], []
    for s in sets:
        fwd, rev = review_arrays(logs[s])
        t = tally_reviews(logs[s])
        t["slot1_mean"], t["slot2_mean"] = slot_means(fwd, rev)
        recs.append({"set": s, **t})
        all_f.append(fwd)
        all_r.append(rev)
    df = pd.DataFrame(recs).set_index("set")
    tot = df[["W", "T", "L", "N", "unparsed"]].sum()
    s1, s2 = slot_means(np.concatenate(all_f), np.concatenate(all_r))
    df.loc["overall"] = {**tot.to_dict(), "winning_score": winning_score(tot["W"], tot["T"], tot["L"]),
                         "slot1_mean": s1, "slot2_mean": s2}
    for c in ("W", "T", "L", "N", "unparsed"):
        df[c] = df[c].astype(int)
    return df
